"""Providers that already speak OpenAI's wire format: Azure OpenAI and any compatible upstream.

Pass-through: the request body is forwarded with only `model` (and, for streams, usage
reporting) adjusted; the response body is relayed byte for byte. Streams are split on SSE event
boundaries only to spot the usage chunk, never decoded and re-encoded. Every operation takes the
same path on the same surface (`embeddings`, `images/generations`, `audio/speech`,
`audio/transcriptions`, `audio/translations`); speech is relayed chunk by chunk with the
provider's content type, and transcription uploads are forwarded as multipart.

Surfaces (catalog `parameters.surface`):
  deployments  {api_base}/openai/deployments/{code}/chat/completions?api-version=...  (Azure)
  v1           {api_base}/openai/v1/chat/completions, model = code                 (Azure v1)
  openai       {api_base}/chat/completions, model = code       (any OpenAI-compatible upstream)
Default: `deployments` when `api_version` is set, else `v1`. A model whose catalog operations
include `Responses` is sent Responses API calls at `{api_base}/openai/v1/responses` (Azure's
only surface for it; `{api_base}/responses` on the openai surface), relayed byte for byte too.

Authentication (catalog `parameters.auth`): `api-key` (Azure's header) or `bearer` with the
`api_key` parameter; or `entra`, with no `api_key` at all: each call carries an Entra ID token for
`token_scope` (default `https://cognitiveservices.azure.com/.default`) from the Function App's
managed identity (or `az login` locally), cached until shortly before it expires.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, AsyncIterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..catalog import ModelDocument, Operation
from ..json_codec import dumps_compact
from ..validation import parse_parameters
from .. import azure_auth
from ..config import Settings
from ..errors import UpstreamError, UpstreamTimeout, from_upstream, upstream_message
from ..policy import current_timeouts
from ..multipart import encode_form
from . import http, relay
from .base import AudioStream, Completion, CompletionStream, Upload, Usage, check_base_url

log = logging.getLogger(__name__)


class OpenAIWireParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_base: str
    api_key: str | None = None
    # Dated versions (2024-10-21, 2025-04-01-preview) or the v1 surface's names; it is put in
    # the query string, so nothing else may pass (`2024-10-21&api-key=X`).
    api_version: str | None = Field(None, pattern=r"^(\d{4}-\d{2}-\d{2}(-preview)?|preview|latest|v1)$")
    surface: Literal["deployments", "v1", "openai"] | None = None
    auth: Literal["api-key", "bearer", "entra"] | None = None
    token_scope: str | None = None


@dataclass(frozen=True)
class Target:
    url_base: str          # everything before the operation path
    query: str             # "?api-version=..." or ""
    model: str             # value put in the body's `model`
    headers: dict[str, str]
    token_scope: str | None = None     # set: add an Entra bearer token for this scope per call
    responses_url: str = ""            # the Responses API: {api_base}/openai/v1/responses


class OpenAIWireAdapter:
    name = "Azure OpenAI"
    operations = frozenset({Operation.CHAT, Operation.RESPONSES, Operation.EMBEDDINGS,
                            Operation.IMAGES, Operation.AUDIO_TTS, Operation.AUDIO_STT})
    # The HTTP client bounds every request and read by the router's timeouts (http.post), and
    # an Entra token fetch is bounded here (`_entra_token`).
    enforces_timeouts = True

    def __init__(self, settings: Settings):
        self._settings = settings

    def prepare(self, doc: ModelDocument, params: dict[str, Any]) -> Target:
        p = parse_parameters(OpenAIWireParams, params)
        check_base_url(p.api_base)
        base = p.api_base.rstrip("/")
        surface = p.surface or ("deployments" if p.api_version else "v1")
        if surface == "deployments":
            if not p.api_version:
                raise ValueError("parameters.api_version is required for the deployments surface")
            url_base, query = f"{base}/openai/deployments/{doc.code}", f"?api-version={p.api_version}"
        elif surface == "v1":
            url_base, query = f"{base}/openai/v1", ""
        else:
            url_base, query = base, (f"?api-version={p.api_version}" if p.api_version else "")
        headers = {"Content-Type": "application/json"}
        # Azure serves the Responses API on its v1 surface only, whatever surface chat uses.
        responses_url = (f"{base}/responses" if surface == "openai"
                         else f"{base}/openai/v1/responses")
        if p.auth == "entra" or p.token_scope:
            if p.auth != "entra":
                raise ValueError("parameters.token_scope is only used with auth 'entra'")
            if p.api_key:
                raise ValueError("parameters.api_key must be left out with auth 'entra' "
                                 "(the managed identity's token replaces it)")
            return Target(url_base, query, doc.code, headers,
                          p.token_scope or azure_auth.COGNITIVE_SERVICES_SCOPE, responses_url)
        if p.api_key:
            auth = p.auth or ("bearer" if surface == "openai" else "api-key")
            if auth == "bearer":
                headers["Authorization"] = f"Bearer {p.api_key}"
            else:
                headers["api-key"] = p.api_key
        return Target(url_base, query, doc.code, headers, responses_url=responses_url)

    async def _post(self, target: Target, path: str, payload: bytes, secrets: tuple[str, ...],
                    headers: dict[str, str] | None = None, url: str | None = None
                    ) -> http.Response:
        url = url or f"{target.url_base}/{path}{target.query}"
        headers = target.headers if headers is None else headers
        if target.token_scope:
            token = await self._entra_token(target.token_scope)
            headers, secrets = {**headers, "Authorization": f"Bearer {token}"}, (*secrets, token)
        resp = await http.post(self._settings, url, payload, headers, self.name)
        if resp.status >= 400:
            raw = await relay.read(resp, self.name)
            raise from_upstream(resp.status, upstream_message(raw),
                                retry_after=resp.headers.get("Retry-After"),
                                provider=self.name, secrets=secrets)
        return resp

    async def _entra_token(self, scope: str) -> str:
        timeouts = current_timeouts.get()
        try:
            if timeouts is None:
                return await azure_auth.bearer_token(scope)
            async with asyncio.timeout(timeouts.total):
                return await azure_auth.bearer_token(scope)
        except TimeoutError:
            raise UpstreamTimeout(f"The gateway's Entra ID token for {self.name} did not "
                                  "arrive in time.") from None
        except azure_auth.TokenUnavailable as exc:
            log.error("no Entra token for %s (%s): %s", self.name, scope, exc.__cause__)
            raise UpstreamError(f"The gateway could not get an Entra ID token for {self.name}: "
                                f"its managed identity (or local az login) did not answer.",
                                code="upstream_auth_failed") from None

    async def chat(self, target: Target, body: dict[str, Any], stream: bool,
                   secrets: tuple[str, ...]) -> Completion | CompletionStream:
        body["model"] = target.model
        client_wants_usage = False
        if stream:
            options = body.get("stream_options") or {}
            client_wants_usage = bool(options.get("include_usage"))
            body["stream_options"] = {**options, "include_usage": True}
        payload = dumps_compact(body)
        resp = await self._post(target, "chat/completions", payload, secrets)
        if not stream:
            raw = await relay.read(resp, self.name)
            return Completion(raw, completion_usage(raw, self.name))
        usage = Usage()
        return CompletionStream(relay_sse(resp, usage, client_wants_usage, self.name), usage,
                                relay.closer(resp))

    async def responses(self, target: Target, body: dict[str, Any], stream: bool,
                        secrets: tuple[str, ...]) -> Completion | CompletionStream:
        """The Responses API, relayed byte for byte (only `model` set to the deployment)."""
        body["model"] = target.model
        resp = await self._post(target, "responses", dumps_compact(body), secrets,
                                url=target.responses_url)
        if not stream:
            raw = await relay.read(resp, self.name)
            return Completion(raw, responses_usage(raw, self.name))
        usage = Usage()
        return CompletionStream(relay_responses_sse(resp, usage, self.name), usage,
                                relay.closer(resp))

    async def _post_json(self, target: Target, path: str, body: dict[str, Any],
                         secrets: tuple[str, ...]) -> tuple[bytes, dict[str, Any]]:
        body["model"] = target.model
        payload = dumps_compact(body)
        raw = await relay.read(await self._post(target, path, payload, secrets), self.name)
        try:
            data = json.loads(raw)
        except ValueError:
            raise UpstreamError(f"{self.name} answered with a body that is not JSON.") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"{self.name} answered with an unexpected JSON body.")
        return raw, data

    async def embeddings(self, target: Target, body: dict[str, Any],
                         secrets: tuple[str, ...]) -> Completion:
        raw, data = await self._post_json(target, "embeddings", body, secrets)
        return Completion(raw, Usage.from_openai(data.get("usage")))

    async def image_generation(self, target: Target, body: dict[str, Any],
                               secrets: tuple[str, ...]) -> Completion:
        raw, data = await self._post_json(target, "images/generations", body, secrets)
        usage = Usage.from_responses(data.get("usage"))      # gpt-image-* reports tokens
        usage.images = len(data.get("data") or [])
        return Completion(raw, usage)

    async def speech(self, target: Target, body: dict[str, Any],
                     secrets: tuple[str, ...]) -> AudioStream:
        body["model"] = target.model
        payload = dumps_compact(body)
        resp = await self._post(target, "audio/speech", payload, secrets)
        content_type = resp.headers.get("Content-Type", "application/octet-stream")
        return AudioStream(relay.relay_bytes(resp, self.name), content_type, Usage(),
                           relay.closer(resp))

    async def transcription(self, target: Target, upload: Upload, fields: dict[str, Any],
                            secrets: tuple[str, ...], translate: bool = False) -> Completion:
        fields = {"model": target.model, **fields}
        form, content_type = encode_form(fields, "file", upload.filename, upload.content,
                                         upload.content_type)
        headers = {**{k: v for k, v in target.headers.items() if k.lower() != "content-type"},
                   "Content-Type": content_type}
        path = "audio/translations" if translate else "audio/transcriptions"
        resp = await self._post(target, path, form, secrets, headers=headers)
        media_type = resp.headers.get("Content-Type", "application/json").split(";")[0]
        raw = await relay.read(resp, self.name)
        if media_type != "application/json":
            return Completion(raw, Usage(), media_type="text/plain")
        try:
            data = json.loads(raw)
        except ValueError:
            raise UpstreamError(f"{self.name} answered with a body that is not JSON.") from None
        return Completion(raw, transcription_usage(data))


_USAGE_KEY = re.compile(rb'"usage"\s*:\s*')
_decode_json_value = json.JSONDecoder().raw_decode


def completion_usage(raw: bytes, provider: str) -> Usage:
    """The `usage` of a whole chat completion without decoding the rest of it (the answer can be
    many kilobytes; only usage is metered). An unescaped `"usage":` can only be an object key,
    never text inside a string, and a completion has no other: the last one is the answer's.
    Anything else decodes the whole body, which must then be a JSON object."""
    at = raw.rfind(b'"usage"')
    found = _USAGE_KEY.match(raw, at) if at > 0 else None
    if found is not None:
        try:
            value, _ = _decode_json_value(raw[found.end():].decode())
            return Usage.from_openai(value)
        except ValueError:
            pass
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(f"{provider} answered with a body that is not a JSON object.")
    return Usage.from_openai(data.get("usage"))


def responses_usage(raw: bytes, provider: str) -> Usage:
    """A Responses object's usage (`input_tokens`/`output_tokens` and their details)."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(f"{provider} answered with a body that is not a JSON object.")
    return Usage.from_responses(data.get("usage"))


