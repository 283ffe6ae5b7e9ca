"""Request-body helpers: the middleware reads the body once and providers share it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .openai_chat import BadRequest

BODY_KEY = "sim_body"
_INVALID = object()


async def load_body(request: web.Request) -> Any:
    """Parse and cache a JSON body, whatever the Content-Type claims (clients are sloppy
    about it); multipart bodies are left for the handler to stream."""
    if request.content_type.startswith("multipart/"):
        request[BODY_KEY] = None
        return None
    raw = await request.read()
    if not raw:
        request[BODY_KEY] = None
        return None
    try:
        request[BODY_KEY] = json.loads(raw)
    except ValueError:
        request[BODY_KEY] = _INVALID
        return None
    return request[BODY_KEY]


def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or BadRequest (answered with a 400)."""
    body = request.get(BODY_KEY)
    if body is _INVALID:
        raise BadRequest("The request body is not valid JSON.")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body
