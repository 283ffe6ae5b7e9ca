"""Response objects of the OpenAI Responses API, built from a chat completion (the pivot).

    response = new_response(request, response_id, created_at)       # status in_progress
    finish(response, output_items(message), finish_reason, usage)    # from one chat completion

The fields and item shapes follow the openai SDK's `types/responses` (Response, ResponseOutput*,
ResponseReasoningItem, ResponseUsage). Provider reasoning (`reasoning_content`: Gemini thoughts,
Claude thinking, as LiteLLM and compatible upstreams return it) becomes a `reasoning` item with
the text as `reasoning_text` content, never dropped.
"""
from __future__ import annotations

import secrets
from typing import Any

from .responses import ResponsesRequest
from .responses_tools import Offered, call_item, offered_tools


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def new_response(req: ResponsesRequest, response_id: str, created_at: int) -> dict[str, Any]:
    """The response object before any output: what the request asked for, echoed."""
    reasoning = req.reasoning or {}
    return {
        "id": response_id, "object": "response", "created_at": created_at,
        "status": "in_progress", "background": req.background, "error": None,
        "incomplete_details": None, "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens, "max_tool_calls": None, "model": req.model,
        "output": [], "parallel_tool_calls": (True if req.parallel_tool_calls is None
                                              else req.parallel_tool_calls),
        "previous_response_id": req.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default", "store": req.store,
        "temperature": 1.0 if req.temperature is None else req.temperature,
        "text": {"verbosity": "medium", **req.text}, "tool_choice": req.tool_choice,
        "tools": [{"strict": None, "description": None, **t} if t.get("type") == "function"
                  else t for t in req.tools],
        "top_logprobs": 0, "top_p": 1.0 if req.top_p is None else req.top_p,
        "truncation": req.truncation, "usage": None, "user": req.user,
        "safety_identifier": req.safety_identifier, "prompt_cache_key": req.prompt_cache_key,
        "metadata": req.metadata,
    }


def reasoning_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [],
            "content": [{"type": "reasoning_text", "text": text}] if text else [],
            "status": status}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[dict[str, Any]],
                 status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": parts}


def output_items(message: dict[str, Any],
                 offered: dict[str, Offered] | None = None) -> list[dict[str, Any]]:
    """A chat completion's message as output items: reasoning, then the message, then calls
    (each as the item of the tool the client offered: `offered` maps chat names to them)."""
    items = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(new_id("rs"), reasoning))
    parts = []
    content = message.get("content")
    if isinstance(content, list):           # some upstreams answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if isinstance(content, str) and content:
        parts.append(text_part(content))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(message_item(new_id("msg"), parts))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(call_item(offered or {}, new_id("fc"), call.get("id") or new_id("call"),
                               function.get("name", ""), function.get("arguments") or ""))
    return items


def usage(chat_usage: Any) -> dict[str, Any] | None:
    """Chat usage in the Responses shape, with cached and reasoning tokens where reported."""
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    prompt_details = chat_usage.get("prompt_tokens_details") or {}
    completion_details = chat_usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens")
                                      or prompt_details.get("cache_creation_tokens") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(chat_usage.get("total_tokens") or prompt + completion),
    }


_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def cut_short(finish_reason: Any) -> bool:
    return finish_reason in _INCOMPLETE


def finish(response: dict[str, Any], items: list[dict[str, Any]], finish_reason: Any,
           chat_usage: Any) -> dict[str, Any]:
    """Complete `response` with its output; `incomplete` when the model was cut short (and
    then so is the item it was producing, the last one; earlier items were finished)."""
    reason = _INCOMPLETE.get(finish_reason)
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    response["output"] = items
    response["usage"] = usage(chat_usage)
    return response


def from_chat(response: dict[str, Any], completion: dict[str, Any],
              conversation: Any = ()) -> dict[str, Any]:
    """A whole chat completion as the finished response object (`conversation`: the items it
    answers, for the tools a tool search loaded in it)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    reason = choice.get("finish_reason")
    items = output_items(choice.get("message") or {},
                         offered_tools(response.get("tools"), conversation))
    if items and cut_short(reason):
        items[-1]["status"] = "incomplete"
    return finish(response, items, reason, completion.get("usage"))


def failed(response: dict[str, Any], code: str | None, message: str) -> dict[str, Any]:
    response["status"] = "failed"
    response["error"] = {"code": code or "server_error", "message": message}
    return response
