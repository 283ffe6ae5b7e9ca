"""The local runner's HTTP protocol (runner/http_protocol.py) over a real socket: a response's
head leaves together with its body (or a stream's first chunk) in one write; a stream whose
first chunk is slow still gets its head at once; HEAD answers, empty bodies, 100 Continue and
closing connections still go out whole and in order; pipelined requests are answered in
order; bodies arrive whole however they are sent; a client that leaves is seen as
`http.disconnect`; idle connections close after the keep-alive timeout, busy ones do not;
malformed requests get a 400 and failing apps a 500."""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest
import uvicorn
from starlette.responses import Response, StreamingResponse

from runner.http_protocol import HttpProtocol

BODY = b'{"ok": true}'


class _Spy:
    """The real transport, recording what is written to it."""

    def __init__(self, transport, writes: list[bytes]):
        self._transport, self._writes = transport, writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


@contextlib.asynccontextmanager
async def _serve(app, writes: list[bytes], **options):
    """The app on a real socket behind the runner's protocol; the port. Stopped on exit."""
    class Recording(HttpProtocol):
        def connection_made(self, transport):
            super().connection_made(_Spy(transport, writes))

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=Recording, loop="asyncio", log_level="warning",
                            lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _exchange(port: int, request: bytes, until: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = b""
    while until not in data:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        data += chunk
    writer.close()
    return data


@pytest.fixture
def gate():
    return asyncio.Event()


def _app(gate: asyncio.Event):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/json":
            response = Response(BODY, media_type="application/json")
        elif path == "/empty":
            response = Response(status_code=204)
        elif path == "/upload":
            while (await receive()).get("more_body"):
                pass
            response = Response(BODY, media_type="application/json")
        elif path == "/echo":                 # the body's size and how many parts it came in
            size = parts = 0
            while True:
                message = await receive()
                size, parts = size + len(message["body"]), parts + 1
                if not message["more_body"]:
                    break
            response = Response(b"%d %d" % (size, parts), media_type="text/plain")
        elif path == "/wait-for-leave":       # answers nothing until the client has left
            await receive()
            gate.disconnect = await receive()   # type: ignore[attr-defined]
            gate.set()
            return
        elif path == "/sleep":
            await asyncio.sleep(0.6)
            response = Response(BODY, media_type="application/json")
        elif path == "/bad-header":
            response = Response(BODY, headers={"x-injected": "a\r\nset-cookie: b"})
        elif path == "/fail":
            raise RuntimeError("the app failed")
        elif path == "/silent":
            return
        elif path == "/flood":                # 64 MiB as fast as send() lets it go
            gate.sent = 0                       # type: ignore[attr-defined]
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream")]})
            for _ in range(64):
                await send({"type": "http.response.body", "body": b"x" * 2**20,
                            "more_body": True})
                gate.sent += 1                  # type: ignore[attr-defined]
            await send({"type": "http.response.body", "body": b""})
            gate.set()
            return
        elif path == "/stream":
            async def chunks():
                yield b"first"
                await gate.wait()           # the test releases it once "first" has arrived
                yield b"second"
            response = StreamingResponse(chunks(), media_type="text/plain")
        else:
            async def chunks():
                await gate.wait()           # the test releases it once the head has arrived
                yield b"late"
            response = StreamingResponse(chunks(), media_type="text/plain")
        await response(scope, receive, send)
    return app


async def test_head_and_body_leave_in_one_write(gate):
    writes: list[bytes] = []
    async with _serve(_app(gate), writes) as port:
        data = await _exchange(port, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n", BODY)
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(BODY)
        assert len(writes) == 1 and writes[0] == data


async def test_streamed_response_is_written_as_it_is_produced(gate):
    writes: list[bytes] = []
    async with _serve(_app(gate), writes) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"first\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head
        gate.set()                                  # only now is the second chunk produced
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
        assert b"second" in rest
        writer.close()
        assert writes[0] == head                    # the head went with the first chunk
        assert len(writes) >= 3                     # later chunks each on their own


async def test_a_stream_head_is_not_held_for_a_slow_first_chunk(gate):
    writes: list[bytes] = []
    async with _serve(_app(gate), writes) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")     # before any chunk was produced
        gate.set()
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
        assert b"late" in rest
        writer.close()


@pytest.mark.parametrize("request_line, expect", [
    (b"HEAD /json HTTP/1.1\r\nHost: x\r\n\r\n", b"content-length: 12\r\n"),
    (b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n", b"204 No Content\r\n"),
])
async def test_responses_without_a_body_write_still_arrive(gate, request_line, expect):
    writes: list[bytes] = []
    async with _serve(_app(gate), writes) as port:
        data = await _exchange(port, request_line, b"\r\n\r\n")
        assert expect in data and not data.endswith(BODY)


async def test_continue_then_response_and_connection_close(gate):
    writes: list[bytes] = []
    async with _serve(_app(gate), writes) as port:
        request = (b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   b"Content-Length: 4\r\nConnection: close\r\n\r\n")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"data")
        rest = await asyncio.wait_for(reader.read(), 5)       # until the server closes
        assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(BODY)
        assert b"connection: close" in rest
        writer.close()


async def test_pipelined_requests_are_answered_in_order_on_one_connection(gate):
    async with _serve(_app(gate), []) as port:
        two = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
               b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await _exchange(port, two, BODY)
        first, second = data.split(b"HTTP/1.1 200 OK")[1:]
        assert first.endswith(b"3 1") and second.endswith(BODY)


async def test_bodies_arrive_whole_in_parts_and_past_the_read_limit(gate):
    async with _serve(_app(gate), []) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"hello", b" ", b"world"):
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"11 "), 5)
        assert answer.startswith(b"HTTP/1.1 200")
        big = b"x" * (1024 * 1024)               # far past the 64 KiB the server buffers
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big))
        writer.write(big)
        answer = await asyncio.wait_for(reader.readuntil(b"%d " % len(big)), 10)
        assert b"HTTP/1.1 200" in answer
        writer.close()


