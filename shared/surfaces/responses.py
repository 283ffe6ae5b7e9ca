"""The OpenAI Responses API's request, checked (translated to a Chat Completions body, the
pivot every adapter speaks, by `responses_chat.py`). Pure functions over dicts: no I/O.

    request = parse_request(body)                    # 400 naming the field, or a checked request
    items = input_items(request.input)               # `input` as the list of items it stands for
    chat = to_chat(request, history + items)         # responses_chat: the body dispatch.chat takes

Everything a request says is either carried to chat or refused with a 400: nothing is silently
dropped. Built-in tools (web search, file search, code interpreter, computer use, ...) need
OpenAI's own servers, so they are refused naming the tool type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest
from ..providers import ROUTING_FIELDS
from .responses_tools import check_tools

# Every request field the surface knows. Anything else is a 400, not dropped.
KNOWN_FIELDS = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "text", "max_output_tokens",
    "temperature", "top_p", "parallel_tool_calls", "reasoning", "stream", "store",
    "previous_response_id", "background", "metadata", "user", "safety_identifier",
    "service_tier", "truncation", "include", "stream_options", "prompt_cache_key",
    "client_metadata",
})
# Known at OpenAI, not offered here (each needs OpenAI-side state or tooling).
UNSUPPORTED_FIELDS = {
    "conversation": "the Conversations API is not offered; use 'previous_response_id'",
    "prompt": "stored prompt templates are not offered; send 'instructions' and 'input'",
    "max_tool_calls": "built-in tools are not offered, so there is nothing to cap",
    "top_logprobs": "log probabilities are not offered on this surface",
    "context_management": "server-side compaction is not offered",
}
INCLUDABLE = frozenset({"reasoning.encrypted_content"})   # accepted: reasoning comes back as text
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
ROLES = ("user", "system", "developer", "assistant")


@dataclass
class ResponsesRequest:
    model: str
    input: Any
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    text: dict[str, Any] = field(default_factory=lambda: {"format": {"type": "text"}})
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    stream: bool = False
    store: bool = True
    background: bool = False
    previous_response_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    truncation: str = "disabled"
    include: list[str] = field(default_factory=list)


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _typed(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise _bad(f"'{name}' must be {what}.", name)
    if not isinstance(value, kind):
        raise _bad(f"'{name}' must be {what}.", name)
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = _typed(body, name, (int, float), "a number")
    if value is not None and not low <= value <= high:
        raise _bad(f"'{name}' must be between {low:g} and {high:g}.", name)
    return value


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    """The request, checked field by field (a 400 naming the first bad one)."""
    for name in body:
        if name in ROUTING_FIELDS:
            raise InvalidRequest(f"'{name}' cannot be set by a request: the gateway's catalog "
                                 "decides where and as whom a model is called.", param=name,
                                 code="forbidden_parameter")
        if name in UNSUPPORTED_FIELDS:
            raise InvalidRequest(f"'{name}' is not supported by this gateway: "
                                 f"{UNSUPPORTED_FIELDS[name]}.", param=name,
                                 code="unsupported_parameter")
        if name not in KNOWN_FIELDS:
            raise InvalidRequest(f"Unknown parameter: '{name}'.", param=name,
                                 code="unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'." if model is None else
                             "'model' must be a non-empty string.", param="model",
                             code="missing_required_parameter" if model is None else None)
    if body.get("input") is None and not body.get("previous_response_id"):
        raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                             code="missing_required_parameter")
    req = ResponsesRequest(model=model, input=body.get("input"))
    req.instructions = _typed(body, "instructions", str, "a string")
    req.max_output_tokens = _typed(body, "max_output_tokens", int, "an integer")
    if req.max_output_tokens is not None and req.max_output_tokens < 1:
        raise _bad("'max_output_tokens' must be a positive integer.", "max_output_tokens")
    req.temperature = _number(body, "temperature", 0, 2)
    req.top_p = _number(body, "top_p", 0, 1)
    req.parallel_tool_calls = _typed(body, "parallel_tool_calls", bool, "a boolean")
    for flag in ("stream", "store", "background"):
        value = _typed(body, flag, bool, "a boolean")
        if value is not None:
            setattr(req, flag, value)
    req.previous_response_id = _typed(body, "previous_response_id", str, "a string")
    req.user = _typed(body, "user", str, "a string")
    req.safety_identifier = _typed(body, "safety_identifier", str, "a string")
    req.prompt_cache_key = _typed(body, "prompt_cache_key", str, "a string")
    req.metadata = _metadata(body.get("metadata"))
    _client_metadata(body.get("client_metadata"))
    req.reasoning = _reasoning(body.get("reasoning"))
    req.text = _text(body.get("text"))
    req.tools = check_tools(body.get("tools"))
    req.tool_choice = _tool_choice(body.get("tool_choice"), req.tools)
    req.service_tier = _typed(body, "service_tier", str, "a string")
    if req.service_tier not in (None, "auto", "default"):
        raise _bad("'service_tier' must be 'auto' or 'default' on this gateway.", "service_tier")
    truncation = _typed(body, "truncation", str, "a string") or "disabled"
    if truncation != "disabled":
        raise _bad("'truncation' must be 'disabled': this gateway does not drop input items "
                   "to fit a model's context.", "truncation")
    include = _typed(body, "include", list, "an array of strings") or []
    for i, value in enumerate(include):
        if value not in INCLUDABLE:
            raise _bad(f"'include[{i}]' ({value!r}) is not offered by this gateway.",
                       f"include[{i}]")
    req.include = include
    options = _typed(body, "stream_options", dict, "an object") or {}
    for name in options:
        if name != "include_obfuscation":
            raise _bad(f"Unknown parameter: 'stream_options.{name}'.", f"stream_options.{name}")
    if req.background and not req.store:
        raise _bad("'background' requires 'store' to be true: a background response is "
                   "read back by its id.", "background")
    input_items(req.input)                    # checked now, so a 400 comes before any work
    return req


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 16 or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
            for k, v in value.items()):
        raise _bad("'metadata' must be an object of at most 16 string values (keys up to 64 "
                   "characters, values up to 512).", "metadata")
    return dict(value)


def _client_metadata(value: Any) -> None:
    """Codex CLI's `client_metadata` (its session, thread and installation ids, for OpenAI's
    telemetry): checked, and neither forwarded nor stored, as it changes nothing in the answer."""
    if value is not None and not (isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
        raise _bad("'client_metadata' must be an object of string values.", "client_metadata")


def _reasoning(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'reasoning' must be an object.", "reasoning")
    for name in value:
        if name not in ("effort", "summary", "generate_summary"):
            raise _bad(f"Unknown parameter: 'reasoning.{name}'.", f"reasoning.{name}")
    effort = value.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise _bad(f"'reasoning.effort' must be one of {', '.join(EFFORTS)}.", "reasoning.effort")
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and summary not in SUMMARIES:
        raise _bad(f"'reasoning.summary' must be one of {', '.join(SUMMARIES)}.",
                   "reasoning.summary")
    return {"effort": effort, "summary": summary}


def _text(value: Any) -> dict[str, Any]:
    if value is None:
        return {"format": {"type": "text"}}
    if not isinstance(value, dict):
        raise _bad("'text' must be an object.", "text")
    for name in value:
        if name not in ("format", "verbosity"):
            raise _bad(f"Unknown parameter: 'text.{name}'.", f"text.{name}")
    fmt = value.get("format") or {"type": "text"}
    if not isinstance(fmt, dict):
        raise _bad("'text.format' must be an object.", "text.format")
    kind = fmt.get("type")
    if kind == "json_schema":
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise _bad("'text.format.name' is required for json_schema.", "text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise _bad("'text.format.schema' must be a JSON schema object.", "text.format.schema")
    elif kind not in ("text", "json_object"):
        raise _bad("'text.format.type' must be one of text, json_object, json_schema.",
                   "text.format.type")
    out: dict[str, Any] = {"format": fmt}
    verbosity = value.get("verbosity")
    if verbosity is not None:
        if verbosity not in ("low", "medium", "high"):
            raise _bad("'text.verbosity' must be one of low, medium, high.", "text.verbosity")
        out["verbosity"] = verbosity
    return out


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> Any:
    if value is None:
        return "auto"
    if value == "required" and not tools:
        raise _bad("'tool_choice' is 'required' but the request has no tools.", "tool_choice")
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") in ("function", "custom"):
        name = value.get("name")
        if not any(t.get("type") == value["type"] and t.get("name") == name for t in tools):
            raise _bad(f"'tool_choice.name' ({name!r}) is not one of the request's "
                       f"{value['type']} tools.", "tool_choice.name")
        return {"type": value["type"], "name": name}
    kind = value.get("type") if isinstance(value, dict) else value
    raise InvalidRequest(f"'tool_choice' {kind!r} is not supported by this gateway: use auto, "
                         "none, required, a function or a custom tool.", param="tool_choice",
                         code="unsupported_tool_type")


# -- input items ------------------------------------------------------------------------------
def _parts(content: Any, role: str, where: str) -> list[dict[str, Any]]:
    """A message's content as Responses content parts (a string becomes one text part)."""
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        part: dict[str, Any] = {"type": text_type, "text": content}
        if role == "assistant":
            part["annotations"] = []
        return [part]
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or an array of content parts.",
                   f"{where}.content")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        here = f"{where}.content[{j}]"
        if kind in ("input_text", "output_text"):
            if not isinstance(part.get("text"), str):
                raise _bad(f"'{here}.text' must be a string.", f"{here}.text")
        elif kind == "refusal":
            if not isinstance(part.get("refusal"), str):
                raise _bad(f"'{here}.refusal' must be a string.", f"{here}.refusal")
        elif kind == "input_image":
            if not isinstance(part.get("image_url"), str):
                raise _bad(f"'{here}.image_url' must be a URL or data URL (file ids are not "
                           "offered by this gateway).", f"{here}.image_url")
        elif kind == "input_file":
            if not isinstance(part.get("file_data"), str):
                raise _bad(f"'{here}.file_data' is required (file ids and URLs are not offered "
                           "by this gateway).", f"{here}.file_data")
        else:
            raise _bad(f"'{here}.type' {kind!r} is not a content part this gateway takes.",
                       f"{here}.type")
    return content