def transcription_usage(data: Any) -> Usage:
    """gpt-4o-transcribe reports tokens (`usage.type == "tokens"`), whisper-1 seconds
    (`usage.type == "duration"`, or `duration` in verbose_json)."""
    if not isinstance(data, dict):
        return Usage()
    usage = Usage.from_responses(data.get("usage"))
    reported = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    seconds = reported.get("seconds") or data.get("duration") or 0
    usage.audio_seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return usage


_USAGE_MARKERS = (b'"usage":{', b'"usage": {')


def relay_sse(resp: http.Response, usage: Usage, keep_usage_chunk: bool,
              provider: str) -> AsyncIterator[bytes]:
    """Complete SSE events as they arrive; usage noted; the usage-only chunk dropped if the
    client did not ask for it (we did, to meter the stream)."""
    return relay.relay_events(resp, provider, _USAGE_MARKERS,
                              lambda events: _take_usage(events, usage, keep_usage_chunk))


_FINAL_EVENTS = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def relay_responses_sse(resp: http.Response, usage: Usage,
                        provider: str) -> AsyncIterator[bytes]:
    """A Responses event stream relayed as it arrives; usage read from the final event
    (`response.completed` / `.incomplete` / `.failed` carry the whole response)."""
    return relay.relay_events(resp, provider, _FINAL_EVENTS,
                              lambda events: _final_usage(events, usage))


def _final_usage(events: bytes, usage: Usage) -> None:
    for line in events.split(b"\n"):
        if line.startswith(b"data:") and any(m in line for m in _FINAL_EVENTS):
            try:
                response = json.loads(line[5:]).get("response") or {}
            except (ValueError, AttributeError):
                continue
            usage.update(Usage.from_responses(response.get("usage")))


def _take_usage(events: bytes, usage: Usage, keep_usage_chunk: bool) -> bytes:
    kept = []
    for event in events.split(b"\n\n"):
        if not event:
            continue
        if any(m in event for m in _USAGE_MARKERS):
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        chunk = json.loads(line[5:])
                    except ValueError:
                        continue
                    usage.update(Usage.from_openai(chunk.get("usage")))
                    if not keep_usage_chunk and not chunk.get("choices"):
                        event = b""
        if event:
            kept.append(event + b"\n\n")
    return b"".join(kept)
