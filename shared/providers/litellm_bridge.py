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
import re
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
from .base import Completion, CompletionStream, Usage, check_base_url

log = logging.getLogger(__name__)

# OpenAI chat fields we hand to LiteLLM; any other field is refused with a 400, not dropped.
CHAT_FIELDS = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "response_format", "seed",
    "tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs",
    "reasoning_effort", "stream", "stream_options", "model", "prompt_cache_key",
})
# OpenAI's prompt-cache routing hint: it picks which of OpenAI's machines (and so which cache)
# serves a request and changes nothing in the answer. Vertex has nothing for it to steer (Gemini
# caches repeated prefixes on its own; Claude caches what `cache_control` marks), so it is
# accepted and not sent: clients that always send it (Codex CLI) work on every model.
_HINTS_WITHOUT_EFFECT = ("prompt_cache_key",)

_litellm: Any = None
_import_lock = threading.Lock()


def _import_litellm() -> Any:
    global _litellm
    with _import_lock:
        if _litellm is None:
            # Without this LiteLLM fetches its price map from the internet on import.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            # Some Vertex MaaS paths (Llama, ...) make LiteLLM fetch a tokenizer from the
            # Hugging Face hub mid-request; the gateway connects to its configured providers
            # and webhook targets only, whatever the host's environment says (a host setting
            # HF_HUB_OFFLINE=0 for another app must not turn downloads back on).
            os.environ["HF_HUB_OFFLINE"] = "1"
            started = time.perf_counter()
            import litellm
            litellm.disable_hf_tokenizer_download = True     # its bundled tokenizers instead
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
        _check_service_account(creds)
        kwargs: dict[str, Any] = {"vertex_project": p.vertex_project,
                                  "vertex_location": p.vertex_location,
                                  "vertex_credentials": json.dumps(creds)}
        if p.api_base:
            check_base_url(p.api_base)
            kwargs["api_base"] = p.api_base.rstrip("/")
        return VertexTarget(f"vertex_ai/{doc.code}", kwargs, doc.code)

    async def chat(self, target: VertexTarget, body: dict[str, Any], stream: bool,
                   secrets: tuple[str, ...]) -> Completion | CompletionStream:
        unknown = sorted(set(body) - CHAT_FIELDS)
        if unknown:
            raise InvalidRequest(f"'{unknown[0]}' is not supported for {self.name} models.",
                                 param=unknown[0])
        litellm = await load_litellm()
        call = {k: v for k, v in body.items()
                if k not in ("model", "stream_options", *_HINTS_WITHOUT_EFFECT)}
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


def _check_service_account(creds: dict[str, Any]) -> None:
    """Refuse, when the model is saved, a key Google's library cannot use: at call time the same
    fault would surface as a library traceback."""
    from urllib.parse import urlsplit

    from google.oauth2 import service_account
    token_uri = creds.get("token_uri")
    parts = urlsplit(token_uri) if isinstance(token_uri, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname \
            or any(c.isspace() for c in token_uri):
        raise ValueError("parameters.vertex_credentials.token_uri must be an https URL")
    try:
        service_account.Credentials.from_service_account_info(creds)
    except Exception as exc:        # which one depends on the fault (PEM, missing field, ...)
        raise ValueError("parameters.vertex_credentials is not a usable service-account key "
                         f"({_why_unusable(exc)})") from None


def _why_unusable(exc: Exception) -> str:
    text = str(exc).lower()
    if "pem" in text or "key" in text and "private" in text or "asn" in text:
        return "its private_key is not a valid PEM private key"
    if isinstance(exc, (KeyError, ValueError)) and "missing" in text:
        return "a required field is missing"
    return "it does not load"


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


_LIBRARY_PREFIX = re.compile(r"\b(?:litellm|LiteLLM)\.\w+(?:Error|Exception)?:\s*")
_PROVIDER_PREFIX = re.compile(r"\b\w*(?:Exception|Error)(?:\s+\w*(?:Exception|Error))*\s+-\s+")
_UNSUPPORTED = re.compile(r"does not support parameters: \[([^\]]*)\]")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}\.py\w?\b")


def clean_library_text(text: str) -> str:
    """A library's exception text as a caller may see it: no traceback, no file path, no
    library name or advice meant for LiteLLM users; what the provider said is kept."""
    text = text.split("Traceback (most recent call last)", 1)[0]
    text = _LIBRARY_PREFIX.sub("", text)
    text = _PROVIDER_PREFIX.sub("", text)
    kept = [part for part in re.split(r"(?<=[.!?])\s+|\n+", text)
            if part.strip() and not re.search(r"litellm|drop_params|allowed_openai_params",
                                               part, re.I)]
    text = _PATH.sub("[path]", " ".join(p.strip() for p in kept))
    return re.sub(r"\s+", " ", text).strip()


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _map_error(exc: Exception, provider: str, secrets: tuple[str, ...]) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc)
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or name == "Timeout":
        return UpstreamTimeout(f"{provider} did not answer in time.")
    if name == "UnsupportedParamsError":
        found = _UNSUPPORTED.search(message)
        params = re.findall(r"'([^']+)'", found.group(1)) if found else []
        param = params[0] if params else None
        what = f"'{param}' is" if param else "A parameter of this request is"
        return InvalidRequest(f"{what} not supported for this {provider} model.", param=param,
                              code="unsupported_parameter")
    if any(type(e).__module__.startswith("google.auth") for e in _chain(exc)):
        # The service-account key or its token exchange failed: the model's configuration.
        log.warning("%s credentials failed: %s", provider, sanitize(clean_library_text(message),
                                                                    secrets))
        return GatewayError(f"The {provider} credentials of this model could not be used "
                            "(parameters.vertex_credentials); an administrator must fix the "
                            "model's configuration.", code="upstream_auth_failed")
    message = clean_library_text(message)
    if isinstance(status, int) and status >= 400:
        # LiteLLM keeps the provider's headers in `litellm_response_headers` (chat); its own
        # `response` is often a stand-in without them. Vertex embedding errors carry neither.
        headers = (getattr(exc, "litellm_response_headers", None)
                   or getattr(getattr(exc, "response", None), "headers", None) or {})
        return from_upstream(status, message, retry_after=headers.get("retry-after"),
                             provider=provider, secrets=secrets)
    log.warning("%s call failed: %s", provider, name)
    return UpstreamError(f"{provider} call failed: {sanitize(message, secrets)}")
