"""The input audio buffer: append (with server VAD), commit, clear.

Audio is kept as pcm16 24 kHz in the store's chunked buffer; the session document holds only
its length and the detector's state. While nobody speaks under server VAD, the buffer is trimmed
to the last `prefix_padding_ms`, so silence never accumulates.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest
from ..store import RealtimeSession
from . import codecs, events, vad
from .state import edit

MIN_COMMIT_MS = 100
_TRIM_SLACK_MS = 2000


@dataclass
class AppendOutcome:
    transitions: list[vad.Transition] = field(default_factory=list)
    item_id: str | None = None            # the user item VAD speech belongs to
    start_ms: int = 0                     # where that speech starts in the stream
    buffer_start_ms: int = 0              # stream position of the buffer's first byte
    state: dict[str, Any] = field(default_factory=dict)    # the detector after this append
    pcm: bytes = b""                      # the appended audio, as session pcm


def decode_audio(payload: Any, fmt: str) -> bytes:
    if not isinstance(payload, str) or not payload:
        raise InvalidRequest("'audio' must be a non-empty base64 string.", param="audio")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("'audio' is not valid base64.", param="audio") from None
    return codecs.to_session_pcm(raw, fmt)


def _ms(pcm: bytes) -> int:
    return len(pcm) * 1000 // (codecs.RATE * 2)


def _append(session: RealtimeSession, audio: Any, limit_ms: int) -> AppendOutcome:
    # Decoded here, from the format of the copy being written: a session.update another
    # instance handled changes the copy (the write is refused and redone on a fresh one).
    pcm = decode_audio(audio, session.config["input_audio_format"])
    if session.buffer_ms + _ms(pcm) > limit_ms:
        raise InvalidRequest(f"The input audio buffer would exceed {limit_ms // 1000} s; commit "
                             "or clear it.", param="audio", code="input_audio_buffer_full")
    state = session.vad
    written = state.get("written_ms", 0)
    out = AppendOutcome(buffer_start_ms=written - session.buffer_ms)
    detection = session.config.get("turn_detection")
    if detection:
        out.transitions = vad.feed(state, pcm, written, detection)
        for change in out.transitions:
            if change.kind == "started":
                state["item_id"] = events.new_id("item")
                state["start_ms"] = change.at_ms
                if detection.get("interrupt_response") and session.response \
                        and not session.response.get("cancelled"):
                    # Barge-in: the running response (another invocation) sees this and stops.
                    session.response = {**session.response, "cancelled": "turn_detected"}
        out.item_id, out.start_ms = state.get("item_id"), state.get("start_ms", 0)
    state["written_ms"] = written + _ms(pcm)
    session.buffer_ms += _ms(pcm)
    out.state = {k: v for k, v in state.items() if k != "pending"}
    out.pcm = pcm
    return out


async def append(gw: Any, connection_id: str, session_id: str, audio: Any,
                 limit_ms: int) -> tuple[RealtimeSession, AppendOutcome]:
    """Append base64 `audio` (in the session's input format); returns the stored session.

    The audio itself is stored per append, as before: the next event of this connection (the
    commit) may run on another instance, which must find it in the store, and what a client
    appended survives this instance's crash."""
    stored, outcome = await edit(gw, connection_id, session_id,
                                 lambda s: _append(s, audio, limit_ms))
    await gw.store.append_audio(session_id, outcome.pcm)
    return stored, outcome


def _take(session: RealtimeSession, keep_from_ms: int | None,
          item_id: str | None) -> tuple[int, str]:
    """Mark the buffer up to `keep_from_ms` (relative to its start; None: all of it) as taken;
    returns (ms taken, the committed item's id). A whole-buffer take (a manual commit) is
    checked and sized on the copy written, so appends another instance stored count."""
    if keep_from_ms is None:
        check_commit(session)
        keep_from_ms, item_id = session.buffer_ms, session.vad.get("item_id")
    taken_ms = min(max(keep_from_ms, 0), session.buffer_ms)
    session.buffer_ms -= taken_ms
    session.vad.pop("item_id", None)
    return taken_ms, item_id or events.new_id("item")


async def take_turn(gw: Any, connection_id: str, session_id: str, end_ms: int | None,
                    start_ms: int, item_id: str | None) -> tuple[bytes, str]:
    """Cut a committed turn out of the buffer: [start_ms, end_ms) of the buffer (relative
    positions; end None: the whole buffer); whatever follows stays buffered."""
    store = gw.store
    _, (taken_ms, item_id) = await edit(gw, connection_id, session_id,
                                        lambda s: _take(s, end_ms, item_id))
    audio = await store.read_audio(session_id)
    cut = taken_ms * codecs.RATE * 2 // 1000
    await store.clear_audio(session_id)
    if len(audio) > cut:
        await store.append_audio(session_id, audio[cut:])
    begin = max(0, start_ms) * codecs.RATE * 2 // 1000
    return audio[begin:cut], item_id


async def trim_silence(gw: Any, connection_id: str, session: RealtimeSession) -> None:
    """Drop all but the last prefix_padding_ms while nobody speaks (server VAD only)."""
    detection = session.config.get("turn_detection")
    if not detection or session.vad.get("speaking"):
        return
    keep_ms = detection["prefix_padding_ms"]
    if session.buffer_ms <= keep_ms + _TRIM_SLACK_MS:
        return

    def shrink(s: RealtimeSession) -> int:
        if s.vad.get("speaking") or s.buffer_ms <= keep_ms:
            return 0
        drop = s.buffer_ms - keep_ms
        s.buffer_ms = keep_ms
        return drop
    _, dropped = await edit(gw, connection_id, session.id, shrink)
    if dropped:
        store = gw.store
        audio = await store.read_audio(session.id)
        await store.clear_audio(session.id)
        await store.append_audio(session.id, audio[dropped * codecs.RATE * 2 // 1000:])


def check_commit(session: RealtimeSession) -> None:
    if session.buffer_ms < MIN_COMMIT_MS:
        raise InvalidRequest(f"Error committing input audio buffer: buffer too small. Expected "
                             f"at least {MIN_COMMIT_MS}ms of audio, but buffer only has "
                             f"{session.buffer_ms}ms of audio.", param=None,
                             code="input_audio_buffer_commit_empty")


def clear(session: RealtimeSession) -> None:
    session.buffer_ms = 0
    for name in ("speaking", "silence_ms", "pending", "item_id", "start_ms"):
        session.vad.pop(name, None)
