"""A lean HTTP/1.1 client for provider calls: pooled keep-alive connections on asyncio protocols,
responses parsed by httptools (llhttp, the parser Node.js uses).

Why not aiohttp's client: on the pass-through path it was the largest single cost of a request
(about a third of the gateway's CPU under load: request and response objects, timer contexts,
header multidicts, a stream reader per response and two writes per request). This client does
what a provider call needs and no more: one `write` per request (head and body together), headers
decoded only when asked for, body bytes handed over as they arrive.

    client = HttpClient(connect_timeout=10, total_timeout=200, headers={"User-Agent": "llm-proxy"})
    resp = await client.request("POST", url, body, {"Content-Type": "application/json"})
    data = await resp.read()                  # or: async for chunk in resp.iter_chunks()

Errors (the exception hierarchy, drawn once):

    HttpClientError           anything this client raises besides TimeoutError
    +-- ConnectError          the connection could not be opened (DNS, refused, TLS)
    +-- ConnectionClosed      the peer closed or reset the connection before the answer ended
    +-- ProtocolError         the peer's bytes are not a valid HTTP/1.1 response
    TimeoutError              a connect, idle (no byte for `read_timeout`) or total timeout

Connections: reused per (scheme, host, port) while both sides keep them alive, for at most
`keepalive_timeout` seconds idle; a response not read to its end closes its connection (its
state is unknown). A request whose reused connection turns out to be closed by the server
before any answer byte (the keep-alive race every HTTP client meets) is sent once more on a
new connection: the server never read it. Nothing else is retried here; that is the router's.
"""
from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import AsyncIterator, Mapping
from urllib.parse import urlsplit

import httptools

_PAUSE_AT = 256 * 1024               # stop reading the socket while this much body is unread
_MAX_HEADER_BYTES = 64 * 1024        # a provider's headers are a few hundred bytes
_MAX_CONNECTIONS = 1000              # per host; beyond this requests wait for a free one
# len(b"content-length"), len(b"content-encoding"), len(b"transfer-encoding")
_FRAMING_NAME_LENGTHS = frozenset({14, 16, 17})


class HttpClientError(Exception):
    pass


class ConnectError(HttpClientError):
    pass


class ConnectionClosed(HttpClientError):
    pass


class ProtocolError(HttpClientError):
    pass


