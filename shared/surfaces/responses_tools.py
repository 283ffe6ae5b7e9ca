"""The tools of a Responses request as chat function tools, and chat tool calls back as the
items of the tools the client offered. Pure functions over dicts: no I/O.

- `function` tools are chat function tools as they are.
- `namespace` tools (function and custom tools grouped under a shared name; Codex CLI sends its
  sub-agent tools so) are flattened: each member becomes a chat function named
  `<namespace>__<name>` (chat tool names allow letters, digits, `_` and `-` at every provider),
  and a call to it comes back with `name` and `namespace` apart, as OpenAI sends it.
- `custom` tools (free-form text input, optionally constrained by a Lark or regex grammar) become
  a chat function taking one string argument, `input`. Chat providers cannot constrain a tool's
  input by a grammar, so the grammar is given to the model in the description, to follow, not
  enforced. A call comes back as a `custom_tool_call` item whose `input` is that string.
- A client-executed `tool_search` tool (Codex CLI offers it to the models it knows as GPT-5.5
  and later) becomes a chat function `tool_search` with the client's parameters; a call comes
  back as a `tool_search_call` item, and the tools a `tool_search_output` item loads are offered
  to the model from then on. Tools marked `defer_loading` are offered only once loaded so.

    offered = tool_map(request_tools)                 # chat name -> Offered
    call = call_item(offered, item_id, call_id, chat_name, arguments)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest

SEPARATOR = "__"
TOOL_SEARCH = "tool_search"
_FUNCTION_FIELDS = ("type", "name", "description", "parameters", "strict", "defer_loading")
_CUSTOM_FIELDS = ("type", "name", "description", "format", "defer_loading")
_SEARCH_PARAMETERS = {"type": "object", "properties": {"query": {"type": "string"}},
                      "required": ["query"]}
_BUILT_IN_HINT = {
    "web_search": " Clients that offer it by default can leave it out (Codex CLI: "
                  "web_search = \"disabled\" in config.toml).",
}


@dataclass(frozen=True)
class Offered:
    """What a chat function name stands for in the client's terms."""
    kind: str                      # "function", "custom" or "tool_search"
    name: str
    namespace: str | None = None


def chat_name(name: str, namespace: str | None = None) -> str:
    return f"{namespace}{SEPARATOR}{name}" if namespace else name


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _check_member(tool: Any, where: str, namespaced: bool) -> None:
    if not isinstance(tool, dict):
        raise _bad(f"'{where}' must be an object.", where)
    kind = tool.get("type")
    if kind not in ("function", "custom"):
        allowed = "'function' and 'custom' tools are" if namespaced else \
            "'function', 'custom', 'namespace' and client-run 'tool_search' tools are"
        raise InvalidRequest(f"The tool type '{kind}' ({where}) is not supported by this gateway: "
                             f"only {allowed}; built-in tools run on OpenAI's servers."
                             f"{_BUILT_IN_HINT.get(kind, '')}", param=f"{where}.type",
                             code="unsupported_tool_type")
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise _bad(f"'{where}.name' must be a non-empty string.", f"{where}.name")
    known = _FUNCTION_FIELDS if kind == "function" else _CUSTOM_FIELDS
    for name in tool:
        if name not in known:
            raise _bad(f"Unknown parameter: '{where}.{name}'.", f"{where}.{name}")
    if not isinstance(tool.get("defer_loading", False), bool):
        raise _bad(f"'{where}.defer_loading' must be a boolean.", f"{where}.defer_loading")
    if kind == "function":
        params = tool.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _bad(f"'{where}.parameters' must be a JSON schema object.",
                       f"{where}.parameters")
        return
    fmt = tool.get("format")
    if fmt is None or fmt == {"type": "text"}:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "grammar":
        raise _bad(f"'{where}.format.type' must be 'text' or 'grammar'.", f"{where}.format.type")
    if fmt.get("syntax") not in ("lark", "regex"):
        raise _bad(f"'{where}.format.syntax' must be 'lark' or 'regex'.", f"{where}.format.syntax")
    if not isinstance(fmt.get("definition"), str):
        raise _bad(f"'{where}.format.definition' must be a string.", f"{where}.format.definition")


def _check_search(tool: dict[str, Any], where: str) -> None:
    for name in tool:
        if name not in ("type", "description", "execution", "parameters"):
            raise _bad(f"Unknown parameter: '{where}.{name}'.", f"{where}.{name}")
    if tool.get("execution") != "client":
        raise InvalidRequest(f"'{where}': a tool_search run by the server is not supported by "
                             "this gateway (it searches OpenAI-side tools); one with "
                             "'execution': 'client' is.", param=f"{where}.execution",
                             code="unsupported_tool_type")
    if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
        raise _bad(f"'{where}.parameters' must be a JSON schema object.", f"{where}.parameters")