async def test_a_client_that_leaves_is_seen_as_disconnect(gate):
    async with _serve(_app(gate), []) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /wait-for-leave HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        assert not gate.is_set()                 # the body is read; receive() now waits
        writer.close()
        await asyncio.wait_for(gate.wait(), 5)
        assert gate.disconnect == {"type": "http.disconnect"}


async def test_idle_connections_close_after_the_keep_alive_timeout_busy_ones_do_not(gate):
    async with _serve(_app(gate), [], timeout_keep_alive=0.3) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")    # 0.6 s: twice the timeout
        answer = await asyncio.wait_for(reader.readuntil(BODY), 5)
        assert answer.startswith(b"HTTP/1.1 200")
        for _ in range(3):                       # reused within the timeout: still open
            await asyncio.sleep(0.15)
            writer.write(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await asyncio.wait_for(reader.readuntil(BODY), 5)).startswith(b"HTTP/1.1 200")
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""     # closed by the server
        assert 0.2 < asyncio.get_running_loop().time() - started < 2
        writer.close()


@pytest.mark.parametrize("request_bytes, status", [
    (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
    (b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", b"500"),
    (b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n", b"500"),
    (b"GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n", b"500"),
])
async def test_malformed_requests_and_failing_apps_get_an_error_and_a_closed_connection(
        gate, request_bytes, status):
    async with _serve(_app(gate), []) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        data = await asyncio.wait_for(reader.read(), 5)        # until the server closes
        assert data.startswith(b"HTTP/1.1 " + status) and b"connection: close" in data
        assert b"set-cookie" not in data
        error = json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]     # OpenAI's envelope
        assert set(error) == {"message", "type", "param", "code"}
        writer.close()


async def test_a_slow_reader_holds_the_app_back_and_one_that_leaves_releases_it(gate):
    async with _serve(_app(gate), []) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
        try:
            writer.write(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await asyncio.sleep(0.5)               # not reading: the socket buffers fill up
            held = gate.sent
            assert held < 32                       # send() waited instead of buffering 64 MiB
            writer.close()                         # the reader leaves
            await asyncio.wait_for(gate.wait(), 5)  # and the app's sends return at once
        finally:
            writer.close()                         # (also when an assertion failed)
