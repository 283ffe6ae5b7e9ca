"""The provider HTTP client (shared/providers/http_client.py) over real sockets: against the
provider simulator, and against a scripted server that answers byte by byte the way real servers
(and broken ones) do: chunked and close-delimited bodies, keep-alive races, drops, stalls."""
from __future__ import annotations

import asyncio
import gzip
import json

import pytest

from shared.multipart import encode_form, parse_form
from shared.providers.http_client import (ConnectError, ConnectionClosed, HttpClient,
                                          ProtocolError)

CHAT = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
BODY = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "hello"}]}).encode()


def client(**kw) -> HttpClient:
    return HttpClient(connect_timeout=kw.pop("connect_timeout", 5),
                      total_timeout=kw.pop("total_timeout", 10), **kw)


class Scripted:
    """A TCP server whose every connection runs `script(reader, writer, n)`; n counts
    connections. Records each request head it reads with `read_request`."""

    def __init__(self, script):
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> str:
        async def handle(reader, writer):
            self.connections += 1
            try:
                await self.script(self, reader, writer, self.connections)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def read_request(self, reader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


async def test_calls_the_simulator_and_reuses_one_connection(simulator):
    c = client(headers={"User-Agent": "llm-proxy"})
    for _ in range(3):
        resp = await c.request("POST", simulator + CHAT, BODY,
                               {"Content-Type": "application/json", "api-key": "sim-azure-key"})
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("application/json")
        data = json.loads(await resp.read())
        assert data["object"] == "chat.completion" and data["usage"]["prompt_tokens"] > 0
    assert c.idle_connections() == 1
    await c.close()


async def test_simulator_errors_keep_status_and_headers(simulator, sim):
    sim.post("/_sim/faults", json={"status": 429, "retry_after": 7, "count": 1})
    c = client()
    resp = await c.request("POST", simulator + CHAT, BODY, {"api-key": "sim-azure-key"})
    assert resp.status == 429 and resp.headers.get("Retry-After") == "7"
    assert b"error" in await resp.read()
    await c.close()


async def test_stream_chunks_arrive_as_sent(simulator, sim):
    sim.post("/_sim/faults", json={"chunk_interval_ms": 20, "count": 1})
    c = client()
    body = json.dumps({"messages": [{"role": "user", "content": "hi [sim:words=5]"}],
                       "stream": True}).encode()
    resp = await c.request("POST", simulator + CHAT, body, {"api-key": "sim-azure-key"})
    reads = [chunk async for chunk in resp.iter_chunks()]
    assert len(reads) >= 5                      # one read per paced event, not one at the end
    assert b"".join(reads).rstrip().endswith(b"data: [DONE]")
    assert c.idle_connections() == 1            # read to the end: back in the pool
    await c.close()


async def test_request_head_carries_host_defaults_and_length():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(ok(b"{}"))
        await writer.drain()
    seen = Scripted(script)
    async with seen as base:
        c = client(headers={"User-Agent": "llm-proxy"})
        resp = await c.request("POST", base + "/path?q=1", b'{"a":1}', {"api-key": "k"})
        assert await resp.read() == b"{}"
        await c.close()
    port = base.rsplit(":", 1)[1].encode()
    head = seen.requests[0]
    assert head.startswith(b"POST /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:" + port + b"\r\n")
    assert b"User-Agent: llm-proxy\r\n" in head and b"api-key: k\r\n" in head
    assert head.endswith(b"Content-Length: 7\r\n\r\n{\"a\":1}")


async def test_chunked_body_then_the_same_connection_again():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await srv.read_request(reader)          # keep-alive: the next request comes here
        writer.write(ok(b"again"))
        await writer.drain()
    seen = Scripted(script)
    async with seen as base:
        c = client()
        assert await (await c.request("POST", base, b"x")).read() == b"hello world"
        assert await (await c.request("POST", base, b"x")).read() == b"again"
        assert seen.connections == 1
        await c.close()


async def test_close_delimited_body_ends_at_eof():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x")
        assert await resp.read() == b"until the end"
        assert c.idle_connections() == 0        # Connection: close is never reused
        assert await (await c.request("POST", base, b"x")).read() == b"until the end"
        await c.close()


async def test_server_closing_an_idle_connection_is_retried_once_on_a_new_one():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        if n == 1:
            writer.write(ok(b"first"))
            await writer.drain()
            # Keep-alive race: the server reads the next request but closes without answering.
            await reader.readuntil(b"\r\n\r\n")
            return
        writer.write(ok(b"second"))
        await writer.drain()
    async with Scripted(script) as base:
        c = client()
        assert await (await c.request("POST", base, b"x")).read() == b"first"
        assert await (await c.request("POST", base, b"x")).read() == b"second"
        await c.close()


async def test_a_fresh_connection_closed_before_an_answer_is_not_resent():
    seen = []

    async def script(srv, reader, writer, n):
        seen.append(await srv.read_request(reader))
    async with Scripted(script) as base:
        c = client()
        with pytest.raises(ConnectionClosed):
            await c.request("POST", base, b"once")
        assert seen == [b"once"]                # the server may have acted on it: no resend
        await c.close()


async def test_connection_dropped_mid_body():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x")
        with pytest.raises(ConnectionClosed):
            await resp.read()
        assert c.idle_connections() == 0
        await c.close()


async def test_read_timeout_before_the_head_and_between_chunks():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        if n == 2:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n")
            await writer.drain()
        await asyncio.sleep(5)
    async with Scripted(script) as base:
        c = client()
        with pytest.raises(TimeoutError):
            await c.request("POST", base, b"x", read_timeout=0.2)
        resp = await c.request("POST", base, b"x", read_timeout=0.2)
        chunks = resp.iter_chunks()
        assert await chunks.__anext__() == b"one"
        with pytest.raises(TimeoutError):
            await chunks.__anext__()
        await c.close()


async def test_each_wait_keeps_its_own_deadline_on_a_reused_connection():
    """One watchdog per connection: a wait with a shorter timeout than the one before still
    times out on time, and a slow but steady answer is not cut by an earlier, later deadline."""
    async def script(srv, reader, writer, n):
        while True:
            await srv.read_request(reader)
            if n == 1 and not getattr(srv, "answered", False):
                srv.answered = True
                writer.write(ok(b"first"))             # answered at once, connection kept
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(6):                          # one chunk every 0.1 s
                await asyncio.sleep(0.1)
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
            await asyncio.sleep(5)                      # then silence
    async with Scripted(script) as base:
        c = client()
        first = await c.request("POST", base, b"x", read_timeout=30)   # arms a 30 s watchdog
        assert await first.read() == b"first" and c.idle_connections() == 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        resp = await c.request("POST", base, b"x", read_timeout=0.5)   # same connection
        with pytest.raises(TimeoutError):
            await resp.read()                # 6 chunks, each within 0.5 s; then 0.5 s silence
        took = loop.time() - started
        # ~1.1 s; cut at the first deadline it would have been ~0.5 s, at the old one ~30 s.
        assert 0.9 < took < 3, took
        await c.close()


async def test_total_timeout_bounds_a_body_that_keeps_trickling():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x", read_timeout=1, total_timeout=0.5)
        with pytest.raises(TimeoutError):
            await resp.read()
        await c.close()


async def test_connect_errors():
    c = client()
    with pytest.raises(ConnectError):
        await c.request("POST", "http://127.0.0.1:9/", b"x")    # nothing listens on port 9
    with pytest.raises(ValueError):
        await c.request("POST", "ftp://127.0.0.1/", b"x")
    await c.close()


async def test_invalid_responses_are_protocol_errors():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        if n == 1:
            writer.write(b"SMTP ready\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
    async with Scripted(script) as base:
        c = client()
        with pytest.raises(ProtocolError):
            await c.request("POST", base, b"x")
        with pytest.raises(ProtocolError, match="too large"):
            await c.request("POST", base, b"x")
        await c.close()


async def test_gzip_answers_are_decoded_and_interim_answers_skipped():
    packed = gzip.compress(b'{"usage": {"prompt_tokens": 3}}')

    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" +
                     ok(packed, b"Content-Encoding: gzip\r\n"))
        await writer.drain()
        await asyncio.sleep(0.5)
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x")
        assert resp.status == 200
        assert json.loads(await resp.read()) == {"usage": {"prompt_tokens": 3}}
        await c.close()


async def test_large_bodies_pause_reading_and_arrive_whole():
    big = bytes(range(256)) * 8192                        # 2 MiB

    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(ok(big))
        await writer.drain()
        await asyncio.sleep(2)
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x")
        parts = []
        async for chunk in resp.iter_chunks():
            parts.append(chunk)
            assert len(chunk) <= 512 * 1024          # reading paused past 256 KiB unread
            await asyncio.sleep(0.01)
        assert b"".join(parts) == big and len(parts) > 1
        await c.close()


async def test_an_abandoned_response_closes_its_connection():
    async def script(srv, reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n")
        await writer.drain()
        await asyncio.sleep(1)
    async with Scripted(script) as base:
        c = client()
        resp = await c.request("POST", base, b"x")
        resp.close()
        assert c.idle_connections() == 0
        resp2 = await c.request("POST", base, b"x")
        resp2.close()
        await c.close()


async def test_connections_per_host_are_capped():
    active = 0
    most = 0

    async def script(srv, reader, writer, n):
        nonlocal active, most
        while True:
            await srv.read_request(reader)
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.05)
            active -= 1
            writer.write(ok(b"{}"))
            await writer.drain()
    async with Scripted(script) as base:
        c = client(max_connections=3)

        async def one():
            return await (await c.request("POST", base, b"x")).read()
        assert await asyncio.gather(*(one() for _ in range(12))) == [b"{}"] * 12
        assert most <= 3
        await c.close()


async def test_header_injection_is_refused():
    c = client()
    with pytest.raises(ValueError):
        await c.request("POST", "http://127.0.0.1:9/", b"x", {"api-key": "k\r\nX-Evil: 1"})
    await c.close()


def test_multipart_encoding_round_trips_and_quotes_filenames():
    body, content_type = encode_form({"model": "whisper-1", "timestamp_granularities[]":
                                      ["word", "segment"]}, "file",
                                     'evil".wav\r\nX-Injected: 1', b"RIFF....", "audio/wav")
    form = parse_form(body, content_type)
    assert form.fields == {"model": ["whisper-1"],
                           "timestamp_granularities[]": ["word", "segment"]}
    upload = form.files["file"]
    assert upload.content == b"RIFF...." and upload.content_type == "audio/wav"
    assert upload.filename == "evil%22.wav%0D%0AX-Injected: 1"


async def test_a_misconfigured_header_is_a_model_error_without_the_value():
    from shared.config import Settings
    from shared.errors import GatewayError
    from shared.providers import http
    settings = Settings.from_env({"LLMPROXY_KEY_PEPPER": "p"})
    with pytest.raises(GatewayError) as info:
        await http.post(settings, "http://127.0.0.1:9/", b"x",
                        {"api-key": "sk-secret\r\nX-Evil: 1"}, "Azure OpenAI")
    assert info.value.code == "model_misconfigured" and info.value.status == 500
    assert "sk-secret" not in info.value.message
    await http.close_all()
