"""The conversation's items (OpenAI realtime items) and how they become chat messages."""
from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from . import events

_ROLES = ("user", "assistant", "system")


def _content_text(part: dict[str, Any]) -> str:
    return part.get("text") or part.get("transcript") or ""


def to_messages(items: list[dict[str, Any]], instructions: str) -> list[dict[str, Any]]:
    """Chat messages for the chat model: instructions first, then the items in order."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type")
        if kind == "message":
            text = " ".join(t for t in (_content_text(p) for p in item.get("content", [])) if t)
            if text:
                messages.append({"role": item["role"], "content": text})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments", "")}}]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": item.get("output", "")})
    return messages


def _check_content(content: Any, role: str) -> list[dict[str, Any]]:
    allowed = {"user": ("input_text",), "system": ("input_text",),
               "assistant": ("text",)}[role]
    if not isinstance(content, list) or not content:
        raise InvalidRequest("'item.content' must be a non-empty array.", param="item.content")
    out = []
    for i, part in enumerate(content):
        where = f"item.content[{i}]"
        if not isinstance(part, dict) or part.get("type") not in allowed:
            raise InvalidRequest(f"'{where}.type' must be {' or '.join(allowed)} for a {role} "
                                 "item (send audio with input_audio_buffer.append).",
                                 param=f"{where}.type")
        if not isinstance(part.get("text"), str):
            raise InvalidRequest(f"'{where}.text' must be a string.", param=f"{where}.text")
        out.append({"type": part["type"], "text": part["text"]})
    return out


def new_item(item: Any) -> dict[str, Any]:
    """A validated item from `conversation.item.create`."""
    if not isinstance(item, dict):
        raise InvalidRequest("'item' must be an object.", param="item")
    kind = item.get("type")
    item_id = item.get("id") or events.new_id("item")
    if not isinstance(item_id, str) or len(item_id) > 64:
        raise InvalidRequest("'item.id' must be a string of at most 64 characters.",
                             param="item.id")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise InvalidRequest("'item.role' must be user, assistant or system.",
                                 param="item.role")
        return {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "completed", "role": role,
                "content": _check_content(item.get("content"), role)}
    if kind == "function_call_output":
        for name in ("call_id", "output"):
            if not isinstance(item.get(name), str):
                raise InvalidRequest(f"'item.{name}' must be a string.", param=f"item.{name}")
        return {"id": item_id, "object": "realtime.item", "type": "function_call_output",
                "status": "completed", "call_id": item["call_id"], "output": item["output"]}
    raise InvalidRequest("'item.type' must be message or function_call_output.",
                         param="item.type")


def insert(items: list[dict[str, Any]], item: dict[str, Any], previous_item_id: Any) -> str | None:
    """Insert after `previous_item_id` (None: at the end, "root": first). Returns the id of
    the item now before it."""
    if any(i["id"] == item["id"] for i in items):
        raise InvalidRequest(f"An item with id '{item['id']}' already exists.", param="item.id",
                             code="duplicate_item_id")
    if previous_item_id is None:
        items.append(item)
    elif previous_item_id == "root":
        items.insert(0, item)
    else:
        index = find(items, previous_item_id, "previous_item_id")
        items.insert(index + 1, item)
    position = next(i for i, it in enumerate(items) if it["id"] == item["id"])
    return items[position - 1]["id"] if position > 0 else None


def find(items: list[dict[str, Any]], item_id: Any, param: str = "item_id") -> int:
    for index, item in enumerate(items):
        if item["id"] == item_id:
            return index
    raise InvalidRequest(f"No item with id '{item_id}' in the conversation.", param=param,
                         code="item_not_found")


def truncate(item: dict[str, Any], content_index: Any, audio_end_ms: Any) -> None:
    """Keep the assistant audio the user heard: the transcript keeps only whole sentences that
    had finished playing by `audio_end_ms`."""
    if item.get("role") != "assistant" or item.get("type") != "message":
        raise InvalidRequest("Only assistant message items can be truncated.", param="item_id")
    if not isinstance(content_index, int) or not 0 <= content_index < len(item["content"]):
        raise InvalidRequest("'content_index' is out of range.", param="content_index")
    part = item["content"][content_index]
    if part.get("type") != "audio":
        raise InvalidRequest("That content part has no audio.", param="content_index")
    total = sum(ms for _, ms in item.get("segments", []))
    if isinstance(audio_end_ms, bool) or not isinstance(audio_end_ms, int) \
            or not 0 <= audio_end_ms <= total:
        raise InvalidRequest(f"'audio_end_ms' must be from 0 to {total}.", param="audio_end_ms")
    kept, elapsed = [], 0
    for text, ms in item.get("segments", []):
        elapsed += ms
        if elapsed > audio_end_ms:
            break
        kept.append([text, ms])
    item["segments"] = kept
    part["transcript"] = "".join(text for text, _ in kept)
