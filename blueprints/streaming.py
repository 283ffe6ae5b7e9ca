"""The streamed response every streaming endpoint answers with: Starlette's `StreamingResponse`,
sending from the task that produced it.

Starlette (for ASGI servers before spec 2.4, as uvicorn is) streams from a second task in an
anyio task group, so that a task waiting for the client's disconnect can cancel it. The head and
first event then leave only on the next turn of the event loop, after the task group is set up:
a fifth of a millisecond before a stream's first token reaches the client. Here the stream is
sent from the calling task at once, and a small watcher task cancels it when the client goes
away, which stops reading from the provider and meters the call as 499.
"""
from __future__ import annotations

import asyncio

from azurefunctions.extensions.http.fastapi import StreamingResponse
from starlette.types import Receive, Scope, Send


class RelayedStream(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        streaming = asyncio.current_task()
        assert streaming is not None
        left = False

        async def watch_for_disconnect() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            if not done:
                left = True
                streaming.cancel()

        done = False
        watcher = asyncio.get_running_loop().create_task(watch_for_disconnect())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not left:
                raise                         # cancelled from outside: not ours to absorb
            streaming.uncancel()              # the client left: the stream simply ends
        finally:
            done = True
            watcher.cancel()
        if self.background is not None and not left:
            await self.background()
