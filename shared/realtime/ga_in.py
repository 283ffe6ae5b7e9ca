"""The GA Realtime protocol's client side, read into the session's own (beta-shaped) settings.

The core keeps one session model: the beta protocol's flat fields (`modalities`, `voice`,
`input_audio_format`, ...; `settings.py`). A GA client nests them (`session.type: "realtime"`,
`output_modalities`, `audio.input.format: {"type": "audio/pcm", "rate": 24000}`,
`audio.output.voice`, `max_output_tokens`); these functions map GA fields onto those, checking
each value under the name the client used, so an error names `session.audio.output.voice`, not
an internal field. GA fields the gateway cannot honour are refused, never dropped; fields left
at their "off" value (`tracing: null`, `noise_reduction: null`, ...) are accepted.

Which protocol a connection speaks is read from what it sends (`detect`): a `session.update`
with `session.type` (the GA SDK always sends it) or GA-only fields is GA; one with beta-only
fields is beta. See docs/realtime.md.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from . import settings

BETA, GA = "beta", "ga"
FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
PCM_RATE = 24000
_BETA_SESSION = {"modalities", "voice", "input_audio_format", "output_audio_format",
                 "input_audio_transcription", "turn_detection", "temperature",
                 "max_response_output_tokens"}
_GA_SESSION = {"type", "output_modalities", "audio", "max_output_tokens"}
# GA fields accepted only at the value that means "not used".
_OFF_VALUES: dict[str, tuple[Any, ...]] = {
    "tracing": (None,), "truncation": ("auto",), "include": (None, []), "prompt": (None,),
    "reasoning": (None,), "parallel_tool_calls": (None, True)}


def detect(evt: dict[str, Any]) -> str | None:
    """The protocol this client event is written in, when it says (most events read alike)."""
    kind, body = evt.get("type"), None
    if kind == "session.update":
        body = evt.get("session")
        if isinstance(body, dict):
            if set(body) & _GA_SESSION:
                return GA
            if set(body) & _BETA_SESSION:
                return BETA
    elif kind == "response.create":
        body = evt.get("response")
        if isinstance(body, dict):
            if set(body) & {"output_modalities", "audio"}:
                return GA
            if set(body) & {"modalities", "voice", "output_audio_format", "temperature"}:
                return BETA
    return None


def _bad(where: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=where, code=code)


def _unsupported(where: str, what: str = "") -> InvalidRequest:
    return _bad(where, f"'{where}' is not supported by this gateway's realtime sessions"
                       f"{what}.", code="unsupported_parameter")


def _unknown(where: str) -> InvalidRequest:
    return _bad(where, f"Unknown parameter: '{where}'.", code="unknown_parameter")


def _object(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"'{where}' must be an object.")
    for name in value:
        if name not in allowed:
            raise _unknown(f"{where}.{name}")
    return value


def _off_or_unsupported(name: str, value: Any, where: str) -> None:
    if name not in _OFF_VALUES:
        raise _unknown(where)
    if value not in _OFF_VALUES[name]:
        raise _unsupported(where)


def output_modalities(value: Any, where: str) -> list[str]:
    """GA `["audio"]` (speech with its transcript) or `["text"]`, as the beta modalities."""
    if not isinstance(value, list) or not value or len(value) != len(set(value)) \
            or not set(value) <= {"text", "audio"}:
        raise _bad(where, f"'{where}' must be [\"audio\"] or [\"text\"].")
    return ["text", "audio"] if "audio" in value else ["text"]


def audio_format(value: Any, where: str) -> str:
    fmt = _object(value, where, {"type", "rate"})
    kind = fmt.get("type", "audio/pcm")
    if kind not in FORMATS:
        raise _bad(f"{where}.type", f"'{where}.type' must be one of {', '.join(FORMATS)}.")
    if fmt.get("rate") not in (None, PCM_RATE) or (kind != "audio/pcm" and "rate" in fmt):
        raise _bad(f"{where}.rate", f"'{where}.rate' must be {PCM_RATE} (audio/pcm only).")
    return FORMATS[kind]


def _turn_detection(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict) and value.get("type") == "semantic_vad":
        raise _unsupported(f"{where}.type", " (use 'server_vad')")
    if isinstance(value, dict) and "idle_timeout_ms" in value:
        if value["idle_timeout_ms"] is not None:
            raise _unsupported(f"{where}.idle_timeout_ms")
        value = {k: v for k, v in value.items() if k != "idle_timeout_ms"}
    return settings.check("turn_detection", value, where)


def _audio_input(value: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in _object(value, where, {"format", "transcription", "turn_detection",
                                              "noise_reduction"}).items():
        at = f"{where}.{name}"
        if name == "format":
            out["input_audio_format"] = audio_format(field, at)
        elif name == "transcription":
            out["input_audio_transcription"] = settings.check("input_audio_transcription",
                                                              field, at)
        elif name == "turn_detection":
            out["turn_detection"] = _turn_detection(field, at)
        elif field is not None:                                # noise_reduction
            raise _unsupported(at)
    return out


def _audio_output(value: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in _object(value, where, {"format", "voice", "speed"}).items():
        at = f"{where}.{name}"
        if name == "format":
            out["output_audio_format"] = audio_format(field, at)
        elif name == "voice":
            if isinstance(field, dict):
                raise _unsupported(at, " as a custom voice object; name a voice")
            out["voice"] = settings.check("voice", field, at)
        elif field not in (None, 1, 1.0):                       # speed
            raise _unsupported(at, " other than 1.0")
    return out


def _audio(value: Any, where: str, sides: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    audio = _object(value, where, sides)
    if audio.get("input") is not None:
        out.update(_audio_input(audio["input"], f"{where}.input"))
    if audio.get("output") is not None:
        out.update(_audio_output(audio["output"], f"{where}.output"))
    return out


def session(value: Any, param: str = "session") -> dict[str, Any]:
    """A GA session object (`session.update`, `POST /v1/realtime/client_secrets`) as the
    session's beta-shaped fields; `model` and `speech_model` are passed on for the caller to
    choose or check."""
    if not isinstance(value, dict):
        raise _bad(param, f"'{param}' must be an object.")
    if value.get("type") != "realtime":
        where = f"{param}.type"
        if value.get("type") == "transcription":
            raise _unsupported(where, " as 'transcription' (use 'realtime')")
        raise _bad(where, f"'{where}' must be 'realtime'.")
    out: dict[str, Any] = {}
    for name, field in value.items():
        where = f"{param}.{name}"
        if name == "type":
            continue
        if name in ("model", "speech_model"):
            out[name] = field
        elif name == "output_modalities":
            out["modalities"] = output_modalities(field, where)
        elif name == "audio":
            out.update(_audio(field, where, {"input", "output"}))
        elif name == "max_output_tokens":
            out["max_response_output_tokens"] = settings.check("max_response_output_tokens",
                                                               field, where)
        elif name in ("instructions", "tools", "tool_choice"):
            out[name] = settings.check(name, field, where)
        else:
            _off_or_unsupported(name, field, where)
    return out


def response(value: Any, param: str = "response") -> dict[str, Any] | None:
    """`response.create`'s GA `response` object as the beta overrides `pipeline` takes."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(param, f"'{param}' must be an object.")
    out: dict[str, Any] = {}
    for name, field in value.items():
        where = f"{param}.{name}"
        if name == "output_modalities":
            out["modalities"] = output_modalities(field, where)
        elif name == "audio":
            out.update(_audio(field, where, {"output"}))
        elif name == "max_output_tokens":
            out["max_output_tokens"] = settings.check("max_response_output_tokens", field, where)
        elif name in ("instructions", "tools", "tool_choice"):
            out[name] = settings.check(name, field, where)
        elif name in ("metadata", "conversation"):
            out[name] = field
        elif name == "input":
            raise _unsupported(where, " (add items with conversation.item.create)")
        else:
            _off_or_unsupported(name, field, where)
    return out


def item(value: Any) -> Any:
    """A GA item for `conversation.item.create`: assistant text is `output_text` in GA."""
    if not isinstance(value, dict) or not isinstance(value.get("content"), list):
        return value
    content = [{**part, "type": "text"}
               if isinstance(part, dict) and part.get("type") == "output_text" else part
               for part in value["content"]]
    return {**value, "content": content}
