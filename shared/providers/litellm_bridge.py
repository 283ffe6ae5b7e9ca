"""Vertex AI models (Gemini, Claude, Llama, Mistral, DeepSeek, Qwen, Jamba ...) through LiteLLM.

The only module that imports LiteLLM, and only when a model needs it: the import costs seconds
and ~200 MB, which an OpenAI-wire-only gateway never pays. Its arguments are built from the
catalog (model id, project, location, credentials) plus an allow-list of request fields; the
request body is never splatted into the call, and credentials are passed per call, never through
the process environment or files.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from pydantic import BaseModel, ConfigDict

from ..catalog import ModelDocument, Operation
from ..validation import parse_parameters
from ..config import Settings
from ..errors import (GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout,
                      from_upstream, sanitize)
from ..policy import current_timeouts
from . import vertex_imagen
from .base import Completion, CompletionStream, Usage

log = logging.getLogger(__name__)

# OpenAI chat fields we hand to LiteLLM; any other field is refused with a 400, not dropped.
CHAT_FIELDS = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "response_format", "seed",
    "tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs",
    "reasoning_effort", "stream", "stream_options", "model",
})

_litellm: Any = None
_import_lock = threading.Lock()


def _import_litellm() -> Any:
    global _litellm
    with _import_lock:
        if _litellm is None:
            # Without this LiteLLM fetches its price map from the internet on import.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            # Some Vertex MaaS paths make LiteLLM fetch a tokenizer from the Hugging Face hub
            # mid-request; a gateway must never download at request time.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            started = time.perf_counter()
            import litellm
            litellm.telemetry = False
            litellm.suppress_debug_info = True
            litellm.drop_params = False
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                logging.getLogger(name).setLevel(logging.WARNING)
            _litellm = litellm
            log.info("litellm imported in %.1f s", time.perf_counter() - started)
    return _litellm


async def load_litellm() -> Any:
    """Import in a worker thread so the event loop keeps serving while it loads."""
    if _litellm is not None:
        return _litellm
    return await asyncio.to_thread(_import_litellm)


def warm_in_background() -> None:
    if _litellm is None:
        threading.Thread(target=_import_litellm, name="litellm-import", daemon=True).start()


class VertexParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vertex_project: str
    vertex_location: str = "us-central1"
    vertex_credentials: str | dict[str, Any]
    api_base: str | None = None      # a private endpoint or the local provider simulator


@dataclass(frozen=True)
class VertexTarget:
    model: str                 # LiteLLM's name: vertex_ai/{code}
    kwargs: dict[str, Any]
    code: str = ""             # Vertex's own model id


# Vertex speaks neither OpenAI's speech nor its transcription API, and LiteLLM's "vertex_ai"
# speech goes to Cloud Text-to-Speech (another API, another service): no audio operations here.
GEMINI_OPERATIONS = frozenset({Operation.CHAT, Operation.EMBEDDINGS, Operation.IMAGES})
PARTNER_OPERATIONS = frozenset({Operation.CHAT})


class LiteLLMVertexAdapter:
    """Google's own models (`GoogleVertex`: Gemini, text/gemini embeddings, Imagen) get
    GEMINI_OPERATIONS; partner models (Claude, Llama, Mistral, ...) chat only."""

    def __init__(self, settings: Settings, name: str = "Vertex AI",
                 operations: frozenset[Operation] = GEMINI_OPERATIONS):
        self._settings = settings
        self.name = name
        self.operations = operations

    def _timeout(self) -> float:
        """What is left of the call's total timeout (set by the router), else the default."""
        timeouts = current_timeouts.get()
        return timeouts.total if timeouts is not None else self._settings.request_timeout

    async def ready(self) -> None:
        """Import LiteLLM (seconds, once) before the router starts timing the provider."""
        await load_litellm()

    def prepare(self, doc: ModelDocument, params: dict[str, Any]) -> VertexTarget:
        p = parse_parameters(VertexParams, params)
        creds = p.vertex_credentials
        if isinstance(creds, str):
            try:
                creds = json.loads(creds)
            except ValueError:
                raise ValueError("parameters.vertex_credentials is not service-account JSON") from None
        if not isinstance(creds, dict) or "private_key" not in creds:
            raise ValueError("parameters.vertex_credentials is not a service-account key")
        kwargs: dict[str, Any] = {"vertex_project": p.vertex_project,
                                  "vertex_location": p.vertex_location,
                                  "vertex_credentials": json.dumps(creds)}
        if p.api_base:
            kwargs["api_base"] = p.api_base.rstrip("/")
        return VertexTarget(f"vertex_ai/{doc.code}", kwargs, doc.code)

    async def chat(self, target: VertexTarget, body: dict[str, Any], stream: bool,
                   secrets: tuple[str, ...]) -> Completion | CompletionStream:
        unknown = sorted(set(body) - CHAT_FIELDS)
        if unknown:
            raise InvalidRequest(f"'{unknown[0]}' is not supported for {self.name} models.",
                                 param=unknown[0])
        litellm = await load_litellm()
        call = {k: v for k, v in body.items() if k not in ("model", "stream_options")}
        call.update(target.kwargs, model=target.model, timeout=self._timeout())
        client_wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if stream:
            call["stream"] = True
            call["stream_options"] = {"include_usage": True}
        secrets = secrets + (target.kwargs["vertex_credentials"],)
        try:
            response = await litellm.acompletion(**call)
        except Exception as exc:
            raise _map_error(exc, self.name, secrets) from None
        if not stream:
            raw = response.model_dump(exclude_none=True)
            # Usage from LiteLLM's own object: `openai_shape` drops its top-level
            # `cache_creation_input_tokens` (Claude's cache writes), which is priced.
            data = openai_shape(raw)
            return Completion(json.dumps(data).encode(), Usage.from_openai(raw.get("usage")))
        usage = Usage()

        async def close() -> None:
            aclose = getattr(response, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass
        return CompletionStream(_encode_stream(response, usage, client_wants_usage, self.name,
                                               secrets), usage, close)

    async def embeddings(self, target: VertexTarget, body: dict[str, Any],
                         secrets: tuple[str, ...]) -> Completion:
        texts = _embedding_texts(body["input"], self.name)
        if body.get("user") is not None:
            raise InvalidRequest(f"'user' is not supported for {self.name} embeddings.",
                                 param="user")
        litellm = await load_litellm()
        call = dict(target.kwargs, model=target.model, input=texts, timeout=self._timeout())
        if body.get("dimensions") is not None:
            call["dimensions"] = body["dimensions"]
        secrets = secrets + (target.kwargs["vertex_credentials"],)
        try:
            response = await litellm.aembedding(**call)
        except Exception as exc:
            raise _map_error(exc, self.name, secrets) from None
        data = response.model_dump()
        as_base64 = body.get("encoding_format") == "base64"
        items = [{"object": "embedding", "index": i,
                  "embedding": _base64_floats(item["embedding"]) if as_base64
                  else item["embedding"]}
                 for i, item in enumerate(data.get("data") or [])]
        usage = Usage.from_openai(data.get("usage"))
        out = {"object": "list", "data": items, "model": target.code,
               "usage": {"prompt_tokens": usage.prompt_tokens,
                         "total_tokens": usage.prompt_tokens}}
        return Completion(json.dumps(out).encode(), usage)

    async def image_generation(self, target: VertexTarget, body: dict[str, Any],
                               secrets: tuple[str, ...]) -> Completion:
        if body.get("user") is not None:
            raise InvalidRequest(f"'user' is not supported for {self.name} images.",
                                 param="user")
        return await vertex_imagen.generate(self._settings, target.kwargs, target.code, body,
                                            secrets + (target.kwargs["vertex_credentials"],),
                                            self.name)


def _embedding_texts(value: Any, provider: str) -> list[str]:
    """Vertex embeds text only: token-id input (already shape-checked) is refused."""
    if isinstance(value, str):
        return [value]
    if all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidRequest(f"{provider} embedding models take text, not token ids.", param="input")


def _base64_floats(values: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: the vector as little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


async def _encode_stream(response: Any, usage: Usage, keep_usage_chunk: bool, provider: str,
                         secrets: tuple[str, ...]) -> AsyncIterator[bytes]:
    try:
        async for chunk in response:
            raw = chunk.model_dump(exclude_none=True)
            data = openai_shape(raw)
            if data.get("usage"):
                usage.update(Usage.from_openai(raw.get("usage")))
                if not keep_usage_chunk:
                    if not data.get("choices"):
                        continue
                    data.pop("usage", None)
            yield b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    except Exception as exc:      # the caller ends the stream with an `error` event
        raise _map_error(exc, provider, secrets) from None


_TOP = ("id", "object", "created", "model", "choices", "usage", "system_fingerprint",
        "service_tier")
_CHOICE = ("index", "message", "delta", "finish_reason", "logprobs")
_MESSAGE = ("role", "content", "tool_calls", "function_call", "refusal", "annotations", "audio",
            "reasoning_content")
_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
          "completion_tokens_details")


def openai_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Keep OpenAI's fields only: LiteLLM adds its own (provider_specific_fields,
    vertex_ai_grounding_metadata, thinking_blocks ...) that no OpenAI client expects."""
    out = {k: data[k] for k in _TOP if k in data}
    choices = []
    for choice in data.get("choices") or []:
        c = {k: choice[k] for k in _CHOICE if k in choice}
        for part in ("message", "delta"):
            if isinstance(c.get(part), dict):
                c[part] = {k: c[part][k] for k in _MESSAGE if k in c[part]}
        choices.append(c)
    out["choices"] = choices
    if isinstance(data.get("usage"), dict):
        out["usage"] = {k: data["usage"][k] for k in _USAGE if k in data["usage"]}
    return out


def _map_error(exc: Exception, provider: str, secrets: tuple[str, ...]) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or type(exc).__name__ == "Timeout":
        return UpstreamTimeout(f"{provider} did not answer in time.")
    if isinstance(status, int) and status >= 400:
        # LiteLLM keeps the provider's headers in `litellm_response_headers` (chat); its own
        # `response` is often a stand-in without them. Vertex embedding errors carry neither.
        headers = (getattr(exc, "litellm_response_headers", None)
                   or getattr(getattr(exc, "response", None), "headers", None) or {})
        return from_upstream(status, message, retry_after=headers.get("retry-after"),
                             provider=provider, secrets=secrets)
    log.warning("%s call failed: %s", provider, type(exc).__name__)
    return UpstreamError(f"{provider} call failed: {sanitize(message, secrets)}")
