"""OpenAI Responses dialect, as Azure OpenAI serves it on `/openai/v1/responses` (model = the
deployment name in the body).

Stateless, like a `store: false` call: `previous_response_id` is refused (400) so a gateway
that relies on the provider's memory is caught; the conversation must come as input items.
"""
from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from .content import Reply, Tool, Turn, plan_reply, stable_id
from .openai_chat import BadRequest
from .streaming import EventStream


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or []
                    if isinstance(p, dict) and p.get("type") in ("input_text", "output_text"))


def parse_turn(body: Any) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if body.get("previous_response_id"):
        raise BadRequest("previous_response_id: this simulator keeps no responses.")
    raw = body.get("input")
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise BadRequest("'input' must be a string or a non-empty array of items.")
    messages = [i for i in items if i.get("type", "message") == "message"]
    texts = [_text(m.get("content")) for m in messages] + [body.get("instructions") or ""]
    last_user = next((_text(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user"), "")
    tools = [Tool(t.get("name", ""), t.get("parameters") or {}) for t in body.get("tools") or []
             if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    forced = choice.get("name") if isinstance(choice, dict) else None
    last = items[-1]
    result = last.get("output") if last.get("type") == "function_call_output" else None
    fmt = ((body.get("text") or {}).get("format") or {})
    schema = fmt.get("schema") or {} if fmt.get("type") == "json_schema" else (
        {} if fmt.get("type") == "json_object" else None)
    return Turn(texts, last_user, tools, forced, choice == "none",
                result if isinstance(result, str) or result is None else json.dumps(result),
                schema)


def _output(reply: Reply, key: str) -> list[dict[str, Any]]:
    if reply.tool_call:
        call = reply.tool_call
        return [{"id": stable_id("fc_", key), "type": "function_call", "status": "completed",
                 "call_id": call.id, "name": call.name, "arguments": call.arguments_json}]
    return [{"id": stable_id("msg_", key), "type": "message", "status": "completed",
             "role": "assistant", "content": [{"type": "output_text", "text": reply.text or "",
                                               "annotations": [], "logprobs": []}]}]


def _response(body: dict[str, Any], model: str, key: str, status: str,
              output: list[dict[str, Any]], reply: Reply | None) -> dict[str, Any]:
    usage = None if reply is None else {
        "input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": reply.total_tokens}
    return {"id": stable_id("resp_", key), "object": "response", "created_at": int(time.time()),
            "status": status, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "model": model, "output": output,
            "previous_response_id": None,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "text": body.get("text") or {"format": {"type": "text"}},
            "store": body.get("store", True), "metadata": body.get("metadata") or {},
            "usage": usage}


async def handle(request: web.Request, body: Any, model: str) -> web.StreamResponse:
    reply = plan_reply(parse_turn(body))
    key = json.dumps(body, sort_keys=True) + model
    output = _output(reply, key)
    if not body.get("stream"):
        return web.json_response(_response(body, model, key, "completed", output, reply))
    stream = await EventStream(request).start()
    seq = 0

    async def send(kind: str, **fields: Any) -> None:
        nonlocal seq
        await stream.send({"type": kind, "sequence_number": seq, **fields}, event=kind)
        seq += 1
    await send("response.created", response=_response(body, model, key, "in_progress", [], None))
    await send("response.in_progress",
               response=_response(body, model, key, "in_progress", [], None))
    item = output[0]
    if item["type"] == "function_call":
        await send("response.output_item.added", output_index=0,
                   item={**item, "arguments": "", "status": "in_progress"})
        await send("response.function_call_arguments.delta", item_id=item["id"], output_index=0,
                   delta=item["arguments"])
        await send("response.function_call_arguments.done", item_id=item["id"], output_index=0,
                   arguments=item["arguments"])
    else:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        await send("response.output_item.added", output_index=0,
                   item={**item, "content": [], "status": "in_progress"})
        await send("response.content_part.added", part=part, **ids)
        for word in reply.words():
            await send("response.output_text.delta", delta=word, logprobs=[], **ids)
        await send("response.output_text.done", text=reply.text, logprobs=[], **ids)
        await send("response.content_part.done", part=item["content"][0], **ids)
    await send("response.output_item.done", output_index=0, item=item)
    await send("response.completed",
               response=_response(body, model, key, "completed", output, reply))
    return await stream.finish()