def check_tools(value: Any, param: str = "tools") -> list[dict[str, Any]]:
    """`tools` (or the tools a tool_search_output item loads, at `param`), checked: a 400
    naming the first bad one (built-in tools name their type)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"'{param}' must be an array.", param)
    seen: set[str] = set()
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if isinstance(tool, dict) and tool.get("type") == TOOL_SEARCH and param == "tools":
            _check_search(tool, where)
            if TOOL_SEARCH in seen:
                raise _bad(f"'{where}': tool_search is offered twice.", where)
            seen.add(TOOL_SEARCH)
            continue
        if isinstance(tool, dict) and tool.get("type") == "namespace":
            for name in tool:
                if name not in ("type", "name", "description", "tools"):
                    raise _bad(f"Unknown parameter: '{where}.{name}'.", f"{where}.{name}")
            space = tool.get("name")
            if not isinstance(space, str) or not space:
                raise _bad(f"'{where}.name' must be a non-empty string.", f"{where}.name")
            if not isinstance(tool.get("tools"), list) or not tool["tools"]:
                raise _bad(f"'{where}.tools' must be a non-empty array of tools.",
                           f"{where}.tools")
            members = [(f"{where}.tools[{j}]", t, space) for j, t in enumerate(tool["tools"])]
        else:
            members = [(where, tool, None)]
        for here, member, space in members:
            _check_member(member, here, space is not None)
            name = chat_name(member["name"], space)
            if name in seen:
                raise _bad(f"'{here}.name': the tool name {name!r} is offered twice"
                           + (" (a namespace's tools are named <namespace>__<name>)"
                              if space else "") + ".", f"{here}.name")
            seen.add(name)
    return value


def _members(tools: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str | None]]:
    found = []
    for tool in tools:
        if tool.get("type") == "namespace":
            found += [(member, tool["name"]) for member in tool["tools"]]
        elif tool.get("type") in ("function", "custom", TOOL_SEARCH):
            found.append((tool, None))
    return found


def tool_map(tools: Any) -> dict[str, Offered]:
    """Chat function name -> the tool the client offered (from the request's, or the response
    object's echoed, `tools`, and those tool_search_output items loaded)."""
    if not isinstance(tools, list):
        return {}
    offered = {}
    for tool, space in _members([t for t in tools if isinstance(t, dict)]):
        if tool["type"] == TOOL_SEARCH:
            offered[TOOL_SEARCH] = Offered(TOOL_SEARCH, TOOL_SEARCH)
        else:
            offered[chat_name(tool["name"], space)] = Offered(tool["type"], tool["name"], space)
    return offered


def loaded_tools(items: Any) -> list[dict[str, Any]]:
    """The tools the conversation's tool_search_output items loaded (offered from then on)."""
    return [tool for item in items or [] if isinstance(item, dict)
            and item.get("type") == "tool_search_output" for tool in item.get("tools") or []]


def offered_tools(tools: Any, conversation: Any = ()) -> dict[str, Offered]:
    """Chat name -> tool, for a response's echoed `tools` and its conversation's loaded ones."""
    return tool_map((tools if isinstance(tools, list) else []) + loaded_tools(conversation))


def _custom_description(tool: dict[str, Any]) -> str:
    text = tool.get("description") or ""
    fmt = tool.get("format") or {}
    note = "Put the tool's whole input, as free-form text, in the string argument `input`."
    if fmt.get("type") == "grammar":
        note += (f" The input must match this {fmt['syntax']} grammar:\n"
                 f"{fmt['definition']}")
    return f"{text}\n\n{note}" if text else note


def chat_tools(tools: list[dict[str, Any]],
               loaded: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The chat tools for a request's `tools` and the tools tool search `loaded` so far (a
    deferred tool is left out until loaded; a loaded tool is offered once)."""
    converted, names = [], set()
    visible = [(t, space) for t, space in _members(tools) if not t.get("defer_loading")]
    for tool, space in visible + [(t, space) for t, space in _members(list(loaded))]:
        name = TOOL_SEARCH if tool["type"] == TOOL_SEARCH else chat_name(tool["name"], space)
        if name in names:
            continue
        names.add(name)
        if tool["type"] == TOOL_SEARCH:
            function = {"name": TOOL_SEARCH,
                        "parameters": tool.get("parameters") or _SEARCH_PARAMETERS}
            if tool.get("description"):
                function["description"] = tool["description"]
        elif tool["type"] == "custom":
            function = {"name": chat_name(tool["name"], space),
                        "description": _custom_description(tool),
                        "parameters": {"type": "object",
                                       "properties": {"input": {"type": "string"}},
                                       "required": ["input"]}}
        else:
            function = {"name": chat_name(tool["name"], space),
                        "parameters": tool.get("parameters") or {"type": "object",
                                                                 "properties": {}}}
            if tool.get("description") is not None:
                function["description"] = tool["description"]
            if tool.get("strict") is not None:
                function["strict"] = tool["strict"]
        converted.append({"type": "function", "function": function})
    return converted


def search_arguments(arguments: str) -> Any:
    """A tool_search call's arguments, an object in the item (the chat call's JSON text)."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments
    return value


def custom_input(arguments: str) -> str:
    """A custom tool's input from the chat call's JSON arguments (as they came, when the model
    did not answer with the `input` object it was asked for)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return arguments


def call_item(offered: dict[str, Offered], item_id: str, call_id: str, name: str,
              arguments: str, status: str = "completed") -> dict[str, Any]:
    """A chat tool call as the item of the tool the client offered."""
    tool = offered.get(name)
    if tool is not None and tool.kind == TOOL_SEARCH:
        return {"id": item_id, "type": "tool_search_call", "call_id": call_id,
                "arguments": search_arguments(arguments), "execution": "client",
                "status": status}
    if tool is not None and tool.kind == "custom":
        item = {"id": item_id, "type": "custom_tool_call", "call_id": call_id,
                "name": tool.name, "input": custom_input(arguments), "status": status}
    else:
        item = {"id": item_id, "type": "function_call", "call_id": call_id,
                "name": tool.name if tool else name, "arguments": arguments, "status": status}
    if tool is not None and tool.namespace:
        item["namespace"] = tool.namespace
    return item
