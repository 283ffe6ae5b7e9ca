"""The pooled HTTP client every pass-through adapter shares.

One `aiohttp.ClientSession` per event loop, created on first use and kept: connections to a
provider are reused across requests instead of paying TCP and TLS setup each time.
"""
from __future__ import annotations

import asyncio

import aiohttp

from ..config import Settings
from ..errors import GatewayError, UpstreamError, UpstreamTimeout
from ..policy import current_timeouts

_sessions: dict[int, aiohttp.ClientSession] = {}


def session(settings: Settings) -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    current = _sessions.get(id(loop))
    if current is None or current.closed:
        connector = aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=settings.request_timeout,
                                        sock_connect=settings.connect_timeout)
        # auto_decompress stays on; we never ask for compressed bodies (no Accept-Encoding
        # beyond identity) so streamed bytes are relayed exactly as received.
        # No cookie jar: a provider's cookies must never carry over to another tenant's call,
        # and parsing Set-Cookie on every response is wasted work on the hot path.
        current = aiohttp.ClientSession(connector=connector, timeout=timeout,
                                        cookie_jar=aiohttp.DummyCookieJar(),
                                        skip_auto_headers=("User-Agent",),
                                        headers={"User-Agent": "llm-proxy",
                                                 "Accept-Encoding": "identity"})
        _sessions[id(loop)] = current
    return current


async def close_all() -> None:
    for sess in list(_sessions.values()):
        await sess.close()
    _sessions.clear()


def call_timeout() -> aiohttp.ClientTimeout | None:
    """This attempt's timeouts as the router set them (None: the session's defaults).
    `sock_read` is the first-byte timeout: the longest the provider may stay silent, before
    its answer starts and between a stream's events."""
    t = current_timeouts.get()
    if t is None:
        return None
    return aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.first_byte)


def transport_error(exc: BaseException, provider: str, *, answering: bool) -> GatewayError:
    """The one mapping of network failures (aiohttp errors, timeouts) to ours. Before the provider
    started answering, a timeout means it did not answer and anything else that it could not be
    reached; once it was answering, the answer broke off."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"{provider} did not finish answering in time." if answering
                               else f"{provider} did not answer in time.")
    if answering:
        return UpstreamError(f"The answer from {provider} broke off: {type(exc).__name__}.",
                             code="upstream_stream_interrupted")
    return UpstreamError(f"Could not reach {provider}: {type(exc).__name__}.",
                         code="upstream_unreachable")
