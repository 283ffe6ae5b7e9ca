"""Server events of the OpenAI Realtime protocol: their shapes and ids.

Every server event carries a fresh `event_id` and its `type`; items, responses and calls get
OpenAI-style prefixed ids. Builders return plain dicts, sent as JSON text frames.
"""
from __future__ import annotations

import secrets
from typing import Any

from ..errors import GatewayError


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": new_id("event"), "type": type_, **fields}


def error(err: GatewayError, client_event_id: str | None = None) -> dict[str, Any]:
    """OpenAI's realtime `error` event: the session stays open."""
    return event("error", error={"type": err.type, "code": err.code, "message": err.message,
                                 "param": err.param, "event_id": client_event_id})


def user_audio_item(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
            "role": "user", "content": [{"type": "input_audio", "transcript": None}]}


def assistant_item(item_id: str, status: str = "in_progress",
                   content: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": status,
            "role": "assistant", "content": content or []}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str = "",
                       status: str = "in_progress") -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "function_call", "status": status,
            "call_id": call_id, "name": name, "arguments": arguments}


def response(response_id: str, status: str = "in_progress", output: list | None = None,
             usage: dict | None = None, status_details: dict | None = None,
             modalities: list[str] | None = None) -> dict[str, Any]:
    return {"id": response_id, "object": "realtime.response", "status": status,
            "status_details": status_details, "output": output or [], "usage": usage,
            "modalities": modalities}


def usage(input_text: int, output_text: int, input_audio: int = 0,
          output_audio: int = 0) -> dict[str, Any]:
    """OpenAI's response usage. Audio tokens count the transcription's and speech model's
    reported tokens where they report them (they often do not: then 0)."""
    total_in, total_out = input_text + input_audio, output_text + output_audio
    return {"total_tokens": total_in + total_out, "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {"text_tokens": input_text, "audio_tokens": input_audio,
                                    "cached_tokens": 0},
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio}}
