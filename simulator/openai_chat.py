"""OpenAI chat-completions dialect.

Served for Azure OpenAI deployments, the OpenAI-compatible `/v1` surface, Vertex
MaaS (`endpoints/openapi`) and the Mistral/AI21 partner models on Vertex.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from .content import Reply, Tool, Turn, plan_reply, stable_id
from .state import note_usage
from .streaming import EventStream

SYSTEM_FINGERPRINT = "fp_simulator"


class BadRequest(ValueError):
    """The request body is not a usable chat request (answered with 400)."""


def message_text(content: Any) -> str:
    """Text of an OpenAI message `content`: a string or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def parse_turn(body: Any) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is a required property and must be a non-empty array.")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("Each message must be an object.")

    texts = [message_text(m.get("content")) for m in messages]
    last_user = next((message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tools = [
        Tool(t["function"].get("name", ""), t["function"].get("parameters") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    last = messages[-1]
    tool_result = message_text(last.get("content")) if last.get("role") == "tool" else None
    return Turn(texts, last_user, tools, forced, choice == "none", tool_result,
                response_schema(body.get("response_format")))


def response_schema(fmt: Any) -> dict[str, Any] | None:
    """OpenAI `response_format`: a json_schema's schema, {} for json_object, else None."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {}
    return {} if fmt.get("type") == "json_object" else None


def _message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_call:
        call = reply.tool_call
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
        ]
    return message


def _usage(reply: Reply) -> dict[str, Any]:
    """OpenAI's usage: cached and audio tokens are parts of `prompt_tokens`, reasoning and audio
    output parts of `completion_tokens`; the details objects are always present, as from
    OpenAI. OpenAI reports no cache writes."""
    d = reply.details
    prompt = reply.prompt_tokens + d.cached + d.audio_in
    completion = reply.completion_tokens + d.reasoning + d.audio_out
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": d.cached, "audio_tokens": d.audio_in},
        "completion_tokens_details": {"reasoning_tokens": d.reasoning, "audio_tokens": d.audio_out,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_call else "stop"


def completion(body: dict[str, Any], model: str, request: web.Request | None = None) -> dict[str, Any]:
    reply = plan_reply(parse_turn(body))
    if request is not None:
        note_usage(request, _usage(reply))
    return {
        "id": stable_id("chatcmpl-sim", model, json.dumps(body, sort_keys=True)),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": _message(reply), "finish_reason": _finish_reason(reply), "logprobs": None}],
        "usage": _usage(reply),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


async def stream_completion(request: web.Request, body: dict[str, Any], model: str) -> web.StreamResponse:
    reply = plan_reply(parse_turn(body))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": stable_id("chatcmpl-sim", model, json.dumps(body, sort_keys=True)),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if include_usage:  # OpenAI sends an explicit null on every chunk before the usage chunk
            data["usage"] = None
        return data

    stream = await EventStream(request).start()
    await stream.send(chunk({"role": "assistant", "content": "" if reply.text is not None else None, "refusal": None}))
    for word in reply.words():
        await stream.send(chunk({"content": word}))
    if reply.tool_call:
        call = reply.tool_call
        await stream.send(chunk({"tool_calls": [{
            "index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""},
        }]}))
        # Arguments arrive in pieces, as from OpenAI, so clients must concatenate.
        for piece in _pieces(call.arguments_json, 3):
            await stream.send(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    await stream.send(chunk({}, _finish_reason(reply)))
    note_usage(request, _usage(reply))
    if include_usage:
        await stream.send({**base, "choices": [], "usage": _usage(reply)})
    await stream.send("[DONE]")
    return await stream.finish()


def _pieces(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


async def handle(request: web.Request, body: Any, model: str) -> web.StreamResponse:
    """Answer a chat request (raises BadRequest for unusable bodies)."""
    parse_turn(body)  # validate before committing to a stream
    if body.get("stream"):
        return await stream_completion(request, body, model)
    return web.json_response(completion(body, model, request))
