"""The chat model, streamed, for a realtime response: request body from the session, SSE
chunks parsed into text deltas and tool calls. Goes through the core dispatch like
/v1/chat/completions (model resolution, operation check, metering)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from ..errors import GatewayError
from ..gateway import Gateway
from ..providers import Usage
from ..store import RealtimeSession
from . import audio_models


@dataclass
class ToolCall:
    call_id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class ChatResult:
    usage: Usage = field(default_factory=Usage)
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None


def chat_body(messages: list[dict], config: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": messages, "stream": True,
                            "temperature": config.get("temperature", 0.8)}
    limit = config.get("max_response_output_tokens", "inf")
    if limit != "inf":
        body["max_tokens"] = limit
    tools = config.get("tools") or []
    if tools:
        body["tools"] = [{"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("parameters") or {"type": "object", "properties": {}}}}
            for t in tools]
        choice = config.get("tool_choice", "auto")
        body["tool_choice"] = choice if isinstance(choice, str) else \
            {"type": "function", "function": {"name": choice["name"]}}
    return body


def _events(buffer: bytes) -> tuple[list[dict], bytes]:
    """Complete SSE `data:` payloads in `buffer`, and what is left over."""
    found = []
    while b"\n\n" in buffer:
        block, buffer = buffer.split(b"\n\n", 1)
        for line in block.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                try:
                    found.append(json.loads(line[5:]))
                except ValueError:
                    continue
    return found, buffer


def _apply(chunk: dict, result: ChatResult) -> str:
    """Text in this chunk; tool call pieces and usage go into `result`."""
    if chunk.get("error"):
        err = chunk["error"]
        raise GatewayError(str(err.get("message", "the chat model's stream failed")),
                           code=err.get("code") or "upstream_stream_interrupted")
    if isinstance(chunk.get("usage"), dict):
        result.usage.update(Usage.from_openai(chunk["usage"]))
    text = ""
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        text += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            slot = result.tool_calls.setdefault(call.get("index", 0), ToolCall())
            slot.call_id = call.get("id") or slot.call_id
            function = call.get("function") or {}
            slot.name = function.get("name") or slot.name
            slot.arguments += function.get("arguments") or ""
        result.finish_reason = choice.get("finish_reason") or result.finish_reason
    return text


async def stream_chat(gw: Gateway, session: RealtimeSession, messages: list[dict],
                      config: dict[str, Any], result: ChatResult) -> AsyncIterator[str]:
    """Yield text deltas; fill `result`. The core dispatch meters the call (499 when the
    response is cancelled part way)."""
    stream = await audio_models.dispatch().chat(gw, audio_models.caller_of(session),
                                                session.models["chat"],
                                                chat_body(messages, config), True)
    buffer = b""
    try:
        async for raw in stream.chunks:
            chunks, buffer = _events(buffer + raw)
            for chunk in chunks:
                text = _apply(chunk, result)
                if text:
                    yield text
    finally:
        await stream.chunks.aclose()
        if not (result.usage.prompt_tokens or result.usage.completion_tokens):
            result.usage.update(stream.usage)
