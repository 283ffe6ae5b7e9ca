"""What every provider adapter gives the dispatcher, and the results it hands back.

An adapter owns a provider family's wire format; `prepare` turns a catalog entry's resolved
parameters into whatever the adapter needs per call (validated once, when the catalog loads), and
one method per operation performs one call. `operations` says which of those methods work: the
admin API refuses a model document that claims any other. Streaming and non-streaming results
carry a `Usage` the dispatcher meters; a stream fills its usage as chunks pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from ..catalog import ModelDocument, Operation


# The token classes inside prompt and completion tokens, as `Usage` fields (and usage row
# columns); `catalog.Costs` prices each. OpenAI's convention, which every adapter follows: the
# classes are *parts* of `prompt_tokens` / `completion_tokens`, never added on top.
INPUT_CLASSES = ("cached_input_tokens", "cache_write_input_tokens", "audio_input_tokens")
OUTPUT_CLASSES = ("reasoning_tokens", "audio_output_tokens")
TOKEN_CLASSES = INPUT_CLASSES + OUTPUT_CLASSES


@dataclass
class Usage:
    """What one call consumed: tokens where the provider reports them (in total, and the parts
    of them priced apart: cache reads and writes, reasoning, audio), and the units that
    non-token operations are priced in (images made, characters spoken, seconds transcribed)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    characters: int = 0
    audio_seconds: float = 0.0
    cached_input_tokens: int = 0         # cache reads (OpenAI cached_tokens, Claude cache reads)
    cache_write_input_tokens: int = 0    # Claude cache writes (cache_creation_input_tokens)
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0

    @classmethod
    def from_openai(cls, data: Any) -> "Usage":
        """OpenAI's `usage` object (chat, embeddings), including the details LiteLLM fills in
        for Vertex models: Claude's cache writes as `cache_creation_input_tokens` (or
        `prompt_tokens_details.cache_creation_tokens`) and reads as `cached_tokens`, Gemini's
        thoughts as `reasoning_tokens`. LiteLLM already adds cache reads and writes into
        `prompt_tokens`, as OpenAI does."""
        if not isinstance(data, dict):
            return cls()
        prompt = _dict(data.get("prompt_tokens_details"))
        completion = _dict(data.get("completion_tokens_details"))
        return cls(
            _int(data.get("prompt_tokens")), _int(data.get("completion_tokens")),
            cached_input_tokens=_int(prompt.get("cached_tokens")
                                     or data.get("cache_read_input_tokens")),
            cache_write_input_tokens=_int(data.get("cache_creation_input_tokens")
                                          or prompt.get("cache_creation_tokens")),
            reasoning_tokens=_int(completion.get("reasoning_tokens")),
            audio_input_tokens=_int(prompt.get("audio_tokens")),
            audio_output_tokens=_int(completion.get("audio_tokens")))

    @classmethod
    def from_responses(cls, data: Any) -> "Usage":
        """The Responses API's, gpt-image's and gpt-4o-transcribe's `usage`: `input_tokens` /
        `output_tokens` with `input_tokens_details` (transcription: `input_token_details`)
        `cached_tokens` / `audio_tokens`, and `output_tokens_details.reasoning_tokens`."""
        if not isinstance(data, dict):
            return cls()
        inputs = _dict(data.get("input_tokens_details") or data.get("input_token_details"))
        outputs = _dict(data.get("output_tokens_details"))
        return cls(_int(data.get("input_tokens")), _int(data.get("output_tokens")),
                   cached_input_tokens=_int(inputs.get("cached_tokens")),
                   reasoning_tokens=_int(outputs.get("reasoning_tokens")),
                   audio_input_tokens=_int(inputs.get("audio_tokens")),
                   audio_output_tokens=_int(outputs.get("audio_tokens")))

    def update(self, found: "Usage") -> None:
        """Take what a stream's usage chunk reported, keeping earlier values it leaves at 0
        (a provider may report input in its first event and output in its last)."""
        for name in ("prompt_tokens", "completion_tokens") + TOKEN_CLASSES:
            value = getattr(found, name)
            if value:
                setattr(self, name, value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


@dataclass
class Completion:
    """A whole response body, already in OpenAI's format."""
    body: bytes
    usage: Usage
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"       # text/plain for text, srt and vtt transcripts


@dataclass
class CompletionStream:
    """Server-sent events in OpenAI's format, relayed as they arrive.

    `chunks` yields raw SSE bytes; `usage` is complete once `chunks` is exhausted; `close`
    releases the upstream connection (also when the client goes away mid-stream).
    """
    chunks: AsyncIterator[bytes]
    usage: Usage
    close: Callable[[], Awaitable[None]]
    headers: dict[str, str] = field(default_factory=dict)
    # How a failure after the first event reaches the client, as one complete SSE event (the
    # surface's error shape); None: OpenAI's `data: {"error": ...}`.
    error_event: Callable[[Any], bytes] | None = None


@dataclass
class AudioStream:
    """Audio bytes relayed as the provider sends them, never buffered whole.

    `content_type` is the provider's (audio/wav, audio/mpeg, ...); `close` releases the upstream
    connection, also when the consumer stops early.
    """
    chunks: AsyncIterator[bytes]
    content_type: str
    usage: Usage
    close: Callable[[], Awaitable[None]]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Upload:
    """An uploaded file (audio to transcribe), as the client named and typed it."""
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


class Adapter(Protocol):
    name: str
    operations: frozenset[Operation]
    # True when every wait inside the adapter's calls (connect, the answer's start, each read
    # of a body or stream) is bounded by `policy.current_timeouts`: the router then sets no
    # timers of its own around non-streamed calls and between a stream's events.
    enforces_timeouts: bool = False
    # An optional `async def ready()`: one-time setup the router awaits before the first call
    # (LiteLLM's import), not counted against the call's timeouts.

    def prepare(self, doc: ModelDocument, params: dict[str, Any]) -> Any:
        """Validate resolved parameters; raise ValueError naming the bad one."""

    async def chat(self, prepared: Any, body: dict[str, Any], stream: bool,
                   secrets: tuple[str, ...]) -> Completion | CompletionStream: ...

    # The methods below exist only on adapters whose `operations` include them.

    async def embeddings(self, prepared: Any, body: dict[str, Any],
                         secrets: tuple[str, ...]) -> Completion:
        """OpenAI embeddings body in (validated), OpenAI's embeddings list out."""

    async def image_generation(self, prepared: Any, body: dict[str, Any],
                               secrets: tuple[str, ...]) -> Completion:
        """OpenAI images body in (validated), OpenAI's images response out."""

    async def speech(self, prepared: Any, body: dict[str, Any],
                     secrets: tuple[str, ...]) -> AudioStream:
        """OpenAI speech body in (validated); audio streamed back."""

    async def transcription(self, prepared: Any, upload: Upload, fields: dict[str, Any],
                            secrets: tuple[str, ...], translate: bool = False) -> Completion:
        """An audio file and OpenAI's transcription form fields in; the transcript out, in the
        requested `response_format` (JSON, or text/plain for text, srt and vtt)."""


# Fields that would let a request body choose where or as whom a call goes. Refused everywhere.
ROUTING_FIELDS = frozenset({
    "api_base", "base_url", "api_key", "api_version", "api_type", "custom_llm_provider",
    "azure_ad_token", "azure_ad_token_provider", "azure_endpoint", "organization", "deployment_id",
    "vertex_project", "vertex_location", "vertex_credentials", "vertex_ai_project",
    "vertex_ai_location", "aws_access_key_id", "aws_secret_access_key", "aws_region_name",
    "extra_headers", "headers", "extra_body", "extra_query", "timeout", "request_timeout",
    "proxy", "proxies", "litellm_params", "metadata_url", "model_list", "mock_response",
})


def check_base_url(value: str, name: str = "api_base") -> None:
    """ValueError naming `parameters.NAME` unless `value` is a plain http(s) origin and path:
    credentials in the URL (`user:pass@`) would be dropped or sent where nobody looks, a query
    or fragment would be glued to every request path, whitespace splits the request line."""
    from urllib.parse import urlsplit
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(f"parameters.{name} must be an http(s) URL")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(f"parameters.{name} must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        parts.port                      # raises on a port that is not a number
    except ValueError:
        raise ValueError(f"parameters.{name} is not a valid URL") from None
    if "@" in parts.netloc:
        raise ValueError(f"parameters.{name} must not carry credentials (user:password@); "
                         "put the key in api_key as a $NAME setting")
    if not parts.hostname:
        raise ValueError(f"parameters.{name} has no host")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"parameters.{name} must not have a query or fragment")
