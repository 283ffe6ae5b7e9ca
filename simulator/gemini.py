"""Gemini `generateContent` / `streamGenerateContent` dialect (Vertex AI wire format)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from .content import Reply, Tool, Turn, plan_reply, stable_id
from .openai_chat import BadRequest
from .state import note_usage
from .streaming import EventStream


def _field(obj: Any, camel: str) -> Any:
    """Read a protobuf-JSON field, which Google accepts in camelCase or snake_case."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get("".join("_" + c.lower() if c.isupper() else c for c in camel))


def _parts_text(parts: Any) -> str:
    return " ".join(p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str))


def _function_response_text(response: Any) -> str:
    # LiteLLM and the Google SDKs wrap a plain tool result as {"content": ...}
    # (or {"result"/"output": ...}); unwrap it so every provider echoes the same text.
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return response if isinstance(response, str) else json.dumps(response)


def parse_turn(body: Any) -> Turn:
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
        raise BadRequest("Invalid JSON payload: 'contents' must be a non-empty list.")
    contents = [c for c in body["contents"] if isinstance(c, dict)]
    texts = [_parts_text(c.get("parts")) for c in contents]
    texts.append(_parts_text((_field(body, "systemInstruction") or {}).get("parts")))
    last_user = next((_parts_text(c.get("parts")) for c in reversed(contents)
                      if c.get("role", "user") == "user" and _parts_text(c.get("parts"))), "")
    tools = [
        Tool(decl.get("name", ""), decl.get("parameters") or decl.get("parametersJsonSchema") or {})
        for t in body.get("tools") or [] if isinstance(t, dict)
        for decl in _field(t, "functionDeclarations") or []
    ]
    config = _field(_field(body, "toolConfig"), "functionCallingConfig") or {}
    mode = str(config.get("mode", "AUTO")).upper()
    allowed = _field(config, "allowedFunctionNames") or []
    responses = [_field(p, "functionResponse") for p in (contents[-1].get("parts") or [])
                 if isinstance(_field(p, "functionResponse"), dict)]
    tool_result = _function_response_text(responses[-1].get("response")) if responses else None
    config = _field(body, "generationConfig")
    thinking = bool(_field(_field(config, "thinkingConfig"), "includeThoughts"))
    return Turn(texts, last_user, tools, allowed[0] if allowed else None, mode == "NONE", tool_result,
                _response_schema(config), thinking)


def _response_schema(config: Any) -> dict[str, Any] | None:
    """JSON mode: `responseMimeType: application/json`, with `responseSchema` (OpenAPI subset)
    or `responseJsonSchema` when a schema is given."""
    if _field(config, "responseMimeType") != "application/json":
        return None
    return _field(config, "responseJsonSchema") or _field(config, "responseSchema") or {}


def _usage(reply: Reply) -> dict[str, Any]:
    """Gemini's usageMetadata: `promptTokenCount` includes cached and audio tokens (cached ones
    also in `cachedContentTokenCount`, audio in the AUDIO modality of `promptTokensDetails`);
    thoughts (shown, and `[sim:reasoning=N]`) are `thoughtsTokenCount`, apart from
    `candidatesTokenCount` and counted in the total."""
    d = reply.details
    prompt = reply.prompt_tokens + d.cached + d.audio_in
    text_out = reply.completion_tokens - reply.thinking_tokens
    candidates = text_out + d.audio_out
    thoughts = reply.thinking_tokens + d.reasoning
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt - d.audio_in}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": text_out}],
    }
    if d.audio_in:
        usage["promptTokensDetails"].append({"modality": "AUDIO", "tokenCount": d.audio_in})
    if d.audio_out:
        usage["candidatesTokensDetails"].append({"modality": "AUDIO", "tokenCount": d.audio_out})
    if d.cached:
        usage["cachedContentTokenCount"] = d.cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _thought_parts(reply: Reply) -> list[dict[str, Any]]:
    return [{"text": reply.thinking, "thought": True}] if reply.thinking else []


def _response(model: str, response_id: str, parts: list[dict[str, Any]], reply: Reply | None) -> dict[str, Any]:
    """One GenerateContentResponse; `reply` given marks the final one (finishReason + usage)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    data: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id,
                            "createTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}
    if reply is not None:
        candidate["finishReason"] = "STOP"
        data["usageMetadata"] = _usage(reply)
    return data


def _function_call_part(reply: Reply) -> dict[str, Any]:
    call = reply.tool_call
    assert call is not None
    return {"functionCall": {"name": call.name, "args": call.arguments}}


async def handle(request: web.Request, body: Any, model: str, stream: bool) -> web.StreamResponse:
    reply = plan_reply(parse_turn(body))
    note_usage(request, _usage(reply))
    response_id = stable_id("sim-", model, json.dumps(body, sort_keys=True), length=20)
    if not stream:
        parts = [_function_call_part(reply)] if reply.tool_call else [{"text": reply.text or ""}]
        return web.json_response(_response(model, response_id, _thought_parts(reply) + parts, reply))

    # `alt=sse` selects SSE framing; without it Google streams a JSON array.  Every
    # known client (LiteLLM, google-genai) asks for SSE, so that is all we speak.
    events = await EventStream(request).start()
    if reply.thinking:
        await events.send(_response(model, response_id, _thought_parts(reply), None))
    if reply.tool_call:
        await events.send(_response(model, response_id, [_function_call_part(reply)], reply))
    else:
        words = reply.words()
        for word in words[:-1]:
            await events.send(_response(model, response_id, [{"text": word}], None))
        await events.send(_response(model, response_id, [{"text": words[-1] if words else ""}], reply))
    return await events.finish()
