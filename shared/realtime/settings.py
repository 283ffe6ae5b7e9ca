"""The realtime session object (OpenAI's shape): defaults and validation of the fields a client
may set at creation or with `session.update`. Unknown fields are refused, never dropped."""
from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest

AUDIO_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
VAD_DEFAULTS = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                "silence_duration_ms": 500, "create_response": True, "interrupt_response": True}


def default_config() -> dict[str, Any]:
    return {"modalities": ["text", "audio"], "instructions": "", "voice": "alloy",
            "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "input_audio_transcription": None, "turn_detection": dict(VAD_DEFAULTS),
            "tools": [], "tool_choice": "auto", "temperature": 0.8,
            "max_response_output_tokens": "inf"}


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or sorted(set(value)) not in (["text"], ["audio", "text"]) \
            or len(value) != len(set(value)):
        raise _bad(param, f"'{param}' must be [\"text\"] or [\"text\", \"audio\"].")
    return list(value)


def _format(value: Any, param: str) -> str:
    if value not in AUDIO_FORMATS:
        raise _bad(param, f"'{param}' must be one of {', '.join(AUDIO_FORMATS)}.")
    return value


def _text(value: Any, param: str, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise _bad(param, f"'{param}' must be a{'' if allow_empty else ' non-empty'} string.")
    return value


def _number(value: Any, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(param, f"'{param}' must be a number from {low} to {high}.")
    return value


def _integer(value: Any, param: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(param, f"'{param}' must be an integer from {low} to {high}.")
    return value


def _turn_detection(value: Any, param: str) -> dict[str, Any] | None:
    if value is None or value == {"type": "none"}:
        return None
    if not isinstance(value, dict) or value.get("type", "server_vad") != "server_vad":
        raise _bad(param, f"'{param}' must be null or an object with type 'server_vad'.")
    unknown = set(value) - set(VAD_DEFAULTS)
    if unknown:
        raise _bad(f"{param}.{sorted(unknown)[0]}", f"Unknown parameter '{param}."
                                                    f"{sorted(unknown)[0]}'.")
    vad = {**VAD_DEFAULTS, **value}
    _number(vad["threshold"], f"{param}.threshold", 0.0, 1.0)
    _integer(vad["prefix_padding_ms"], f"{param}.prefix_padding_ms", 0, 5000)
    _integer(vad["silence_duration_ms"], f"{param}.silence_duration_ms", 20, 10000)
    for flag in ("create_response", "interrupt_response"):
        if not isinstance(vad[flag], bool):
            raise _bad(f"{param}.{flag}", f"'{param}.{flag}' must be a boolean.")
    return vad


def _transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"model", "language", "prompt"}:
        raise _bad(param, f"'{param}' must be null or an object with 'model', 'language', "
                          "'prompt'.")
    for name, field in value.items():
        _text(field, f"{param}.{name}")
    return dict(value)


def tool_list(value: Any, param: str = "tools") -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad(param, f"'{param}' must be an array.")
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _bad(where, f"'{where}' must be an object with type 'function'.")
        if set(tool) - {"type", "name", "description", "parameters"}:
            raise _bad(where, f"'{where}' may have only type, name, description, parameters.")
        _text(tool.get("name"), f"{where}.name", allow_empty=False)
        if not isinstance(tool.get("parameters", {}), dict):
            raise _bad(f"{where}.parameters", f"'{where}.parameters' must be a JSON schema.")
    return [{"type": "function", **t} for t in value]


def tool_choice(value: Any, param: str = "tool_choice") -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and \
            isinstance(value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise _bad(param, f"'{param}' must be 'auto', 'none', 'required' or "
                      "{\"type\": \"function\", \"name\": ...}.")


def max_tokens(value: Any, param: str = "max_response_output_tokens") -> Any:
    return "inf" if value == "inf" else _integer(value, param, 1, 4096)


_FIELDS = {
    "modalities": _modalities,
    "instructions": lambda v, p: _text(v, p),
    "voice": lambda v, p: _text(v, p, allow_empty=False),
    "input_audio_format": _format,
    "output_audio_format": _format,
    "input_audio_transcription": _transcription,
    "turn_detection": _turn_detection,
    "tools": tool_list,
    "tool_choice": tool_choice,
    "temperature": lambda v, p: _number(v, p, 0.0, 2.0),
    "max_response_output_tokens": max_tokens,
}


def check(name: str, value: Any, where: str) -> Any:
    """One session field's checked value (the GA protocol's fields map onto these); a 400
    naming `where`, the field as the client wrote it."""
    return _FIELDS[name](value, where)


# Accepted but fixed by the session's creation (the models are chosen once, from the catalog).
READ_ONLY = ("model", "speech_model", "id", "object")


def apply_update(config: dict[str, Any], update: Any, param: str = "session",
                 fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new config with `update` applied; a 400 naming the first bad field."""
    if not isinstance(update, dict):
        raise _bad(param, f"'{param}' must be an object.")
    new = dict(config)
    for name, value in update.items():
        where = f"{param}.{name}" if param else name
        if name in READ_ONLY:
            if fixed is not None and value != fixed.get(name):
                raise _bad(where, f"'{where}' cannot change after the session is created.")
            continue
        check = _FIELDS.get(name)
        if check is None:
            raise InvalidRequest(f"Unknown parameter: '{where}'.", param=where,
                                 code="unknown_parameter")
        new[name] = check(value, where)
    return new
