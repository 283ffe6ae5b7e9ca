"""The runner's HTTP/1.1 server protocol: ASGI over httptools, for uvicorn's server to run.

uvicorn still owns the sockets, start-up, signals, graceful shutdown and the `date` header; this
is the per-connection part (`uvicorn.Config(http=HttpProtocol)`), in place of uvicorn's own
httptools protocol. Measured with a bare ASGI app, that protocol cost about four times the
instructions per request of parsing the request and writing the answer (132k against 34k):
an `asyncio.Event` and a keep-alive timer armed and cancelled per request, header checks in
several passes, and two writes per response. What it does that matters is kept:

- keep-alive, pipelined requests answered in order, `Connection: close`, HTTP/1.0;
- request bodies handed over as they arrive (reading pauses past 64 KiB unread);
  `Expect: 100-continue` answered when the app first asks for the body;
- `http.disconnect` once the client is gone or the response is complete (streams watch for it);
- the response head held back and sent with the first body bytes: one write per answer (a
  streamed answer's head still leaves by the end of the loop step, however slow its first
  chunk); Content-Length enforced, chunked encoding otherwise; nothing written for HEAD;
- header names and values checked as uvicorn checks them (no CR/LF injection);
- write back-pressure (`pause_writing`) honoured by `send`; an idle connection closed after
  `timeout_keep_alive` seconds (one timer per idle period, not one per request);
- an app that fails before answering gets a 500 and a malformed request a 400, both as OpenAI
  error envelopes; an app that fails mid-answer has its connection closed; WebSocket upgrades
  go to uvicorn's WebSocket protocol.

The limits a production server has (issue 20: a 10 MB header was accepted, ten unfinished
30 MB headers took the process from 344 to 699 MB, and idle or half-sent connections were
never closed):

- a request target longer than `MAX_URL` bytes is a 414, a request head (request line and
  headers) longer than `MAX_HEAD` bytes a 431; both counted as the bytes arrive, so an
  unfinished head is cut off at the limit, not buffered;
- a request head must be complete `header_timeout` seconds after the connection opened (or
  after its first byte, for later requests on a kept-alive connection); else the connection
  is closed (a 408 if nothing else is in flight);
- at most `config.limit_concurrency` connections (the runner sets 1000) are open at once: one
  more is answered 503 and closed at once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse
from collections import deque
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl

log = logging.getLogger("uvicorn.error")

_HEADER_NAME_INVALID = re.compile(b'[\x00-\x1f\x7f()<>@,;:[\\]={} \t\\\\"]')
_HEADER_VALUE_INVALID = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_READ_HIGH_WATER = 64 * 1024
MAX_URL = 8 * 1024                 # nginx's and uvicorn/h11's order of size
MAX_HEAD = 64 * 1024
HEADER_TIMEOUT = 30.0              # seconds for a request head to arrive complete
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_default_head: tuple[list | None, bytes] = (None, b"")    # uvicorn's list, as head lines


def _envelope(message: str, kind: str, code: str) -> bytes:
    """OpenAI's error envelope, as the gateway answers every other failure."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None,
                                 "code": code}}).encode()


_BAD_REQUEST = _envelope("The request is not valid HTTP/1.1.", "invalid_request_error",
                         "invalid_http")
_INTERNAL_ERROR = _envelope("The gateway failed to handle this request.", "api_error",
                            "internal_error")
_URI_TOO_LONG = _envelope(f"The request target is longer than {MAX_URL} bytes.",
                          "invalid_request_error", "uri_too_long")
_HEAD_TOO_LARGE = _envelope(f"The request headers are larger than {MAX_HEAD} bytes.",
                            "invalid_request_error", "request_header_fields_too_large")
_HEAD_TIMEOUT = _envelope("The request headers did not arrive in time.",
                          "invalid_request_error", "request_timeout")
_BUSY = _envelope("The server has too many open connections; try again.",
                  "service_unavailable", "too_many_connections")
_ERROR_500 = [(b"content-type", b"application/json"),
              (b"content-length", b"%d" % len(_INTERNAL_ERROR)), (b"connection", b"close")]


class _LimitExceeded(Exception):
    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body


