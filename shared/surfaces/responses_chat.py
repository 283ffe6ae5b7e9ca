"""A checked Responses request as a Chat Completions body (the pivot every adapter speaks).
Pure functions over dicts: no I/O.

Items become messages (function and custom tool calls join the assistant turn before them,
outputs become tool messages, `developer` becomes `system`, which every provider takes); tools
become chat function tools (`responses_tools.py`); request fields map to their chat names (see
docs/responses.md for the table).
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidRequest
from .responses import ResponsesRequest
from .responses_tools import TOOL_SEARCH, chat_name, chat_tools, loaded_tools


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        image = {"url": part["image_url"]}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    file: dict[str, Any] = {"file_data": part["file_data"]}
    if part.get("filename"):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _chat_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only content as one string (every provider takes that), else chat content parts."""
    converted = [_chat_part(p) for p in parts]
    if all(p["type"] == "text" for p in converted):
        return "".join(p["text"] for p in converted)
    return converted


def _chat_call(item: dict[str, Any]) -> dict[str, Any]:
    """A call item as a chat tool call, by the chat name its tool was offered under
    (responses_tools.py): a custom tool's input as `{"input": ...}`, a tool search's arguments
    as their JSON."""
    kind = item["type"]
    if kind == "tool_search_call":
        args = item.get("arguments")
        name = TOOL_SEARCH
        arguments = args if isinstance(args, str) else json.dumps({} if args is None else args)
    else:
        name = chat_name(item["name"], item.get("namespace"))
        arguments = item["arguments"] if kind == "function_call" else \
            json.dumps({"input": item["input"]})
    return {"id": item["call_id"], "type": "function",
            "function": {"name": name, "arguments": arguments}}


def items_to_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses items as chat messages: function calls join the assistant message before them
    (one assistant turn may carry text and several calls); outputs become tool messages."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _chat_content(item["content"])})
        elif kind in ("function_call", "custom_tool_call", "tool_search_call"):
            call = _chat_call(item)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if last["content"] == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "tool_search_output":   # what was found: offered as tools from now on
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": json.dumps({"loaded_tools": item.get("tools") or []})})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item["output"]
            content = output if isinstance(output, str) else _chat_content(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": content})
    return messages


def _response_format(fmt: dict[str, Any]) -> dict[str, Any] | None:
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return None


def to_chat(req: ResponsesRequest, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat body for `items` (the conversation so far and this request's input)."""
    messages = items_to_messages(items)
    if req.instructions:
        messages.insert(0, {"role": "system", "content": req.instructions})
    if not messages:
        raise InvalidRequest("'input' is empty: there is nothing to answer.", param="input")
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    tools = chat_tools(req.tools, loaded_tools(items))
    if tools:
        body["tools"] = tools
        choice = req.tool_choice
        body["tool_choice"] = ({"type": "function", "function": {"name": choice["name"]}}
                               if isinstance(choice, dict) else choice)
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    fmt = _response_format(req.text["format"])
    if fmt is not None:
        body["response_format"] = fmt
    if "verbosity" in req.text:
        body["verbosity"] = req.text["verbosity"]
    for ours, theirs in (("max_output_tokens", "max_completion_tokens"),
                         ("temperature", "temperature"), ("top_p", "top_p"),
                         ("prompt_cache_key", "prompt_cache_key")):
        value = getattr(req, ours)
        if value is not None:
            body[theirs] = value
    user = req.user or req.safety_identifier
    if user is not None:
        body["user"] = user
    if req.reasoning and req.reasoning.get("effort"):
        body["reasoning_effort"] = req.reasoning["effort"]
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body
