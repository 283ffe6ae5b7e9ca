"""Anthropic Messages dialect, as served by Vertex AI `:rawPredict` / `:streamRawPredict`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .content import Reply, Tool, Turn, plan_reply, stable_id
from .openai_chat import BadRequest
from .streaming import EventStream

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


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


def parse_turn(body: Any) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        raise BadRequest(f"anthropic_version: must be '{VERTEX_ANTHROPIC_VERSION}' on Vertex AI.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: field required")
    system = body.get("system")
    texts = [_blocks_text(m.get("content")) for m in messages] + [_blocks_text(system)]
    last_user = next((_blocks_text(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user" and _blocks_text(m.get("content"))), "")
    tools = [Tool(t.get("name", ""), t.get("input_schema") or {}) for t in body.get("tools") or []
             if isinstance(t, dict)]
    choice = body.get("tool_choice") or {}
    last = messages[-1]
    has_result = last.get("role") == "user" and isinstance(last.get("content"), list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"])
    tool_result = _blocks_text(last.get("content"), "tool_result") if has_result else None
    output_format = body.get("output_format")      # Anthropic structured outputs
    schema = output_format.get("schema") or {} if isinstance(output_format, dict) else None
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    return Turn(texts, last_user, tools, choice.get("name") if choice.get("type") == "tool" else None,
                choice.get("type") == "none", tool_result, schema, thinking)


def _message_id(body: Any, model: str) -> str:
    return stable_id("msg_sim_", model, json.dumps(body, sort_keys=True))


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_call else "end_turn"


SIGNATURE = "c2ltdWxhdGVkLXNpZ25hdHVyZQ=="


def _content(reply: Reply) -> list[dict[str, Any]]:
    thinking = [{"type": "thinking", "thinking": reply.thinking, "signature": SIGNATURE}] \
        if reply.thinking else []
    if reply.tool_call:
        call = reply.tool_call
        return thinking + [{"type": "tool_use", "id": call.id.replace("call_", "toolu_"),
                            "name": call.name, "input": call.arguments}]
    return thinking + [{"type": "text", "text": reply.text or ""}]


async def handle(request: web.Request, body: Any, model: str, stream: bool) -> web.StreamResponse:
    reply = plan_reply(parse_turn(body))
    message = {
        "id": _message_id(body, model),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }
    if not stream:
        return web.json_response(message)

    events = await EventStream(request).start()

    async def send(event: str, data: dict[str, Any]) -> None:
        await events.send({"type": event, **data}, event=event)

    await send("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                             "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1}}})
    index = 0
    if reply.thinking:
        await send("content_block_start", {"index": 0, "content_block": {
            "type": "thinking", "thinking": "", "signature": ""}})
        for word in Reply(reply.thinking, None, 0, 0).words():
            await send("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                                     "thinking": word}})
        await send("content_block_delta", {"index": 0, "delta": {"type": "signature_delta",
                                                                 "signature": SIGNATURE}})
        await send("content_block_stop", {"index": 0})
        index = 1
    block = _content(reply)[-1]
    if reply.tool_call:
        await send("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
        arguments = reply.tool_call.arguments_json
        size = max(1, -(-len(arguments) // 3))  # the JSON arrives in pieces, as from Anthropic
        for i in range(0, len(arguments), size):
            await send("content_block_delta", {"index": index, "delta": {"type": "input_json_delta",
                                                                         "partial_json": arguments[i:i + size]}})
    else:
        await send("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        for word in reply.words():
            await send("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": word}})
    await send("content_block_stop", {"index": index})
    await send("message_delta", {"delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                                 "usage": {"output_tokens": reply.completion_tokens}})
    await send("message_stop", {})
    return await events.finish()