def input_items(value: Any) -> list[dict[str, Any]]:
    """`input` as a list of items: a string is one user message. Checked (400 on bad items)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list):
        raise _bad("'input' must be a string or an array of items.", "input")
    items = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"'{where}' must be an object.", where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise _bad(f"'{where}.role' must be one of {', '.join(ROLES)}.", f"{where}.role")
            items.append({**item, "type": "message",
                          "content": _parts(item.get("content"), role, where)})
        elif kind in ("function_call", "custom_tool_call"):
            for name in ("call_id", "name", "arguments" if kind == "function_call" else "input"):
                if not isinstance(item.get(name), str):
                    raise _bad(f"'{where}.{name}' must be a string.", f"{where}.{name}")
            if item.get("namespace") is not None and not isinstance(item["namespace"], str):
                raise _bad(f"'{where}.namespace' must be a string.", f"{where}.namespace")
            items.append(item)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not isinstance(item.get("call_id"), str):
                raise _bad(f"'{where}.call_id' must be a string.", f"{where}.call_id")
            output = item.get("output")
            if not isinstance(output, str):
                _parts(output, "user", where)
            items.append(item)
        elif kind == "tool_search_call":
            if not isinstance(item.get("call_id"), str):
                raise _bad(f"'{where}.call_id' must be a string.", f"{where}.call_id")
            items.append(item)
        elif kind == "tool_search_output":
            if not isinstance(item.get("call_id"), str):
                raise _bad(f"'{where}.call_id' must be a string.", f"{where}.call_id")
            check_tools(item.get("tools"), f"{where}.tools")
            items.append(item)
        elif kind == "reasoning":
            items.append(item)     # kept in the conversation; chat upstreams take no reasoning
        else:
            raise InvalidRequest(f"'{where}.type' {kind!r} is not an input item this gateway "
                                 "takes (message, function_call, function_call_output, "
                                 "custom_tool_call, custom_tool_call_output, "
                                 "tool_search_call, tool_search_output, reasoning).",
                                 param=f"{where}.type", code="unsupported_item_type")
    return items
