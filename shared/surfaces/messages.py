"""The Anthropic Messages API as a surface: its request checks, its error envelope, and the
translation to and from Chat Completions (the pivot) for models that do not speak it natively.

Pure functions over dicts (streams: `messages_stream.py`). Claude on Vertex never comes here
past `check_request`: its body is relayed as the client wrote it.

Translated models get everything Chat Completions can carry: system, text, images (base64 or
URL), PDFs (base64, as a chat `file` part), tools and tool results, `tool_choice` (with
`disable_parallel_tool_use`), `stop_sequences`, `max_tokens`, `temperature`, `top_p`,
`metadata.user_id`. What has no chat equivalent is refused with a 400 naming the field
(`top_k`, server tools, MCP servers, containers, citations sources ...), except hints a model
may ignore without changing the answer's meaning: `cache_control` (prompt caching is the
provider's business), `thinking` and `output_config.effort` (permission to reason, not a
demand), `speed`, `diagnostics`, `context_management` and `service_tier`.
`output_config.format` (structured output) becomes chat's `response_format` json_schema.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import GatewayError, InvalidRequest
from ..handlers.validate import optional_bool, refuse_routing_fields, require_str

# Anthropic's error types by the status it answers with; ours map onto these statuses.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
               529: "overloaded_error"}
# Our statuses that Anthropic's API does not use, as the nearest one it does.
_STATUS = {409: 400, 422: 400, 502: 500, 503: 529}

_FIELDS = frozenset({"model", "messages", "max_tokens", "system", "stop_sequences", "stream",
                     "temperature", "top_p", "top_k", "tools", "tool_choice", "metadata",
                     "thinking", "service_tier", "context_management", "output_config",
                     "mcp_servers", "container", "output_format", "inference_geo",
                     "cache_control", "diagnostics", "speed"})
_ROLES = ("user", "assistant", "system")     # system: a mid-conversation instruction


def error_status(err: GatewayError) -> tuple[int, str]:
    status = _STATUS.get(err.status, err.status)
    if status not in ERROR_TYPES:
        status = 500 if status >= 500 else 400
    return status, ERROR_TYPES[status]


def error_body(err: GatewayError, request_id: str = "") -> bytes:
    """Anthropic's envelope; with the request's id at the top, as Anthropic answers."""
    _, kind = error_status(err)
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": err.message}}
    if request_id:
        body["request_id"] = request_id
    return json.dumps(body).encode()


def error_event(err: GatewayError) -> bytes:
    """A failure after the stream started, as Anthropic streams it."""
    return b"event: error\ndata: " + error_body(err) + b"\n\n"


def check_request(body: dict[str, Any]) -> tuple[str, bool]:
    """The checks every Messages request passes (native or translated): the model name and
    `stream`. Content blocks are left to the provider (native) or `to_chat` (translated)."""
    name = require_str(body, "model")
    refuse_routing_fields(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequest("max_tokens: must be a positive integer", param="max_tokens")
    check_messages(body)
    return name, optional_bool(body, "stream")


def check_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty list", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidRequest(f"messages.{i}.role: must be 'user', 'assistant' or 'system'",
                                 param=f"messages.{i}.role")
        if not isinstance(message.get("content"), (str, list)):
            raise InvalidRequest(f"messages.{i}.content: must be a string or a list of blocks",
                                 param=f"messages.{i}.content")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise InvalidRequest("system: must be a string or a list of text blocks", param="system")


# -- request: Messages -> Chat Completions ---------------------------------------------------

def to_chat(body: dict[str, Any], model_id: str) -> dict[str, Any]:
    """The chat request that asks a non-Claude model the same thing. 400 naming the field for
    what chat cannot carry."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: Extra inputs are not permitted", param=unknown[0])
    for name in ("top_k", "mcp_servers", "container", "output_format", "inference_geo"):
        if body.get(name) is not None:
            raise InvalidRequest(f"{name}: not supported for the model '{model_id}' (only "
                                 "Claude models take it)", param=name)
    chat: dict[str, Any] = {"model": body["model"], "messages": _chat_messages(body),
                            "max_completion_tokens": body["max_tokens"]}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) \
        else None
    if user:
        chat["user"] = str(user)
    if body.get("tools"):
        chat["tools"] = [_chat_tool(t, i) for i, t in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], chat)
    output = body.get("output_config")
    if isinstance(output, dict) and isinstance(output.get("format"), dict):
        schema = output["format"].get("schema")
        if output["format"].get("type") != "json_schema" or not isinstance(schema, dict):
            raise InvalidRequest("output_config.format: must be a json_schema format with a "
                                 "schema object", param="output_config.format")
        chat["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "output", "schema": schema,
                                                   "strict": True}}
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string", param=where)
    return value


def _system_text(system: Any, where: str = "system") -> str:
    if isinstance(system, str):
        return system
    parts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(f"{where}.{i}: must be a text block", param=f"{where}.{i}")
        parts.append(_text(block.get("text"), f"{where}.{i}.text"))
    return "\n\n".join(parts)


