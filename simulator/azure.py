"""Azure OpenAI data plane, its `/openai/v1` surface, and the plain OpenAI-compatible `/v1` surface."""

from __future__ import annotations

from aiohttp import web

from . import openai_chat
from .errors import AZURE, error_response
from .bodies import json_body

routes = web.RouteTableDef()


def needs_api_version(request: web.Request) -> web.Response | None:
    """Azure answers 404 (not 400) to a deployment call without `api-version`."""
    if not request.query.get("api-version"):
        return error_response(AZURE, 404, "Resource not found")
    return None


@routes.post("/openai/deployments/{deployment}/chat/completions")
async def deployment_chat(request: web.Request) -> web.StreamResponse:
    # The deployment in the path decides the model; Azure ignores the body's `model`.
    return needs_api_version(request) or await openai_chat.handle(
        request, json_body(request), request.match_info["deployment"])


@routes.post("/openai/v1/chat/completions")
@routes.post("/v1/chat/completions")
async def v1_chat(request: web.Request) -> web.StreamResponse:
    body = json_body(request)
    return await openai_chat.handle(request, body, str(body.get("model") or "sim-default"))
