"""Server events in the GA Realtime protocol, from the ones the core produces (beta names).

The turn pipeline emits each event once, in the beta protocol's names and shapes; a GA
connection's `Outbox` passes each through `events()` here. What GA renamed or reshaped (read
from the openai SDK's `types/realtime/` against `types/beta/realtime/`):

- `response.text.*` -> `response.output_text.*`, `response.audio.*` -> `response.output_audio.*`,
  `response.audio_transcript.*` -> `response.output_audio_transcript.*`;
- `conversation.item.created` -> `conversation.item.added`, and `conversation.item.done` once
  the item is complete (at once for user and tool-output items; for the assistant's items with
  `response.output_item.done`);
- assistant content parts `text`/`audio` -> `output_text`/`output_audio` in items;
- `modalities` -> `output_modalities` (`["audio"]` or `["text"]`) in responses and sessions;
- the session object: `type: "realtime"`, `audio.input`/`audio.output` objects with formats as
  `{"type": "audio/pcm", "rate": 24000}`, `max_output_tokens`, `expires_at` in epoch seconds.

Events GA left alone (errors, input buffer, content parts, function calls, truncation) pass
through unchanged.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from . import events as server_events
from .ga_in import FORMATS, PCM_RATE

_RENAMES = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "conversation.item.created": "conversation.item.added",
}
_ASSISTANT_PARTS = {"text": "output_text", "audio": "output_audio"}
_GA_FORMAT = {beta: ga for ga, beta in FORMATS.items()}
# The gateway's own session fields (state, usage), shown in both protocols.
_GATEWAY_FIELDS = ("speech_model", "status", "connected", "protocol", "created_at", "closed_at",
                   "usage", "items")


def item(value: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if k != "segments"}
    if out.get("type") == "message" and out.get("role") == "assistant":
        out["content"] = [{**part, "type": _ASSISTANT_PARTS.get(part.get("type"),
                                                                part.get("type"))}
                          for part in out.get("content", [])]
    return out


def _modalities(value: list[str] | None) -> list[str]:
    return ["audio"] if value and "audio" in value else ["text"]


def response(value: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if k != "modalities"}
    out["output_modalities"] = _modalities(value.get("modalities"))
    out["output"] = [item(i) for i in value.get("output") or []]
    return out


def audio_format(beta: str) -> dict[str, Any]:
    fmt: dict[str, Any] = {"type": _GA_FORMAT[beta]}
    if beta == "pcm16":
        fmt["rate"] = PCM_RATE
    return fmt


def _epoch(value: Any) -> Any:
    if isinstance(value, str) and value:
        return int(datetime.fromisoformat(value).timestamp())
    return value


def session(value: dict[str, Any]) -> dict[str, Any]:
    """The session object (`session_api.session_object`) in GA's shape."""
    out = {
        "id": value["id"], "object": "realtime.session", "type": "realtime",
        "model": value["model"], "output_modalities": _modalities(value["modalities"]),
        "instructions": value["instructions"],
        "audio": {
            "input": {"format": audio_format(value["input_audio_format"]),
                      "transcription": value["input_audio_transcription"],
                      "turn_detection": value["turn_detection"], "noise_reduction": None},
            "output": {"format": audio_format(value["output_audio_format"]),
                       "voice": value["voice"], "speed": 1.0}},
        "tools": value["tools"], "tool_choice": value["tool_choice"],
        "max_output_tokens": value["max_response_output_tokens"], "tracing": None,
        "expires_at": _epoch(value.get("expires_at")),
    }
    out.update({name: value[name] for name in _GATEWAY_FIELDS if name in value})
    return out


def events(evt: dict[str, Any]) -> list[dict[str, Any]]:
    """The GA events for one core event: itself renamed and reshaped, and any GA adds."""
    kind = evt["type"]
    out = {**evt, "type": _RENAMES.get(kind, kind)}
    if isinstance(out.get("item"), dict):
        out["item"] = item(out["item"])
    if isinstance(out.get("response"), dict):
        out["response"] = response(out["response"])
    if isinstance(out.get("session"), dict):
        out["session"] = session(out["session"])
    extra: list[dict[str, Any]] = []
    if kind == "conversation.item.created" and out["item"].get("status") == "completed":
        extra.append(server_events.event("conversation.item.done", item=out["item"],
                                         previous_item_id=out.get("previous_item_id")))
    elif kind == "response.output_item.added" and out["item"].get("type") == "function_call":
        extra.append(server_events.event("conversation.item.added", item=out["item"],
                                         previous_item_id=None))
    elif kind == "response.output_item.done":
        extra.append(server_events.event("conversation.item.done", item=out["item"],
                                         previous_item_id=None))
    return [out, *extra]