class HttpProtocol(asyncio.Protocol):
    max_url = MAX_URL
    max_head = MAX_HEAD
    header_timeout = HEADER_TIMEOUT

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None):
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        self.asgi = {"version": config.asgi_version, "spec_version": "2.3"}
        self.root_path: str = config.root_path
        self.keep_alive_timeout: float = config.timeout_keep_alive
        self.parser = httptools.HttpRequestParser(self)
        try:     # answer the first of pipelined requests even when the client closes after them
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:                                 # pragma: no cover
            pass
        self.transport: asyncio.Transport = None               # type: ignore[assignment]
        self.server = self.client = None
        self.scheme = "http"
        self.cycle: Cycle | None = None                        # the request being answered
        self.pipeline: deque[Cycle] = deque()                  # requests waiting their turn
        self.read_paused = False
        self.write_paused = False
        self.writable: asyncio.Future | None = None
        self.idle_since: float | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        # The request being parsed.
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.parsing: Cycle | None = None
        self.in_head = True                # the bytes arriving belong to a request head
        self.head_bytes = 0                # bytes received since the head began (a bound)
        self.head_size = 0                 # the head's header bytes, exactly
        self.head_timer: asyncio.TimerHandle | None = None
        self.limit_concurrency: int | None = getattr(config, "limit_concurrency", None)

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport                             # type: ignore[assignment]
        self.server_state.connections.add(self)
        self.server = get_local_addr(transport)               # type: ignore[arg-type]
        self.client = get_remote_addr(transport)              # type: ignore[arg-type]
        self.scheme = "https" if is_ssl(transport) else "http"  # type: ignore[arg-type]
        limit = self.limit_concurrency
        if limit is not None and len(self.server_state.connections) > limit:
            log.warning("connection refused: %d connections open", limit)
            self._reject(_BUSY, 503)
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.head_timer is not None:
            self.head_timer.cancel()
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.lost()
        self.resume_writing()

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_timer is None:
                self._arm_head_timer()
        try:
            self.parser.feed_data(data)
            # Still in a head past the limit: refused before httptools buffers any more of it.
            # (A head that ended inside this chunk was measured exactly by on_header.)
            if self.in_head and self.head_bytes > self.max_head:
                raise _LimitExceeded(431, _HEAD_TOO_LARGE)
        except httptools.HttpParserUpgrade:
            if self._is_websocket_upgrade():
                self._upgrade_to_websocket()
            else:
                log.warning("Unsupported upgrade request.")
        except _LimitExceeded as exc:
            self._refuse(exc)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _LimitExceeded):      # raised in a callback
                self._refuse(exc.__context__)
                return
            log.warning("Invalid HTTP request received.")
            self._reject(_BAD_REQUEST)

    def _refuse(self, exc: _LimitExceeded) -> None:
        log.warning("request refused with %d: %s", exc.status,
                    json.loads(exc.body)["error"]["message"])
        self._reject(exc.body, exc.status)

    def _arm_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.in_head or self.transport.is_closing():
            return
        if self.head_bytes == 0 and self.cycle is not None:
            return            # kept alive between requests: the keep-alive timer's business
        if self.cycle is None or self.cycle.complete:
            self._reject(_HEAD_TIMEOUT, 408)
        else:
            self.transport.close()

    def eof_received(self) -> None:
        """The client stopped sending: treated as gone (the transport closes, requests in
        flight see `http.disconnect`). A half-close (`nc -N`) and a full close look the same
        here, and noticing a client that left mid-answer at once (a stream's upstream call is
        cancelled, not paid for to the end) matters more than answering half-closed sockets;
        uvicorn does the same."""
        return None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    async def drain(self) -> None:
        if self.writable is None:
            self.writable = self.loop.create_future()
        await self.writable

    def default_head(self) -> bytes:
        """uvicorn's default headers (`date`, once a second) as head lines, joined once."""
        global _default_head
        defaults = self.server_state.default_headers      # a new list when the date changes
        if _default_head[0] is not defaults:
            _default_head = (defaults, b"".join(n + b": " + v + b"\r\n" for n, v in defaults))
        return _default_head[1]

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after the current answer."""
        if self.cycle is None or self.cycle.complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    # -- httptools callbacks -----------------------------------------------------------------
    # No on_message_begin: httptools calls only the callbacks a protocol has, and the state of
    # the next request is reset where the last one's headers are taken.
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.max_url:
            raise _LimitExceeded(414, _URI_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size + len(self.url) > self.max_head:
            raise _LimitExceeded(431, _HEAD_TOO_LARGE)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head, self.head_bytes, self.head_size = False, 0, 0
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        parser = self.parser
        version = parser.get_http_version()
        if parser.should_upgrade() and self._is_websocket_upgrade():
            self.parsing = None
            return                            # data_received hands the socket over
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope = {"type": "http", "asgi": self.asgi, "http_version": version,
                 "server": self.server, "client": self.client, "scheme": self.scheme,
                 "method": parser.get_method().decode("ascii"), "root_path": self.root_path,
                 "path": self.root_path + path,
                 "raw_path": self.root_path.encode("ascii") + raw_path,
                 "query_string": url.query or b"", "headers": self.headers,
                 "state": self.app_state.copy()}
        keep_alive = version != "1.0" and parser.should_keep_alive()
        cycle = self.parsing = Cycle(self, scope, keep_alive, self.expect_continue)
        self.url, self.headers, self.expect_continue = b"", [], False
        if self.cycle is None or self.cycle.complete:
            self._start(cycle)
        else:
            self.pipeline.append(cycle)       # answered when the one before it is complete
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None or cycle.complete:
            return
        cycle.body.append(body)
        cycle.buffered += len(body)
        if cycle.buffered > _READ_HIGH_WATER:
            self._pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        self.in_head = True                # whatever follows is the next request's head
        cycle = self.parsing
        if cycle is None or cycle.complete:
            return
        cycle.more_body = False
        cycle.wake()

    # -- the connection between answers ------------------------------------------------------
    def _start(self, cycle: "Cycle") -> None:
        """Answer `cycle` in a task of its own, known to uvicorn's graceful shutdown (which
        waits for `server_state.tasks`) until the task itself takes it off the set."""
        self.cycle = cycle
        cycle.task = self.loop.create_task(cycle.run(self.app))
        self.server_state.tasks.add(cycle.task)

    def response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._resume_reading()
        if self.pipeline:
            self._start(self.pipeline.popleft())
            return
        self.idle_since = time.monotonic()
        if self.idle_timer is None:
            self.idle_timer = self.loop.call_later(self.keep_alive_timeout, self._idle_check)

    def _idle_check(self) -> None:
        """Close the connection once it has been idle for the keep-alive timeout; a busy or
        recently used one is checked again later."""
        self.idle_timer = None
        if self.transport.is_closing():
            return
        if self.idle_since is None:
            wait = self.keep_alive_timeout
        else:
            wait = self.idle_since + self.keep_alive_timeout - time.monotonic()
            if wait <= 0:
                self.transport.close()
                return
        self.idle_timer = self.loop.call_later(wait, self._idle_check)

    def _pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def _reject(self, body: bytes, status: int = 400) -> None:
        head = [STATUS_LINE[status], self.default_head(), b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()

    def _is_websocket_upgrade(self) -> bool:
        if self.config.ws_protocol_class is None:
            return False
        connection, upgrade = [], None
        for name, value in self.headers:
            if name == b"connection":
                connection = [token.lower().strip() for token in value.split(b",")]
            elif name == b"upgrade":
                upgrade = value.lower()
        return b"upgrade" in connection and upgrade == b"websocket"

    def _upgrade_to_websocket(self) -> None:
        """Replay the request to uvicorn's WebSocket protocol and give it the socket."""
        self.server_state.connections.discard(self)
        method = self.parser.get_method()
        replay = [method, b" ", self.url, b" HTTP/1.1\r\n"]
        for name, value in self.headers:
            replay += [name, b": ", value, b"\r\n"]
        replay.append(b"\r\n")
        protocol = self.config.ws_protocol_class(config=self.config,
                                                 server_state=self.server_state,
                                                 app_state=self.app_state)
        protocol.connection_made(self.transport)
        protocol.data_received(b"".join(replay))
        self.transport.set_protocol(protocol)


