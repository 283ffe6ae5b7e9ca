"""uvicorn's httptools protocol, sending a response's head together with its first body bytes.

uvicorn writes a response's head and its body separately, and uvloop sends each write at once:
two system calls and two TCP segments per response, so the client often wakes twice for one
answer. Here a response's head is held back and sent with the first body write: for a response
with a Content-Length, Starlette's `Response` writes the body right after the head, in the same
step. A streamed (chunked) response's head waits at most until the end of the current
event-loop step (the gateway starts a stream only once its first event is in hand, so that
event usually goes with the head); later chunks are written as uvicorn writes them. Whatever is
still held when a response completes or its connection closes is sent first.
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """The connection's transport, holding a response head until its body is written."""

    __slots__ = ("transport", "_protocol", "_head", "_cycle")

    def __init__(self, transport: asyncio.Transport, protocol: "OneWriteHttpToolsProtocol"):
        self.transport = transport
        self._protocol = protocol
        self._head: bytes | None = None
        self._cycle: Any = None          # the request/response cycle whose head was seen

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._is_response_head():
            self._head = data
            if self._protocol.cycle.chunked_encoding:
                # A stream's first chunk may be a while coming: the head leaves by the end of
                # this step either way.
                self._protocol.loop.call_soon(self.flush)
            return
        if data:
            self.transport.write(data)

    def _is_response_head(self) -> bool:
        """True for the first write of a response that will have a body: uvicorn sets
        `response_started` and `chunked_encoding` before writing the head (a 100 Continue is
        written before `response_started`)."""
        cycle = self._protocol.cycle
        if cycle is None or cycle is self._cycle or not cycle.response_started:
            return False
        self._cycle = cycle
        return cycle.chunked_encoding is not None and cycle.scope["method"] != "HEAD"

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self.transport.is_closing():
                self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadWithBody(transport, self))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        writer = self.transport
        if isinstance(writer, _HeadWithBody):
            writer.flush()              # a head whose body never came (an empty body)
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the socket itself: hand it the real transport.
        writer = self.transport
        if isinstance(writer, _HeadWithBody):
            writer.flush()
            self.transport = writer.transport
        super().handle_websocket_upgrade()
