"""Application factory and the middleware every provider request passes through.

Order for a provider request: log it, 404 unknown paths, check auth, apply any
queued fault, then run the provider handler.  The control plane (`/_sim/`) skips
all of that.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import anthropic, azure, control, images, vertex
from .bodies import load_body
from .errors import AZURE, GOOGLE, OPENAI, error_response
from .faults import Fault, hang_until_disconnect
from .openai_chat import BadRequest
from .state import STATE, SimState, state
from .streaming import FAULT_KEY, StreamCut

DEFAULT_API_KEY = "sim-azure-key"
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "x-goog-api-key", "ocp-apim-subscription-key"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def flavor_of(path: str) -> str:
    """Which provider's conventions (auth, error shape) apply to a path."""
    if path.startswith("/openai/"):
        return AZURE
    if path.startswith(("/v1/projects/", "/v1beta1/projects/")):
        return GOOGLE
    return OPENAI


def redact(name: str, value: str) -> str:
    if name.lower() not in _SECRET_HEADERS:
        return value
    scheme, sep, credential = value.partition(" ")
    if sep and scheme.lower() == "bearer":  # keep the scheme readable, redact the credential
        return f"{scheme} {credential[:4]}…"
    return f"{value[:4]}…"


def _log_entry(request: web.Request, body: Any) -> dict[str, Any]:
    return {
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": {k: redact(k, v) for k, v in request.headers.items()},
        "body": body,
    }


def _authorized(request: web.Request, flavor: str) -> bool:
    sim = state(request)
    if flavor == GOOGLE:
        return sim.vertex_auth.is_valid_bearer(request.headers.get("Authorization"))
    bearer = request.headers.get("Authorization", "")
    return request.headers.get("api-key") == sim.api_key or bearer == f"Bearer {sim.api_key}"


async def _apply_fault(request: web.Request, fault: Fault, flavor: str) -> web.StreamResponse | None:
    """Delay / hang / fail as the fault says; None means "go on and answer normally"."""
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.hang:
        await hang_until_disconnect(request)
        return web.Response(status=499)  # nobody is listening any more
    if fault.status:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        if fault.body is None and _claude_error(request.path, fault.status):
            return anthropic.error_response(fault.status, _CLAUDE_MESSAGES.get(fault.status, "Internal server error"),
                                            headers=headers)
        return error_response(flavor, fault.status, body=fault.body, headers=headers)
    if fault.cut_after_chunks is not None or fault.chunk_interval_ms:
        request[FAULT_KEY] = fault  # the stream writer enforces both
    return None


# Errors Claude itself raises come through Vertex in Anthropic's envelope; Google's front
# (credentials, quota, routing: 401/403/404/429) answers in Google's shape.
_CLAUDE_MESSAGES = {400: "Invalid request", 413: "Request exceeds the maximum allowed number of bytes.",
                    500: "Internal server error", 529: "Overloaded"}


def _claude_error(path: str, status: int) -> bool:
    return "/publishers/anthropic/" in path and status not in (401, 403, 404, 429)


async def _cut_plain_response(request: web.Request, response: web.Response) -> web.StreamResponse:
    """`cut_after_chunks` on a non-streaming answer: send headers and half the body, then abort."""
    body = response.body if isinstance(response.body, bytes) else b""
    partial = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
    partial.content_length = len(body)
    await partial.prepare(request)
    await partial.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return partial


@web.middleware
async def provider_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim/"):
        return await handler(request)

    sim = state(request)
    body = await load_body(request)
    sim.requests.append(_log_entry(request, body))
    flavor = flavor_of(request.path)

    if request.match_info.http_exception is not None:
        exc = request.match_info.http_exception
        return error_response(flavor, exc.status, "Resource not found" if exc.status == 404 else exc.reason)
    if request.path == "/token":  # the OAuth endpoint authenticates by its own assertion
        return await handler(request)
    if not _authorized(request, flavor):
        message = ("Request had invalid authentication credentials. Expected OAuth 2 access token."
                   if flavor == GOOGLE else None)
        return error_response(flavor, 401, message)

    model = body.get("model") if isinstance(body, dict) else None
    fault = sim.faults.take(request.path, str(model) if model is not None else None)
    if fault is not None:
        early = await _apply_fault(request, fault, flavor)
        if early is not None:
            return early

    try:
        response = await handler(request)
    except BadRequest as exc:
        return error_response(flavor, 400, str(exc))
    except StreamCut:
        return web.Response(status=499)  # the connection is gone; aiohttp discards this
    if fault is not None and fault.cut_after_chunks is not None and isinstance(response, web.Response):
        return await _cut_plain_response(request, response)
    return response


def create_app(api_key: str = DEFAULT_API_KEY) -> web.Application:
    app = web.Application(middlewares=[provider_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = SimState(api_key=api_key)
    app.router.add_routes(control.routes)
    azure.add_routes(app)
    app.router.add_get("/_sim/images/image.png", images.serve_image)
    app.router.add_routes(vertex.routes)
    app.router.add_post("/token", lambda request: request.app[STATE].vertex_auth.handle_token(request))
    return app