class Cycle:
    """One request and its answer: the ASGI `receive` and `send` of one call of the app."""

    __slots__ = ("conn", "scope", "keep_alive", "waiting_for_continue", "body", "buffered",
                 "more_body", "delivered", "disconnected", "started", "complete", "chunked",
                 "left", "head", "waiters", "task")

    def __init__(self, conn: HttpProtocol, scope: dict, keep_alive: bool, expect_continue: bool):
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_for_continue = expect_continue
        self.body: list[bytes] = []
        self.buffered = 0
        self.more_body = True
        self.delivered = False            # the body's last part was handed to the app
        self.disconnected = False
        self.started = False
        self.complete = False
        self.chunked = False
        self.left = 0                     # Content-Length bytes still to send
        self.head: bytes | None = None    # held until the first body bytes
        self.waiters: list[asyncio.Future] | None = None
        self.task: asyncio.Task | None = None

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def lost(self) -> None:
        if not self.complete:
            self.disconnected = True
        self.wake()

    async def run(self, app: Any) -> None:
        try:
            try:
                result = await app(self.scope, self.receive, self.send)
            except BaseException as exc:
                log.error("Exception in ASGI application\n", exc_info=exc)
                if not self.started:
                    await self._send_500()
                else:
                    self.conn.transport.close()
                return
            if result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
                self.conn.transport.close()
            elif not self.started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.conn.transport.close()
        finally:
            self.conn.server_state.tasks.discard(self.task)

    async def _send_500(self) -> None:
        await self.send({"type": "http.response.start", "status": 500, "headers": _ERROR_500})
        await self.send({"type": "http.response.body", "body": _INTERNAL_ERROR})

    async def receive(self) -> dict:
        conn = self.conn
        if self.waiting_for_continue:
            self.waiting_for_continue = False
            if not conn.transport.is_closing():
                conn.transport.write(_CONTINUE)
        # Wait while there is nothing to hand over: no body bytes, the body not yet ended (or
        # already handed over in full), and the client still there with no answer finished.
        while not (self.disconnected or self.complete or self.body
                   or (not self.more_body and not self.delivered)):
            conn._resume_reading()
            waiter = conn.loop.create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(waiter)
            await waiter
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body = self.body
        data = body[0] if len(body) == 1 else (b"".join(body) if body else b"")
        self.body, self.buffered = [], 0
        if self.more_body:
            conn._resume_reading()
        else:
            self.delivered = True         # next: wait for the client to leave or the answer
        return {"type": "http.request", "body": data, "more_body": self.more_body}

    async def send(self, message: dict) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got "
                                   f"'{message['type']}'.")
            self._start(message)
        elif not self.complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got "
                                   f"'{message['type']}'.")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after "
                               "response already completed.")

    def _start(self, message: dict) -> None:
        """The head, held for the first body bytes. Marked started only once it is built: a
        header that cannot be sent fails the call with a clean 500 instead."""
        status = message["status"]
        head = [STATUS_LINE[status], self.conn.default_head()]
        length: int | None = None
        chunked = closing = False
        for name, value in message.get("headers", ()):
            if _HEADER_NAME_INVALID.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if _HEADER_VALUE_INVALID.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and length is None and not chunked:
                length = int(value.decode())
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                chunked, length = True, None
            elif name == b"connection" and b"close" in [t.strip().lower()
                                                         for t in value.split(b",")]:
                self.keep_alive, closing = False, True
            head += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not closing:
            head.append(b"connection: close\r\n")
        if length is None and not chunked and self.scope["method"] != "HEAD" \
                and status not in (204, 304):
            chunked = True
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        self.started = True
        self.waiting_for_continue = False
        self.chunked, self.left = chunked, length or 0
        self.head = b"".join(head)
        if self.scope["method"] == "HEAD" or status in (204, 304):
            self._write(b"")                 # no body will follow: the head goes now
        elif chunked:
            self.conn.loop.call_soon(self._write, b"")   # a slow first chunk keeps no head

    def _body(self, body: bytes, more: bool) -> None:
        if self.scope["method"] == "HEAD":
            self.left = 0
            data = b""
        elif self.chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            if len(body) > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left -= len(body)
            data = body
        self._write(data)
        if not more:
            if self.left != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True
            self.wake()
            conn = self.conn
            if not self.keep_alive:
                conn.transport.close()
            conn.response_complete()

    def _write(self, data: bytes) -> None:
        head = self.head
        if head is not None:
            self.head = None
            data = head + data if data else head
        if data and not self.conn.transport.is_closing():
            self.conn.transport.write(data)
