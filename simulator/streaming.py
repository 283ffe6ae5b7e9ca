"""Server-sent-event writer with a real flush per event and fault-driven cuts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

# Request key under which the fault middleware leaves the active fault, if any.
FAULT_KEY = "sim_fault"


class StreamCut(Exception):
    """Raised after the connection was aborted on purpose (fault `cut_after_chunks`)."""


class EventStream:
    def __init__(self, request: web.Request) -> None:
        self._request = request
        fault = request.get(FAULT_KEY)
        self._cut_after = fault.cut_after_chunks if fault is not None else None
        self._interval = (fault.chunk_interval_ms / 1000) if fault is not None else 0.0
        self._sent = 0
        self.response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )

    async def start(self) -> "EventStream":
        await self.response.prepare(self._request)
        return self

    async def send(self, data: Any, event: str | None = None) -> None:
        """Write one SSE event; `data` is JSON-encoded unless it is already a str."""
        if self._cut_after is not None and self._sent >= self._cut_after:
            # Abort (RST-like) rather than finish the chunked body, so the client
            # sees a broken stream exactly as with a dropped upstream connection.
            if self._request.transport is not None:
                self._request.transport.abort()
            raise StreamCut()
        if self._interval and self._sent:
            await asyncio.sleep(self._interval)
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        prefix = f"event: {event}\n" if event else ""
        await self.response.write(f"{prefix}data: {payload}\n\n".encode())
        self._sent += 1

    async def finish(self) -> web.StreamResponse:
        await self.response.write_eof()
        return self.response