class Headers(Mapping[str, str]):
    """Response headers by lower-case name (repeated headers joined with ", "), decoded on the
    first lookup: a relayed chat answer never needs them."""

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._raw = raw
        self._map: dict[str, str] | None = None

    def _decoded(self) -> dict[str, str]:
        if self._map is None:
            decoded: dict[str, str] = {}
            for name, value in self._raw:
                key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                decoded[key] = f"{decoded[key]}, {text}" if key in decoded else text
            self._map = decoded
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._decoded()[name.lower()]

    def get(self, name: str, default=None):           # type: ignore[override]
        return self._decoded().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._decoded()

    def __iter__(self):
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: parses the response to the request in flight and wakes the
    reader as bytes arrive. One request at a time (no pipelining)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle = False              # in the pool: any byte now means the server gave it up
        self.idle_since = 0.0
        self.counted = True            # in its pool's count of open connections
        self._waiter: asyncio.Future | None = None
        self._wait_until = 0.0           # when the current wait times out (loop time)
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        # One parser for the connection's life: llhttp reads one response after the other.
        self.parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.headers_done = False
        self.length_known = False      # Content-Length or chunked: else the body ends at EOF
        self.encoded = False           # a Content-Encoding header came
        self.complete = False
        self.keep_alive = False
        self.got_bytes = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.error: HttpClientError | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport                       # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.idle:
            self.closed = True         # e.g. a 408 before the server's own close: never reuse
            self.transport.close()     # type: ignore[union-attr]
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            ours = exc.__cause__ or exc.__context__      # raised by a callback below
            self._fail(ours if isinstance(ours, HttpClientError)
                       else ProtocolError(f"invalid HTTP response ({type(exc).__name__})"))
        self._wake()

    def eof_received(self) -> bool:
        return False                                     # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if not self.complete and self.error is None:
            if self.headers_done and not self.length_known and exc is None:
                self.complete = True                     # a body delimited by closing
            else:
                self.error = ConnectionClosed(
                    "the server closed the connection before the response ended"
                    if exc is None else f"the connection broke ({type(exc).__name__})")
        self._wake()

    # -- httptools callbacks -----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > _MAX_HEADER_BYTES:
            raise ProtocolError("the response headers are too large")
        self.raw_headers.append((name, value))
        if len(name) in _FRAMING_NAME_LENGTHS:           # most headers are none of these
            lowered = name.lower()
            if lowered == b"content-length" or (lowered == b"transfer-encoding"
                                                and b"chunked" in value.lower()):
                self.length_known = True
            elif lowered == b"content-encoding":
                self.encoded = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered >= _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:                     # an interim answer (100 Continue)
            self._reset()
            self.got_bytes = True
            return                                       # the parser goes on to the real one
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    # -- used by HttpClient and Response -----------------------------------------------------
    def _fail(self, error: HttpClientError) -> None:
        if self.error is None and not self.complete:
            self.error = error
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until more of the response arrived, the connection ended, or `timeout` seconds.

        Not a timer per wait (arming and cancelling one cost more than the rest of a wait): the
        connection keeps one watchdog, armed for the earliest deadline it has been asked for.
        When it fires before the current wait's deadline it is armed again for that deadline;
        for a connection back in the pool it stops."""
        loop = self.loop
        waiter = self._waiter = loop.create_future()
        until = self._wait_until = loop.time() + timeout
        if self._watchdog is None or self._watchdog_at > until:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog_at = until
            self._watchdog = loop.call_at(until, self._on_watchdog)
        try:
            await waiter
        finally:
            self._waiter = None

    def _on_watchdog(self) -> None:
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return                                       # nobody waits: stay unarmed
        if self.loop.time() + 0.001 >= self._wait_until:     # the loop's clock ticks in ms
            waiter.set_exception(TimeoutError())
        else:
            self._watchdog_at = self._wait_until
            self._watchdog = self.loop.call_at(self._wait_until, self._on_watchdog)

    def take_chunks(self) -> bytes:
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data


class Response:
    """A response whose head has arrived. Read it with `read()` or `iter_chunks()`; either
    returns the connection to the pool once the body has ended. `close()` gives it up early."""

    def __init__(self, client: "HttpClient", key: tuple, conn: _Connection, deadline: float,
                 read_timeout: float):
        self._client, self._key, self._conn = client, key, conn
        self._deadline, self._read_timeout = deadline, read_timeout
        self.status = conn.status
        self.headers = Headers(conn.raw_headers)
        self._done = False
        self._decoder = _decoder_for(self.headers) if conn.encoded else None

    async def _next(self) -> bytes:
        """The body bytes that arrived since the last call, waiting for some; b"" at the end."""
        conn = self._conn
        while True:
            if conn.chunks:
                data = conn.take_chunks()
                return self._decoder.decompress(data) if self._decoder else data
            if conn.complete:
                self._finish()
                return self._decoder.flush() if self._decoder else b""
            if conn.error is not None:
                self.close()
                raise conn.error
            await conn.wait(self._client._wait_time(self._deadline, self._read_timeout))

    async def read(self) -> bytes:
        parts = []
        try:
            while data := await self._next():
                parts.append(data)
        except BaseException:
            self.close()
            raise
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (whatever one socket read brought, never waiting for more)."""
        try:
            while data := await self._next():
                yield data
        finally:
            self.close()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._client._release(self._key, self._conn)

    def close(self) -> None:
        """Give up the rest of the body; the connection is closed unless the body had ended."""
        if not self._done:
            if self._conn.complete:                      # all of it arrived: reusable
                self._finish()
                return
            self._done = True
            self._client._discard(self._key, self._conn)


def _decoder_for(headers: Headers):
    """We ask for `identity`; a server that compresses anyway is decoded (gzip, deflate)."""
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise ProtocolError(f"the response uses Content-Encoding {encoding!r}, which this client "
                        "does not decode")


class _Pool:
    """Idle connections of one host, newest first, and how many are open in all."""

    def __init__(self) -> None:
        self.idle: deque[_Connection] = deque()
        self.open = 0
        self.waiters: deque[asyncio.Future] = deque()


