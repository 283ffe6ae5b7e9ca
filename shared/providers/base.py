"""What every provider adapter gives the dispatcher, and the results it hands back.

An adapter owns a provider family's wire format; `prepare` turns a catalog entry's resolved
parameters into whatever the adapter needs per call (validated once, when the catalog loads), and
`chat` performs one call. Streaming and non-streaming results both carry a `Usage` the dispatcher
meters; a stream fills its usage as chunks pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from ..catalog import ModelDocument, Operation


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def from_openai(cls, data: Any) -> "Usage":
        if not isinstance(data, dict):
            return cls()
        return cls(int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0))


@dataclass
class Completion:
    """A whole response body, already in OpenAI's format."""
    body: bytes
    usage: Usage
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class CompletionStream:
    """Server-sent events in OpenAI's format, relayed as they arrive.

    `chunks` yields raw SSE bytes; `usage` is complete once `chunks` is exhausted; `close`
    releases the upstream connection (also when the client goes away mid-stream).
    """
    chunks: AsyncIterator[bytes]
    usage: Usage
    close: Callable[[], Awaitable[None]]


class Adapter(Protocol):
    name: str
    operations: frozenset[Operation]

    def prepare(self, doc: ModelDocument, params: dict[str, Any]) -> Any:
        """Validate resolved parameters; raise ValueError naming the bad one."""

    async def chat(self, prepared: Any, body: dict[str, Any], stream: bool,
                   secrets: tuple[str, ...]) -> Completion | CompletionStream: ...


# Fields that would let a request body choose where or as whom a call goes. Refused everywhere.
ROUTING_FIELDS = frozenset({
    "api_base", "base_url", "api_key", "api_version", "api_type", "custom_llm_provider",
    "azure_ad_token", "azure_ad_token_provider", "azure_endpoint", "organization", "deployment_id",
    "vertex_project", "vertex_location", "vertex_credentials", "vertex_ai_project",
    "vertex_ai_location", "aws_access_key_id", "aws_secret_access_key", "aws_region_name",
    "extra_headers", "headers", "extra_body", "extra_query", "timeout", "request_timeout",
    "proxy", "proxies", "litellm_params", "metadata_url", "model_list", "mock_response",
})
