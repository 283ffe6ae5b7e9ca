"""Azure OpenAI data plane, its `/openai/v1` surface, and the plain OpenAI-compatible `/v1` surface.

Every operation is served three ways (the Responses API, `responses`, only the last two):
  /openai/deployments/{deployment}/<op>?api-version=V   (model = deployment)
  /openai/v1/<op> and /v1/<op>                           (model = body/form `model`)
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from . import audio, embeddings, images, openai_chat, openai_responses
from .bodies import json_body
from .errors import AZURE, error_response
from .state import base_url

# An operation gets the request and the model (deployment) name, or None when the
# model has to come from the body, which for multipart only the handler can read.
Operation = Callable[[web.Request, "str | None"], Awaitable[web.StreamResponse]]


def _model(request: web.Request, deployment: str | None) -> str:
    return deployment or str(json_body(request).get("model") or "sim-default")


async def chat(request: web.Request, deployment: str | None) -> web.StreamResponse:
    # With a deployment in the path Azure ignores the body's `model`.
    return await openai_chat.handle(request, json_body(request), _model(request, deployment))


async def responses(request: web.Request, deployment: str | None) -> web.StreamResponse:
    return await openai_responses.handle(request, json_body(request), _model(request, deployment))


async def embed(request: web.Request, deployment: str | None) -> web.StreamResponse:
    return web.json_response(embeddings.openai_embeddings(json_body(request), _model(request, deployment)))


async def generate_images(request: web.Request, deployment: str | None) -> web.StreamResponse:
    body = json_body(request)
    return web.json_response(images.openai_generations(body, _model(request, deployment), base_url(request)))


async def speech(request: web.Request, deployment: str | None) -> web.StreamResponse:
    return await audio.speech(request, json_body(request))


async def transcribe(request: web.Request, deployment: str | None) -> web.StreamResponse:
    data, fields = await audio.read_transcription_form(request)
    return audio.transcription(data, fields, deployment or fields.get("model", ""))


async def translate(request: web.Request, deployment: str | None) -> web.StreamResponse:
    data, fields = await audio.read_transcription_form(request)
    return audio.transcription(data, fields, deployment or fields.get("model", ""), translate=True)


OPERATIONS: dict[str, Operation] = {
    "chat/completions": chat,
    "embeddings": embed,
    "images/generations": generate_images,
    "audio/speech": speech,
    "audio/transcriptions": transcribe,
    "audio/translations": translate,
}


def _deployment_route(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not request.query.get("api-version"):
            # Azure answers 404 (not 400) to a deployment call without api-version.
            return error_response(AZURE, 404, "Resource not found")
        return await operation(request, request.match_info["deployment"])
    return handler


def _v1_route(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await operation(request, None)
    return handler


def add_routes(app: web.Application) -> None:
    for path, operation in OPERATIONS.items():
        app.router.add_post(f"/openai/deployments/{{deployment}}/{path}", _deployment_route(operation))
        app.router.add_post(f"/openai/v1/{path}", _v1_route(operation))
        app.router.add_post(f"/v1/{path}", _v1_route(operation))
    # The Responses API exists only on the v1 surfaces (Azure: /openai/v1/responses).
    app.router.add_post("/openai/v1/responses", _v1_route(responses))
    app.router.add_post("/v1/responses", _v1_route(responses))
