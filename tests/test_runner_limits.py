"""The runner's HTTP protocol has a production server's limits (issue 20 item 12): a request
target over 8 KiB is a 414, a head over 64 KiB a 431 (finished or not: nothing past the limit is
buffered), a head that does not arrive in time closes the connection, and connections past the
cap are answered 503 at once. Over a real socket, against runner/http_protocol.py."""
from __future__ import annotations

import asyncio
import json

import pytest

from runner.http_protocol import MAX_HEAD, MAX_URL, HttpProtocol

from .test_runner_protocol import BODY, _app, _serve, gate  # noqa: F401  (a fixture)


async def _answer(port: int, data: bytes, *, finish: bool = True) -> bytes:
    """Send `data` (a whole request, or the start of one) and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        if finish:
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _error(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


async def test_a_long_request_target_is_414(gate):
    async with _serve(_app(gate), []) as port:
        answer = await _answer(port, b"GET /json?" + b"a" * MAX_URL + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414") and b"connection: close" in answer
        assert _error(answer)["code"] == "uri_too_long"
        ok = await _answer(port, b"GET /json?" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n"
                                                               b"Connection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("finished", [True, False])
async def test_a_large_head_is_431_finished_or_not(gate, finished):
    big = b"X-Big: " + b"v" * (MAX_HEAD + 10) + b"\r\n"
    async with _serve(_app(gate), []) as port:
        answer = await _answer(port, b"GET /json HTTP/1.1\r\nHost: x\r\n" + big
                               + (b"\r\n" if finished else b""))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        assert _error(answer)["code"] == "request_header_fields_too_large"
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        answer = await _answer(port, b"GET /json HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


async def test_a_head_that_does_not_arrive_in_time_closes_the_connection(gate, monkeypatch):
    monkeypatch.setattr(HttpProtocol, "header_timeout", 0.3)
    async with _serve(_app(gate), [], timeout_keep_alive=30) as port:
        silent = await _answer(port, b"")                          # says nothing at all
        assert silent.startswith(b"HTTP/1.1 408")
        half = await _answer(port, b"GET /json HTTP/1.1\r\nHost: x\r\n")   # never finishes
        assert half.startswith(b"HTTP/1.1 408")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")      # 0.6 s: past the timeout
        assert (await asyncio.wait_for(reader.readuntil(BODY), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.5)             # idle between requests: keep-alive's business
        writer.write(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(BODY), 5)).startswith(b"HTTP/1.1 200")
        writer.write(b"GET /json HTTP/1.1\r\n")                       # a later head, stalled
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        writer.close()


async def test_connections_past_the_cap_are_refused_with_503(gate):
    async with _serve(_app(gate), [], limit_concurrency=3) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await asyncio.sleep(0.1)
        refused = await _answer(port, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 503")
        assert _error(refused)["code"] == "too_many_connections"
        for _reader, writer in held[:1]:
            writer.close()
        await asyncio.sleep(0.1)
        ok = await _answer(port, b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")
        for _reader, writer in held[1:]:
            writer.close()
