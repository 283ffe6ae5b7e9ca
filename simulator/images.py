"""Image generation: Azure/OpenAI `images/generations` and Vertex Imagen `:predict`.

Every image is a solid-colour PNG whose colour comes from a hash of the prompt.
URL answers point back at this server (`/_sim/images/...`), which regenerates
the same PNG on demand, so nothing has to be stored.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .content import SIMULATED_PREFIX
from .media import colour_for, parse_size, png
from .openai_chat import BadRequest

MAX_IMAGES = 10
_ASPECT_SIZES = {"1:1": (1024, 1024), "9:16": (768, 1408), "16:9": (1408, 768), "3:4": (896, 1280),
                 "4:3": (1280, 896)}


def _count(value: Any, default: int = 1) -> int:
    try:
        return max(1, min(int(value if value is not None else default), MAX_IMAGES))
    except (TypeError, ValueError):
        raise BadRequest("the image count must be an integer") from None


def openai_generations(body: dict[str, Any], model: str, base_url: str) -> dict[str, Any]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("'prompt' is a required property.")
    width, height = parse_size(body.get("size"))
    # gpt-image-* always answers base64; DALL-E answers a URL unless asked for b64_json.
    as_b64 = body.get("response_format") == "b64_json" or model.startswith("gpt-image")
    data = []
    for index in range(_count(body.get("n"))):
        seed = f"{prompt}#{index}"
        item: dict[str, Any] = {"revised_prompt": f"{SIMULATED_PREFIX} {prompt}"}
        if as_b64:
            item["b64_json"] = base64.b64encode(png(width, height, colour_for(seed))).decode()
        else:
            item["url"] = f"{base_url}/_sim/images/image.png?size={width}x{height}&seed={quote(seed)}"
        data.append(item)
    return {"created": int(time.time()), "data": data}


def imagen_predict(body: dict[str, Any]) -> dict[str, Any]:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        raise BadRequest("'instances' must be a non-empty list.")
    prompt = str(instances[0].get("prompt", ""))
    parameters = body.get("parameters") or {}
    width, height = _ASPECT_SIZES.get(parameters.get("aspectRatio", "1:1"), (1024, 1024))
    return {"predictions": [
        {"mimeType": "image/png",
         "bytesBase64Encoded": base64.b64encode(png(width, height, colour_for(f"{prompt}#{i}"))).decode()}
        for i in range(_count(parameters.get("sampleCount")))
    ]}


async def serve_image(request: web.Request) -> web.Response:
    """`GET /_sim/images/image.png?size=WxH&seed=...`: the image an URL answer points at."""
    width, height = parse_size(request.query.get("size"))
    return web.Response(body=png(width, height, colour_for(request.query.get("seed", ""))),
                        content_type="image/png")