class HttpClient:
    def __init__(self, *, connect_timeout: float, total_timeout: float,
                 headers: Mapping[str, str] | None = None, keepalive_timeout: float = 60.0,
                 max_connections: int = _MAX_CONNECTIONS,
                 ssl_context: ssl.SSLContext | None = None):
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_connections = max_connections
        self._default_headers = "".join(f"{_checked(k)}: {_checked(v)}\r\n"
                                        for k, v in (headers or {}).items())
        self._ssl = ssl_context
        self._pools: dict[tuple, _Pool] = {}
        self._targets: dict[str, tuple[tuple, str, str]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(self, method: str, url: str, body: bytes = b"",
                      headers: Mapping[str, str] | None = None, *, connect_timeout: float | None = None,
                      read_timeout: float | None = None,
                      total_timeout: float | None = None) -> Response:
        """Send one request; return once the response head has arrived. `read_timeout` bounds
        every silence (before the head and between body bytes), `total_timeout` the whole
        exchange including reading the body."""
        if self._closed:
            raise HttpClientError("the client is closed")
        key, host_header, path = self._target(url)
        head = self._head(method, path, host_header, headers, len(body))
        payload = head + body if body else head
        deadline = time.monotonic() + (total_timeout or self.total_timeout)
        read_timeout = read_timeout or self.total_timeout
        for attempt in (1, 2):
            conn, reused = await self._acquire(key, connect_timeout or self.connect_timeout,
                                               deadline)
            try:
                conn.transport.write(payload)            # type: ignore[union-attr]
                while not conn.headers_done:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait(self._wait_time(deadline, read_timeout))
            except ConnectionClosed:
                self._discard(key, conn)
                if reused and attempt == 1 and not conn.got_bytes:
                    continue                             # the server had closed it: resend
                raise
            except BaseException:
                self._discard(key, conn)
                raise
            return Response(self, key, conn, deadline, read_timeout)
        raise AssertionError("unreachable")

    def _wait_time(self, deadline: float, read_timeout: float) -> float:
        # The monotonic clock, not the loop's: asyncio.get_running_loop() makes a getpid system
        # call each time on Python 3.11, and only durations leave this client.
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError()
        return min(left, read_timeout)

    # -- request head --------------------------------------------------------------------------
    def _target(self, url: str) -> tuple[tuple, str, str]:
        """(pool key, Host header, request target) of a URL, remembered: a catalog has few."""
        known = self._targets.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = port == (443 if parts.scheme == "https" else 80)
        host = parts.hostname
        host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        known = ((parts.scheme, host, port), _checked(host_header), _checked(path))
        if len(self._targets) > 4096:
            self._targets.clear()
        self._targets[url] = known
        return known

    def _head(self, method: str, path: str, host: str, headers: Mapping[str, str] | None,
              length: int) -> bytes:
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n", self._default_headers]
        for name, value in (headers or {}).items():
            lines.append(f"{_checked(name)}: {_checked(value)}\r\n")
        if length or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {length}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    # -- the pool ------------------------------------------------------------------------------
    async def _acquire(self, key: tuple, connect_timeout: float,
                       deadline: float) -> tuple[_Connection, bool]:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool()
        now = time.monotonic()
        while pool.idle:
            conn = pool.idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_timeout \
                    and not conn.transport.is_closing():          # type: ignore[union-attr]
                conn.idle = False
                conn._reset()
                return conn, True
            self._close_conn(pool, conn)
        while pool.open >= self.max_connections:
            waiter = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            try:
                async with asyncio.timeout(self._wait_time(deadline, connect_timeout)):
                    await waiter
            finally:
                if waiter in pool.waiters:
                    pool.waiters.remove(waiter)
            if pool.idle:
                return await self._acquire(key, connect_timeout, deadline)
        pool.open += 1
        try:
            return await self._connect(key, connect_timeout, deadline), False
        except BaseException:
            pool.open -= 1
            self._wake_waiter(pool)
            raise

    async def _connect(self, key: tuple, connect_timeout: float, deadline: float) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            context = self._ssl or _default_ssl_context()
        try:
            async with asyncio.timeout(self._wait_time(deadline, connect_timeout)):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop), host, port, ssl=context,
                    server_hostname=host if context else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"could not connect ({type(exc).__name__})") from None
        return conn

    def _release(self, key: tuple, conn: _Connection) -> None:
        pool = self._pools.get(key)
        if pool is None or self._closed or conn.closed or not conn.keep_alive:
            self._discard(key, conn)
            return
        conn.idle, conn.idle_since = True, time.monotonic()
        pool.idle.append(conn)
        self._wake_waiter(pool)

    def _discard(self, key: tuple, conn: _Connection) -> None:
        pool = self._pools.get(key)
        if pool is not None:
            self._close_conn(pool, conn)
            self._wake_waiter(pool)
        elif conn.transport is not None:
            conn.transport.close()

    def _close_conn(self, pool: _Pool, conn: _Connection) -> None:
        if conn.transport is not None:
            conn.transport.close()
        if conn.counted:
            conn.counted = False
            pool.open -= 1

    def _wake_waiter(self, pool: _Pool) -> None:
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def idle_connections(self) -> int:
        return sum(len(p.idle) for p in self._pools.values())

    async def close(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            while pool.idle:
                self._close_conn(pool, pool.idle.pop())
        self._pools.clear()


_ssl_context: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, verified hostnames: made once (loading it takes milliseconds)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


def _checked(text: str) -> str:
    """A header name, value or request target must not end the line it is on."""
    if "\r" in text or "\n" in text:
        raise ValueError("a header or URL contains a line break")
    return text
