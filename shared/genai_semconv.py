"""The OpenTelemetry GenAI semantic conventions (semconv 1.41) for the gateway's provider calls:
span names and attributes of the upstream CLIENT span, and the GenAI client metrics.

Attributes: `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model` (the
provider's model id), `gen_ai.response.model` (what the provider says answered),
`gen_ai.usage.input_tokens` / `output_tokens` (and the cache read/write counts),
`gen_ai.response.finish_reasons`, `server.address` / `server.port`, `error.type`.
Metrics: `gen_ai.client.token.usage` ({token}, by `gen_ai.token.type`),
`gen_ai.client.operation.duration` (s) and, for streams, `gen_ai.client.operation.
time_to_first_chunk` (s). Never message content: only the ids, counts and reasons above are
read from a response, with patterns that match the JSON keys, not the text.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

# Adapter method -> gen_ai.operation.name (well-known values; images and audio are
# "generate_content", the method stays in llmproxy.upstream_method).
OPERATION = {"chat": "chat", "embeddings": "embeddings"}
# Catalog operation (usage rows) -> gen_ai.operation.name, for the request span.
REQUEST_OPERATION = {"ChatCompletion": "chat", "Responses": "chat", "embeddings": "embeddings"}
PROVIDER = {"Azure OpenAI": "azure.ai.openai", "Vertex AI": "gcp.vertex_ai",
            "Vertex AI partner": "gcp.vertex_ai"}
# semconv's recommended buckets for gen_ai.client.token.usage and the durations.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)

_FINISH = re.compile(rb'"finish_reason"\s*:\s*"([A-Za-z_]{1,40})"')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')


def operation_name(method: str) -> str:
    return OPERATION.get(method, "generate_content")


def request_operation(operation: str) -> str:
    return REQUEST_OPERATION.get(operation, "generate_content")


def provider_name(adapter: Any) -> str:
    name = getattr(adapter, "name", "")
    return PROVIDER.get(name, name or type(adapter).__name__)


def request_model(prepared: Any) -> str | None:
    """The provider's own model id for a prepared target (Azure: the deployment / model code;
    Vertex: the publisher model id)."""
    code = getattr(prepared, "code", None) or getattr(prepared, "model", None)
    return code if isinstance(code, str) and code else None


def server(prepared: Any) -> tuple[str | None, int | None]:
    """The provider endpoint's host and port, from the prepared target."""
    base = getattr(prepared, "url_base", None)
    kwargs = getattr(prepared, "kwargs", None)
    if base is None and isinstance(kwargs, dict):
        base = kwargs.get("api_base") or (
            f"https://{kwargs.get('vertex_location', 'us-central1')}-aiplatform.googleapis.com")
    if not isinstance(base, str):
        return None, None
    parsed = urlparse(base)
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def start_attributes(adapter: Any, method: str, prepared: Any) -> dict[str, Any]:
    host, port = server(prepared)
    return {k: v for k, v in {
        "gen_ai.operation.name": operation_name(method),
        "gen_ai.provider.name": provider_name(adapter),
        "gen_ai.request.model": request_model(prepared),
        "server.address": host, "server.port": port,
    }.items() if v is not None}


def span_name(attributes: dict[str, Any]) -> str:
    """`{gen_ai.operation.name} {gen_ai.request.model}`, as the conventions name client spans."""
    model = attributes.get("gen_ai.request.model")
    return f"{attributes['gen_ai.operation.name']} {model}" if model else \
        attributes["gen_ai.operation.name"]


class ResponseScan:
    """Finish reasons and the answering model, picked out of response bytes (a whole body or
    stream chunks as they pass) by their JSON keys only."""

    __slots__ = ("finish_reasons", "model", "_tail")

    def __init__(self) -> None:
        self.finish_reasons: list[str] = []
        self.model: str | None = None
        self._tail = b""

    def feed(self, data: bytes) -> None:
        text = self._tail + data            # a key split across two chunks is still found
        if self.model is None:
            found = _MODEL.search(text)
            if found:
                self.model = found.group(1).decode(errors="replace")
        for found in _FINISH.finditer(text):
            if found.end() > len(self._tail):       # not a match seen with the last chunk
                self.finish_reasons.append(found.group(1).decode())
        self._tail = text[-60:]

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.model:
            out["gen_ai.response.model"] = self.model
        if self.finish_reasons:
            out["gen_ai.response.finish_reasons"] = list(dict.fromkeys(self.finish_reasons))
        return out


def usage_attributes(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    out = {"gen_ai.usage.input_tokens": usage.prompt_tokens,
           "gen_ai.usage.output_tokens": usage.completion_tokens}
    if usage.cached_input_tokens:
        out["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
    if usage.cache_write_input_tokens:
        out["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_input_tokens
    return out


class Metrics:
    """The GenAI client instruments on one OpenTelemetry MeterProvider."""

    def __init__(self, provider: Any):
        meter = provider.get_meter("llmproxy")
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS))
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))

    def record(self, attributes: dict[str, Any], seconds: float, usage: Any,
               error: str | None, first_chunk: float | None) -> None:
        common = {k: attributes[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name",
                                              "gen_ai.request.model", "gen_ai.response.model",
                                              "server.address", "server.port")
                  if k in attributes}
        self.duration.record(seconds, {**common, **({"error.type": error} if error else {})})
        if first_chunk is not None:
            self.first_chunk.record(first_chunk, common)
        if usage is not None and not error:
            if usage.prompt_tokens:
                self.tokens.record(usage.prompt_tokens, {**common, "gen_ai.token.type": "input"})
            if usage.completion_tokens:
                self.tokens.record(usage.completion_tokens,
                                   {**common, "gen_ai.token.type": "output"})
