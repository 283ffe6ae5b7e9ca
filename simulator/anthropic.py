"""Anthropic Messages dialect, as served by Vertex AI `:rawPredict` / `:streamRawPredict` and
`count-tokens:rawPredict`.

What Vertex checks and answers, as far as the gateway's tests need it:
- the body carries `anthropic_version` (`vertex-2023-10-16`, or a dated version as the SDK's
  Vertex client sends), `max_tokens` and no `model` (the model is in the URL); `anthropic-beta`
  values (header, or the body's `anthropic_beta`) must be ones Vertex knows, else 400;
- errors Claude itself raises come in Anthropic's envelope (`{"type": "error", "error":
  {"type", "message"}}`, 529 `overloaded_error` included); Google's front (auth, quota) answers
  in Google's shape (see `errors.py`);
- prompt caching: the prefix up to the last `cache_control` marker (tools, then system, then
  messages) is written on first sight (`cache_creation_input_tokens`) and read afterwards
  (`cache_read_input_tokens`); `input_tokens` is the rest, as Anthropic reports it;
- `thinking: {"type": "enabled"}` puts a `thinking` block (with a signature) before the answer;
- streams: message_start, ping, content_block_start/delta/stop per block, message_delta with
  the final usage, message_stop.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiohttp import web

from .content import Reply, Tool, Turn, count_words, plan_reply, stable_id
from .openai_chat import BadRequest
from .state import note_usage
from .streaming import EventStream

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
# Google documents `vertex-2023-10-16`; the `anthropic` SDK's Vertex client (2.x) sends its
# dated API version (e.g. `2026-10-21`) instead, which Vertex must take as well.
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The betas Vertex accepts for Claude (as header or in the body's `anthropic_beta`). Others
# (files, MCP client, code execution, batches ...) are Anthropic-API-only: 400. Written out
# here, not imported from the gateway (shared/providers/vertex_claude.py has the same list):
# the simulator stands in for Google, and one shared list would let both sides drift together
# unseen. tests/test_messages.py checks that the two lists agree.
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


# Top-level fields Claude takes on Vertex; any other is refused, as Anthropic's API does.
MESSAGE_FIELDS = frozenset({
    "anthropic_version", "anthropic_beta", "messages", "max_tokens", "system", "stop_sequences",
    "stream", "temperature", "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking",
    "service_tier", "context_management", "output_config", "output_format", "mcp_servers",
    "container", "cache_control", "diagnostics", "speed", "inference_geo",
})


class AnthropicError(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def error_response(status: int, message: str, kind: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    kind = kind or ERROR_TYPES.get(status, "api_error")
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}},
                             status=status, headers=headers)


def _blocks_text(content: Any, kind: str = "text") -> str:
    if isinstance(content, str):
        return content if kind == "text" else ""
    texts = []
    for block in content or []:
        if not isinstance(block, dict) or block.get("type") != kind:
            continue
        if kind == "text":
            texts.append(block.get("text", ""))
        else:  # tool_result: content is a string or a list of text blocks
            texts.append(_blocks_text(block.get("content")))
    return " ".join(texts)


def _check_betas(request: web.Request, body: dict[str, Any]) -> None:
    header = request.headers.get("anthropic-beta", "")
    asked = [b.strip() for b in header.split(",") if b.strip()]
    asked += [b for b in body.get("anthropic_beta") or [] if isinstance(b, str)]
    unknown = [b for b in asked if b not in VERTEX_BETAS]
    if unknown:
        raise AnthropicError(400, "invalid_request_error",
                             f"Unexpected value(s) `{', '.join(unknown)}` for the "
                             "`anthropic-beta` header. Please consult our documentation at "
                             "docs.anthropic.com or try again without the header.")


def _check_body(body: Any, counting: bool = False) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AnthropicError(400, "invalid_request_error", "The request body must be a JSON object.")
    if not counting:
        version = body.get("anthropic_version")
        if version != VERTEX_ANTHROPIC_VERSION and not _DATED_VERSION.match(str(version)):
            raise AnthropicError(400, "invalid_request_error",
                                 f"anthropic_version: must be '{VERTEX_ANTHROPIC_VERSION}' on Vertex AI.")
        if "model" in body:
            raise AnthropicError(400, "invalid_request_error", "model: Extra inputs are not permitted")
        extra = sorted(set(body) - MESSAGE_FIELDS)
        if extra:
            raise AnthropicError(400, "invalid_request_error", f"{extra[0]}: Extra inputs are not permitted")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise AnthropicError(400, "invalid_request_error", "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise AnthropicError(400, "invalid_request_error", "messages: Field required")
    return body


def parse_turn(body: dict[str, Any]) -> Turn:
    messages = body["messages"]
    texts = [_blocks_text(m.get("content")) for m in messages] + [_blocks_text(body.get("system"))]
    last_user = next((_blocks_text(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user" and _blocks_text(m.get("content"))), "")
    tools = [Tool(t.get("name", ""), t.get("input_schema") or {}) for t in body.get("tools") or []
             if isinstance(t, dict)]
    choice = body.get("tool_choice") or {}
    last = messages[-1]
    has_result = last.get("role") == "user" and isinstance(last.get("content"), list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"])
    tool_result = _blocks_text(last.get("content"), "tool_result") if has_result else None
    return Turn(texts, last_user, tools, choice.get("name") if choice.get("type") == "tool" else None,
                choice.get("type") == "none", tool_result, json_schema=_output_schema(body))


def _output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """Structured outputs: `output_format` (or `output_config.format`) of type json_schema."""
    fmt = body.get("output_format") or (body.get("output_config") or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    return fmt.get("schema") or {}


def _pieces(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """Every prompt piece in cache order (tools, system, messages) with its cache marker."""
    pieces: list[tuple[str, bool]] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            pieces.append((json.dumps(tool, sort_keys=True), "cache_control" in tool))
    system = body.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system or []
    for message in [{"content": blocks}] + body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            pieces.append((content, False))
            continue
        for block in content or []:
            if isinstance(block, dict):
                text = block.get("text") if block.get("type") == "text" else json.dumps(block, sort_keys=True)
                pieces.append((str(text), "cache_control" in block))
    return pieces


def _cache_usage(body: dict[str, Any], cache: set[str]) -> tuple[int, int, int]:
    """(input, cache write, cache read) tokens; a token is a word, as everywhere here."""
    pieces = _pieces(body)
    total = sum(count_words(text) for text, _ in pieces)
    marked = [i for i, (_, mark) in enumerate(pieces) if mark]
    if not marked:
        return total, 0, 0
    prefix = pieces[:marked[-1] + 1]
    cached = sum(count_words(text) for text, _ in prefix)
    key = hashlib.sha256("\x00".join(text for text, _ in prefix).encode()).hexdigest()
    if key in cache:
        return total - cached, 0, cached
    cache.add(key)
    return total - cached, cached, 0


def count_tokens(body: Any) -> web.Response:
    try:
        body = _check_body(body, counting=True)
    except AnthropicError as exc:
        return error_response(exc.status, exc.message, exc.kind)
    return web.json_response({"input_tokens": sum(count_words(t) for t, _ in _pieces(body))})


def _thinking(body: dict[str, Any], turn: Turn) -> dict[str, Any] | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    text = f"The user wrote: {turn.last_user_text or 'nothing'}. I will answer."
    return {"type": "thinking", "thinking": text,
            "signature": stable_id("sig_sim_", text, length=32)}


def _answer(reply: Reply) -> dict[str, Any]:
    if reply.tool_call:
        call = reply.tool_call
        return {"type": "tool_use", "id": call.id.replace("call_", "toolu_"), "name": call.name,
                "input": call.arguments}
    return {"type": "text", "text": reply.text or ""}


def _limit(reply: Reply, body: dict[str, Any]) -> tuple[str, str | None]:
    """Apply `stop_sequences` and `max_tokens` to a text reply: (stop_reason, stop_sequence)."""
    if reply.tool_call:
        return "tool_use", None
    for sequence in body.get("stop_sequences") or []:
        if isinstance(sequence, str) and sequence and sequence in (reply.text or ""):
            reply.text = reply.text.split(sequence, 1)[0]
            reply.completion_tokens = count_words(reply.text)
            return "stop_sequence", sequence
    words = (reply.text or "").split(" ")
    if len(words) > body["max_tokens"]:
        reply.text = " ".join(words[:body["max_tokens"]])
        reply.completion_tokens = body["max_tokens"]
        return "max_tokens", None
    return "end_turn", None


async def handle(request: web.Request, body: Any, model: str, stream: bool,
                 cache: set[str]) -> web.StreamResponse:
    try:
        body = _check_body(body)
        _check_betas(request, body)
    except AnthropicError as exc:
        return error_response(exc.status, exc.message, exc.kind)
    turn = parse_turn(body)
    reply = plan_reply(turn)
    stop_reason, stop_sequence = _limit(reply, body)
    fresh, written, read = _cache_usage(body, cache)
    thinking = _thinking(body, turn)
    content = ([thinking] if thinking else []) + [_answer(reply)]
    output = reply.completion_tokens + (count_words(thinking["thinking"]) if thinking else 0)
    # `[sim:cache_write=N]` / `[sim:cached=N]` / `[sim:reasoning=N]` add to what the cache
    # markers and thinking produce (content.UsageDetails), as Anthropic reports them.
    d = reply.details
    usage = {"input_tokens": fresh, "cache_creation_input_tokens": written + d.cache_write,
             "cache_read_input_tokens": read + d.cached, "output_tokens": output + d.reasoning}
    note_usage(request, usage)
    message = {"id": stable_id("msg_vrtx_", model, json.dumps(body, sort_keys=True)),
               "type": "message", "role": "assistant", "model": model, "content": content,
               "stop_reason": stop_reason, "stop_sequence": stop_sequence, "usage": usage}
    if not stream:
        return web.json_response(message)
    events = await EventStream(request).start()

    async def send(event: str, data: dict[str, Any]) -> None:
        await events.send({"type": event, **data}, event=event)

    await send("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                             "stop_sequence": None,
                                             "usage": {**usage, "output_tokens": 1}}})
    await send("ping", {})
    for index, block in enumerate(content):
        await _send_block(send, index, block, reply)
    await send("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                                 "usage": {"output_tokens": usage["output_tokens"]}})
    await send("message_stop", {})
    return await events.finish()


async def _send_block(send: Any, index: int, block: dict[str, Any], reply: Reply) -> None:
    if block["type"] == "thinking":
        await send("content_block_start", {"index": index, "content_block": {
            "type": "thinking", "thinking": "", "signature": ""}})
        parts = block["thinking"].split(" ")
        for piece in [parts[0]] + [" " + p for p in parts[1:]]:
            await send("content_block_delta", {"index": index, "delta": {
                "type": "thinking_delta", "thinking": piece}})
        await send("content_block_delta", {"index": index, "delta": {
            "type": "signature_delta", "signature": block["signature"]}})
    elif block["type"] == "tool_use":
        await send("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
        arguments = reply.tool_call.arguments_json
        size = max(1, -(-len(arguments) // 3))  # the JSON arrives in pieces, as from Anthropic
        for i in range(0, len(arguments), size):
            await send("content_block_delta", {"index": index, "delta": {
                "type": "input_json_delta", "partial_json": arguments[i:i + size]}})
    else:
        await send("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        for word in reply.words():
            await send("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": word}})
    await send("content_block_stop", {"index": index})
