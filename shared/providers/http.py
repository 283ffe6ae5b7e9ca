"""The pooled HTTP client every direct provider adapter shares, and the one mapping of its
network failures to the gateway's errors.

One `HttpClient` (http_client.py) per event loop, created on first use and kept: connections to
a provider are reused across requests instead of paying TCP and TLS setup each time.
"""
from __future__ import annotations

import asyncio

from ..config import Settings
from ..errors import GatewayError, UpstreamError, UpstreamTimeout
from ..policy import current_timeouts
from .http_client import HttpClient, HttpClientError, Response

__all__ = ["HttpClient", "HttpClientError", "Response", "client", "close_all", "post",
           "transport_error"]

_clients: dict[int, HttpClient] = {}

# Never ask for compressed bodies: streamed bytes are relayed exactly as received. No cookies
# are kept either: one tenant's provider cookies must never reach another tenant's call.
_HEADERS = {"User-Agent": "llm-proxy", "Accept-Encoding": "identity"}


def client(settings: Settings) -> HttpClient:
    loop = asyncio.get_running_loop()
    current = _clients.get(id(loop))
    if current is None or current.closed:
        current = HttpClient(connect_timeout=settings.connect_timeout,
                             total_timeout=settings.request_timeout, headers=_HEADERS)
        _clients[id(loop)] = current
    return current


async def close_all() -> None:
    for each in list(_clients.values()):
        await each.close()
    _clients.clear()


async def post(settings: Settings, url: str, body: bytes, headers: dict[str, str],
               provider: str) -> Response:
    """POST within this attempt's timeouts as the router set them (else the client's defaults):
    `first_byte` is the longest the provider may stay silent, before its answer starts and
    between a stream's events. Network failures come back as the gateway's errors."""
    t = current_timeouts.get()
    try:
        if t is None:
            return await client(settings).request("POST", url, body, headers)
        return await client(settings).request("POST", url, body, headers,
                                              connect_timeout=t.connect,
                                              read_timeout=t.first_byte, total_timeout=t.total)
    except (TimeoutError, HttpClientError) as exc:
        raise transport_error(exc, provider, answering=False) from None
    except ValueError:
        # A catalog value that cannot go into an HTTP request (a line break or non-Latin-1
        # text in a key or header, a URL that is not http(s)): the deployment's configuration,
        # not the caller's request. The value itself is never repeated.
        raise GatewayError(f"The request to {provider} could not be built: a configured URL "
                           "or credential is not valid in an HTTP request.",
                           code="model_misconfigured") from None


def transport_error(exc: BaseException, provider: str, *, answering: bool) -> GatewayError:
    """The one mapping of network failures (this client's errors, timeouts) to ours. Before the
    provider started answering, a timeout means it did not answer and anything else that it
    could not be reached; once it was answering, the answer broke off."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"{provider} did not finish answering in time." if answering
                               else f"{provider} did not answer in time.")
    if answering:
        return UpstreamError(f"The answer from {provider} broke off: {type(exc).__name__}.",
                             code="upstream_stream_interrupted")
    return UpstreamError(f"Could not reach {provider}: {type(exc).__name__}.",
                         code="upstream_unreachable")
