"""Vertex AI routes: Gemini, Anthropic Claude, MaaS OpenAI-compatible chat, Mistral and AI21."""

from __future__ import annotations

from aiohttp import web

from . import anthropic, embeddings, gemini, images, openai_chat
from .errors import GOOGLE, error_response
from .bodies import json_body
from .state import state

routes = web.RouteTableDef()

_LOCATION = "/{version:v1|v1beta1}/projects/{project}/locations/{location}"


@routes.post(_LOCATION + "/endpoints/openapi/chat/completions")
async def maas_chat(request: web.Request) -> web.StreamResponse:
    body = json_body(request)
    return await openai_chat.handle(request, body, str(body.get("model") or "sim-default"))


@routes.post(_LOCATION + "/publishers/{publisher}/models/{model_and_method}")
async def publisher_model(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["model_and_method"].rpartition(":")
    publisher = request.match_info["publisher"]
    body = json_body(request)
    stream = method.startswith("stream")
    if publisher == "google" and method in ("generateContent", "streamGenerateContent"):
        return await gemini.handle(request, body, model, stream)
    if publisher == "anthropic" and model == "count-tokens" and method == "rawPredict":
        return anthropic.count_tokens(body)
    if publisher == "anthropic" and method in ("rawPredict", "streamRawPredict"):
        return await anthropic.handle(request, body, model, stream, state(request).claude_cache)
    if publisher == "google" and method == "predict":
        if model.startswith("imagen"):
            return web.json_response(images.imagen_predict(body))
        if "embedding" in model:
            return web.json_response(embeddings.vertex_predict(body, model))
    if publisher in ("mistralai", "ai21") and method in ("rawPredict", "streamRawPredict"):
        # These partners take OpenAI-style chat bodies; the method, not the body, picks
        # streaming, and like Mistral's own API their streams always end with usage.
        options = {"stream": stream, "stream_options": {"include_usage": True}} if stream else {"stream": False}
        return await openai_chat.handle(request, {**body, **options}, model)
    return error_response(GOOGLE, 404, f"Publisher model `{publisher}/{model}` method `{method}` is not served "
                                       "by the simulator.")