def _chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if body.get("system"):
        out.append({"role": "system", "content": _system_text(body["system"])})
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if message["role"] == "assistant":
            out.append(_assistant(content, i))
        elif message["role"] == "system":
            out.append({"role": "system", "content": _system_text(content, f"messages.{i}.content")})
        elif isinstance(content, str):
            out.append({"role": "user", "content": content})
        else:
            out.extend(_user(content, i))
    return out


def _assistant(content: Any, i: int) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts, calls = [], []
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text(block.get("text"), where + ".text"))
        elif kind == "tool_use":
            calls.append({"id": _text(block.get("id"), where + ".id"), "type": "function",
                          "function": {"name": _text(block.get("name"), where + ".name"),
                                       "arguments": json.dumps(block.get("input") or {})}})
        elif kind in ("thinking", "redacted_thinking"):
            continue        # earlier reasoning: chat has no way to send it back, nor needs to
        else:
            raise InvalidRequest(f"{where}.type: '{kind}' blocks are not supported in assistant "
                                 "turns for this model", param=where + ".type")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(content: list[Any], i: int) -> list[dict[str, Any]]:
    """Tool results become `tool` messages, which chat wants right after the assistant's calls,
    so before the rest of this turn."""
    results, parts = [], []
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            text, images = _tool_result(block, where)
            results.append({"role": "tool", "content": text,
                            "tool_call_id": _text(block.get("tool_use_id"), where + ".tool_use_id")})
            parts.extend(images)
        else:
            parts.append(_user_part(block, kind, where))
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _tool_result(block: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    texts, images = [], []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(_text(part.get("text"), f"{where}.content.{k}.text"))
            else:         # chat tool messages carry text only: images follow in the user turn
                images.append(_user_part(part, kind, f"{where}.content.{k}"))
    text = "\n".join(texts)
    return ("[tool error] " + text if block.get("is_error") else text), images


def _user_part(block: Any, kind: Any, where: str) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "text": _text(block.get("text"), where + ".text")}
    source = block.get("source") if isinstance(block, dict) else None
    if kind in ("image", "document") and isinstance(source, dict):
        if source.get("type") == "url":
            if kind == "image":
                return {"type": "image_url", "image_url": {"url": _text(source.get("url"),
                                                                        where + ".source.url")}}
        elif source.get("type") == "base64":
            media = _text(source.get("media_type"), where + ".source.media_type")
            data = f"data:{media};base64,{_text(source.get('data'), where + '.source.data')}"
            if kind == "image":
                return {"type": "image_url", "image_url": {"url": data}}
            return {"type": "file", "file": {"filename": "document.pdf", "file_data": data}}
        elif source.get("type") == "text" and kind == "document":
            return {"type": "text", "text": _text(source.get("data"), where + ".source.data")}
    raise InvalidRequest(f"{where}: this content block is not supported for this model (it "
                         "takes text, images, base64 PDFs and tool results)", param=where)


def _chat_tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise InvalidRequest(f"tools.{i}.type: the server tool '{kind}' is available on Claude "
                             "models only", param=f"tools.{i}.type")
    function: dict[str, Any] = {"name": _text(tool.get("name"), f"tools.{i}.name"),
                                "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any, chat: dict[str, Any]) -> None:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool":
        chat["tool_choice"] = {"type": "function",
                               "function": {"name": _text(choice.get("name"), "tool_choice.name")}}
    else:
        raise InvalidRequest("tool_choice.type: must be auto, any, tool or none",
                             param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") and chat.get("tools"):
        chat["parallel_tool_calls"] = False


# -- answer: Chat Completions -> Messages ----------------------------------------------------

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}


def message_id(chat_id: Any) -> str:
    return "msg_" + (str(chat_id) if chat_id else "translated")


def usage_from_chat(usage: Any) -> dict[str, int]:
    """Anthropic's usage counts cache reads apart from `input_tokens`; chat counts them in."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return {"input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - cached),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
            "output_tokens": int(usage.get("completion_tokens") or 0)}


def tool_input(arguments: Any) -> Any:
    """A tool call's arguments as the `input` object; text that is not a JSON object is kept
    whole under `_raw` rather than lost."""
    try:
        value = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def from_chat(data: dict[str, Any], model: str) -> dict[str, Any]:
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": message["reasoning_content"],
                        "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                        "input": tool_input(function.get("arguments"))})
    if message.get("refusal") and not content:
        content.append({"type": "text", "text": message["refusal"]})
    reason = STOP_REASONS.get(choice.get("finish_reason"), "end_turn")
    return {"id": message_id(data.get("id")), "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": reason, "stop_sequence": None,
            "usage": usage_from_chat(data.get("usage"))}


# -- count_tokens for translated models --------------------------------------------------------

def estimate_input_tokens(body: dict[str, Any]) -> int:
    """About four characters a token, plus a few per message and per tool: an estimate, since
    the gateway has no tokenizer for these models (the response says so in a header)."""
    chars = len(_system_text(body["system"])) if body.get("system") else 0
    for message in body["messages"]:
        content = message.get("content")
        chars += len(content) if isinstance(content, str) else len(json.dumps(content))
    tools = body.get("tools") or []
    chars += len(json.dumps(tools)) if tools else 0
    return chars // 4 + 4 * len(body["messages"]) + 8 * len(tools) + 1
