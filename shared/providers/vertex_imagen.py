"""Vertex AI Imagen (`publishers/google/models/imagen-*:predict`), called directly.

Why not LiteLLM: with `api_base` set (a private endpoint, or the local simulator) LiteLLM 1.110.2
treats it as the complete URL and sends no credentials at all. So this module turns the
catalog's service-account key into an access token with google-auth, per model and per call
(never through os.environ or files), and posts `:predict` on the pooled provider client (http.py).

Imagen answers image bytes only (`bytesBase64Encoded`), so the gateway answers `b64_json`; a
caller that explicitly asks for `response_format: "url"` gets a 400 saying so, because the
gateway does not host images and will not invent URLs it cannot serve.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from typing import Any

from ..config import Settings
from ..errors import (InvalidRequest, UpstreamError, from_upstream,
                      upstream_message)
from . import http, relay
from .base import Completion, Usage

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Imagen's aspect ratios, and the OpenAI sizes that map onto them.
_ASPECTS = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16, "4:3": 4 / 3, "3:4": 3 / 4}
_TOLERANCE = 0.03
# OpenAI image fields Imagen has no equivalent for: refused, not dropped.
_UNSUPPORTED = ("quality", "style")

_credentials: dict[str, Any] = {}
_refresh_lock = threading.Lock()     # refreshes run in worker threads; one at a time is plenty


def _aspect_ratio(size: str | None) -> str | None:
    if size in (None, "auto"):
        return None
    width, height = (int(v) for v in size.split("x"))
    for name, ratio in _ASPECTS.items():
        if abs(width / height - ratio) / ratio <= _TOLERANCE:
            return name
    raise InvalidRequest(f"'size' {size} has no Imagen aspect ratio; use a size with ratio "
                         f"{', '.join(_ASPECTS)} (e.g. 1024x1024, 1792x1024, 1024x1792).",
                         param="size")


def predict_body(body: dict[str, Any], provider: str) -> dict[str, Any]:
    """OpenAI's images request as Imagen's `:predict` body; 400 for what Imagen cannot do."""
    for name in _UNSUPPORTED:
        if body.get(name) is not None:
            raise InvalidRequest(f"'{name}' is not supported for {provider} Imagen models.",
                                 param=name)
    if body.get("response_format") == "url":
        raise InvalidRequest(f"{provider} Imagen returns image bytes only and this gateway does "
                             "not host images: ask for response_format 'b64_json'.",
                             param="response_format")
    parameters: dict[str, Any] = {"sampleCount": body.get("n") or 1}
    aspect = _aspect_ratio(body.get("size"))
    if aspect:
        parameters["aspectRatio"] = aspect
    return {"instances": [{"prompt": body["prompt"]}], "parameters": parameters}


def _token_sync(creds_json: str) -> str:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account
    digest = hashlib.sha256(creds_json.encode()).hexdigest()
    with _refresh_lock:
        creds = _credentials.get(digest)
        if creds is None:
            creds = service_account.Credentials.from_service_account_info(
                json.loads(creds_json), scopes=SCOPES)
            _credentials[digest] = creds
        if not creds.valid:
            creds.refresh(Request())
        return creds.token


async def access_token(creds_json: str, provider: str) -> str:
    """A cached OAuth token for this service account, refreshed (in a thread: google-auth's
    transport is blocking) once it expires."""
    digest = hashlib.sha256(creds_json.encode()).hexdigest()
    creds = _credentials.get(digest)
    if creds is not None and creds.valid:
        return creds.token
    try:
        return await asyncio.to_thread(_token_sync, creds_json)
    except Exception as exc:     # google-auth's errors carry the token endpoint's text
        raise UpstreamError(f"{provider} refused the gateway's service-account credentials "
                            f"({type(exc).__name__}); an administrator must fix the model's "
                            "configuration.", code="upstream_auth_failed") from None


def predict_url(kwargs: dict[str, Any], code: str) -> str:
    location = kwargs["vertex_location"]
    base = kwargs.get("api_base") or f"https://{location}-aiplatform.googleapis.com"
    return (f"{base}/v1/projects/{kwargs['vertex_project']}/locations/{location}"
            f"/publishers/google/models/{code}:predict")


def openai_images(data: dict[str, Any]) -> dict[str, Any]:
    images = [{"b64_json": p["bytesBase64Encoded"]}
              for p in data.get("predictions") or [] if p.get("bytesBase64Encoded")]
    return {"created": int(time.time()), "data": images}


async def generate(settings: Settings, kwargs: dict[str, Any], code: str, body: dict[str, Any],
                   secrets: tuple[str, ...], provider: str) -> Completion:
    payload = predict_body(body, provider)
    token = await access_token(kwargs["vertex_credentials"], provider)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    resp = await http.post(settings, predict_url(kwargs, code), json.dumps(payload).encode(),
                           headers, provider)
    raw = await relay.read(resp, provider)
    if resp.status >= 400:
        raise from_upstream(resp.status, upstream_message(raw),
                            retry_after=resp.headers.get("Retry-After"),
                            provider=provider, secrets=secrets + (token,))
    try:
        result = openai_images(json.loads(raw))
    except (ValueError, AttributeError):
        raise UpstreamError(f"{provider} answered with a body that is not Imagen's.") from None
    return Completion(json.dumps(result).encode(), Usage(images=len(result["data"])))
