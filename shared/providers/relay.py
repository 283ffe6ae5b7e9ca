"""A provider's answer passed on to the client as it arrives: read whole, relayed as raw chunks,
or relayed as whole SSE events. The one place where a provider that goes quiet or breaks off
mid-answer becomes the gateway's error.

The HTTP client bounds every read by the attempt's idle (`first_byte`) and total timeouts (see
`http.post`): a read that outlasts them is a 504 (`upstream_timeout`), any other break a 502
(`upstream_stream_interrupted`). In a stream the caller turns that into a final `error` event
(never a normal end), or, before the first event, into a failover.
"""
from __future__ import annotations

from typing import AsyncIterator, Awaitable, Callable

from . import http


def closer(resp: http.Response) -> Callable[[], Awaitable[None]]:
    """A relayed stream's `close`: releases the provider's connection (also when the client
    goes away mid-answer)."""
    async def close() -> None:
        resp.close()
    return close


async def read(resp: http.Response, provider: str) -> bytes:
    """The whole body of an answer that has started."""
    try:
        return await resp.read()
    except (TimeoutError, http.HttpClientError) as exc:
        raise http.transport_error(exc, provider, answering=True) from None


async def relay_bytes(resp: http.Response, provider: str) -> AsyncIterator[bytes]:
    """Yield a binary body as it arrives. A break is raised, not hidden: the client sees a
    truncated response instead of audio that silently ends early."""
    try:
        async for data in resp.iter_chunks():
            yield data
    except (http.HttpClientError, TimeoutError) as exc:
        raise http.transport_error(exc, provider, answering=True) from None
    finally:
        resp.close()


async def relay_events(resp: http.Response, provider: str, markers: tuple[bytes, ...],
                       on_marked: Callable[[bytes], bytes | None]) -> AsyncIterator[bytes]:
    """Yield complete SSE events as they arrive, split on event boundaries only (never decoded
    and re-encoded). Whenever what is ready to go contains one of `markers`, it is handed to
    `on_marked` first (to read usage from it), which returns the events to send instead, or
    None to send them unchanged; nothing is sent when what it returns is empty."""
    buffer = b""
    try:
        async for data in resp.iter_chunks():
            buffer += data
            end = buffer.rfind(b"\n\n")
            if end < 0:
                continue
            ready, buffer = buffer[:end + 2], buffer[end + 2:]
            if any(m in ready for m in markers):
                changed = on_marked(ready)
                if changed is not None:
                    ready = changed
            if ready:
                yield ready
        if buffer.strip():
            yield buffer
    except (http.HttpClientError, TimeoutError) as exc:
        raise http.transport_error(exc, provider, answering=True) from None
    finally:
        resp.close()
