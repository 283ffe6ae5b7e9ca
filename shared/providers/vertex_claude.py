"""Claude on Vertex AI, spoken natively: Anthropic's Messages API through Vertex's
`publishers/anthropic/models/{code}:rawPredict` / `:streamRawPredict`, and token counting
through `publishers/anthropic/models/count-tokens:rawPredict`. No LiteLLM on these paths.

The body is the client's, with `model` removed (the URL names it) and `anthropic_version:
vertex-2023-10-16` added: what the `anthropic` SDK's own Vertex client does. The answer is
relayed as it arrives, byte for byte (streams split on event boundaries only to read usage), so
thinking, prompt caching, tool use, images and PDFs survive whatever their shape. Chat
Completions on these models still go through LiteLLM (the inherited `chat`).

`anthropic-beta` goes on as the header, as the SDK's Vertex client forwards it: Vertex reads
betas there (with only the body's `anthropic_beta`, it refuses fields such as
`context_management` that a beta enables; LiteLLM found and fixed the same). Only the betas
Vertex accepts go: it refuses a whole request for one it does not know ("Unexpected value(s)
... for the `anthropic-beta` header"), and Anthropic-API-only betas (files, MCP client, code
execution, batches ...) mean nothing there.

`anthropic_version` is `vertex-2023-10-16`, the value Google documents; the SDK's Vertex client
2.x sends its dated API version instead, which Vertex takes too.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

from ..errors import (ServiceUnavailable, UpstreamError, from_upstream, sanitize,
                      upstream_message)
from ..json_codec import dumps_compact
from . import http, relay, vertex_imagen
from .base import Completion, CompletionStream, Usage
from .litellm_bridge import PARTNER_OPERATIONS, LiteLLMVertexAdapter, VertexTarget

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"

# Betas Claude on Vertex accepts (Google's model pages and LiteLLM's provider table agree on
# these); a client's others are not forwarded. simulator/anthropic.py keeps its own copy on
# purpose: it stands in for Google, so importing this one would make the simulator agree with
# the gateway whatever either says. tests/test_messages.py checks that the two lists agree.
VERTEX_BETAS = frozenset({
    "afk-mode-2026-01-31", "ce-plugins-2026-09-01", "ce-user-management-2026-07-13",
    "claude-code-20250219", "compact-2026-01-12", "compact-2026-09-04",
    "computer-use-2025-01-24", "computer-use-2025-11-24", "context-1m-2025-08-07",
    "context-management-2025-06-27", "dangerous-tool-use-2026-09-03", "dreaming-2026-04-21",
    "effort-2025-11-24", "experimental-claude-tag-2026-10-21", "extended-cache-ttl-2025-04-11",
    "fallback-credit-2026-06-01", "fallback-credit-2026-07-01",
    "fine-grained-tool-streaming-2025-05-14", "inline-tools-2026-09-15",
    "interleaved-thinking-2025-05-14", "managed-agents-2026-04-01", "mcp-tunnels-2026-06-22",
    "mid-conversation-output-config-2026-07-01", "mid-conversation-system-clear-at-2026-08-21",
    "mid-conversation-tool-changes-2026-07-01", "model-context-window-exceeded-2025-08-26",
    "oauth-2025-04-20", "output-128k-2025-02-19", "pdfs-2024-09-25",
    "per-turn-control-2026-07-01", "prompt-caching-2024-07-31",
    "prompt-caching-scope-2026-01-05", "redact-thinking-2026-02-12",
    "server-side-fallback-2026-06-01", "spend-limit-reads-2026-09-26",
    "structured-outputs-2025-11-13", "structured-outputs-2025-12-15",
    "task-budgets-2026-03-13", "telemetry-destinations-2026-08-11",
    "thinking-binding-controls-2026-08-01", "thinking-display-updates-2026-08-18",
    "thinking-token-count-2026-05-13", "token-counting-2024-11-01",
    "token-efficient-tools-2025-02-19", "tool-examples-2025-10-29",
    "tool-search-tool-2025-10-19", "user-profiles-2026-03-24", "user-profiles-2026-08-18",
    "user-profiles-2026-09-04", "web-search-2025-03-05",
})
# Betas Vertex knows under another name.
_BETA_NAMES = {"advanced-tool-use-2025-11-20": "tool-search-tool-2025-10-19"}


def vertex_betas(header: str | None) -> str | None:
    """The `anthropic-beta` header to send Vertex: the client's betas that Vertex accepts."""
    if not header:
        return None
    kept = []
    for beta in header.split(","):
        beta = _BETA_NAMES.get(beta.strip(), beta.strip())
        if beta in VERTEX_BETAS and beta not in kept:
            kept.append(beta)
    return ",".join(kept) or None


def anthropic_usage(data: Any, usage: Usage) -> None:
    """Fold an Anthropic `usage` object into `usage`. Anthropic's `input_tokens` leaves out
    cache reads and writes; ours counts them in, as OpenAI's `prompt_tokens` does, with the
    two cache classes as parts of it. A stream reports input in `message_start` and output
    (sometimes input again) in `message_delta`: fields a report leaves out keep their value."""
    if not isinstance(data, dict):
        return

    def reported(name: str, current: int) -> int:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else current
    fresh = reported("input_tokens", usage.prompt_tokens - usage.cache_write_input_tokens
                     - usage.cached_input_tokens)
    usage.cache_write_input_tokens = reported("cache_creation_input_tokens",
                                              usage.cache_write_input_tokens)
    usage.cached_input_tokens = reported("cache_read_input_tokens", usage.cached_input_tokens)
    usage.prompt_tokens = fresh + usage.cache_write_input_tokens + usage.cached_input_tokens
    usage.completion_tokens = reported("output_tokens", usage.completion_tokens)


class VertexClaudeAdapter(LiteLLMVertexAdapter):
    def __init__(self, settings: Any):
        super().__init__(settings, "Vertex AI partner", PARTNER_OPERATIONS)

    def _url(self, target: VertexTarget, model: str, method: str) -> str:
        kwargs = target.kwargs
        location = kwargs["vertex_location"]
        host = ("https://aiplatform.googleapis.com" if location == "global"
                else f"https://{location}-aiplatform.googleapis.com")
        return (f"{kwargs.get('api_base') or host}/v1/projects/{kwargs['vertex_project']}"
                f"/locations/{location}/publishers/anthropic/models/{model}:{method}")

    async def _post(self, target: VertexTarget, url: str, body: dict[str, Any],
                    secrets: tuple[str, ...], beta: str | None) -> tuple[http.Response, tuple]:
        creds = target.kwargs["vertex_credentials"]
        token = await vertex_imagen.access_token(creds, self.name)
        secrets = secrets + (creds, token)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        betas = vertex_betas(beta)
        if betas:
            headers["anthropic-beta"] = betas
        resp = await http.post(self._settings, url, dumps_compact(body), headers, self.name)
        if resp.status >= 400:
            raw = await relay.read(resp, self.name)
            raise _error(resp.status, raw, resp.headers.get("Retry-After"), self.name, secrets)
        return resp, secrets

    async def messages(self, target: VertexTarget, body: dict[str, Any], stream: bool,
                       secrets: tuple[str, ...], beta: str | None = None
                       ) -> Completion | CompletionStream:
        """An Anthropic Messages request in; Anthropic's answer (JSON or SSE) relayed out."""
        body = {k: v for k, v in body.items() if k != "model"}
        body["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
        method = "streamRawPredict" if stream else "rawPredict"
        resp, secrets = await self._post(target, self._url(target, target.code, method), body,
                                         secrets, beta)
        usage = Usage()
        if not stream:
            raw = await relay.read(resp, self.name)
            try:
                anthropic_usage(json.loads(raw).get("usage"), usage)
            except (ValueError, AttributeError):
                raise UpstreamError(f"{self.name} answered with a body that is not a "
                                    "Messages response.") from None
            return Completion(raw, usage)
        return CompletionStream(relay_events(resp, usage, self.name), usage, relay.closer(resp))

    async def count_tokens(self, target: VertexTarget, body: dict[str, Any],
                           secrets: tuple[str, ...], beta: str | None = None) -> Completion:
        """Vertex counts for the model named in the body, as the SDK's Vertex client sends it."""
        body = {**body, "model": target.code, "anthropic_version": VERTEX_ANTHROPIC_VERSION}
        body.pop("stream", None)
        resp, _ = await self._post(target, self._url(target, "count-tokens", "rawPredict"), body,
                                   secrets, beta)
        return Completion(await relay.read(resp, self.name), Usage())


def _error(status: int, raw: bytes, retry_after: str | None, provider: str,
           secrets: tuple[str, ...]) -> Exception:
    """Vertex's answer for Claude: Anthropic's envelope for Claude's own errors (529 overloaded
    among them), Google's for its front's (auth, quota)."""
    message = upstream_message(raw)
    if status == 529:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return ServiceUnavailable(f"The {provider} is overloaded: {sanitize(message, secrets)}",
                                  code="upstream_overloaded", headers=headers)
    return from_upstream(status, message, retry_after=retry_after, provider=provider,
                         secrets=secrets)


_USAGE_EVENTS = (b'"message_start"', b'"message_delta"')


def relay_events(resp: http.Response, usage: Usage, provider: str) -> AsyncIterator[bytes]:
    """Complete SSE events as they arrive, unchanged; usage read from `message_start` and
    `message_delta`."""
    return relay.relay_events(resp, provider, _USAGE_EVENTS,
                              lambda events: _note_usage(events, usage))


def _note_usage(events: bytes, usage: Usage) -> None:
    for line in events.split(b"\n"):
        if not line.startswith(b"data:") or not any(m in line for m in _USAGE_EVENTS):
            continue
        try:
            data = json.loads(line[5:])
        except ValueError:
            continue
        if data.get("type") == "message_start":
            anthropic_usage((data.get("message") or {}).get("usage"), usage)
        elif data.get("type") == "message_delta":
            anthropic_usage(data.get("usage"), usage)
