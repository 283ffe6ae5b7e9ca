"""Server voice activity detection: energy on 20 ms pcm16 frames.

A frame's level is its RMS in dBFS mapped onto 0..1 (-60 dBFS -> 0, 0 dBFS -> 1); it is speech
when the level reaches the session's `threshold` (0.5 = -30 dBFS). Speech starts at the first
speech frame; it stops once `silence_duration_ms` of non-speech frames follow. The detector's
state is a small dict kept in the session, so the next append (another invocation) resumes it.
"""
from __future__ import annotations

import array
import math
import sys
from dataclasses import dataclass
from typing import Any

from .codecs import RATE

FRAME_MS = 20
FRAME_BYTES = RATE * 2 * FRAME_MS // 1000


def level(frame: bytes) -> float:
    samples = array.array("h")
    samples.frombytes(frame[: len(frame) - len(frame) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return 0.0
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    if rms < 1:
        return 0.0
    return min(1.0, max(0.0, (20 * math.log10(rms / 32768) + 60) / 60))


@dataclass
class Transition:
    kind: str          # "started" | "stopped"
    at_ms: int         # position in the input buffer


def feed(state: dict[str, Any], pcm: bytes, start_ms: int, config: dict[str, Any]
         ) -> list[Transition]:
    """Run the detector over `pcm`, which begins at `start_ms` of the buffer. Mutates `state`
    (`speaking`, `silence_ms`, `pending`: bytes of a partial frame carried to the next call)."""
    pending = bytes.fromhex(state.get("pending", "")) + pcm
    position = start_ms - len(bytes.fromhex(state.get("pending", ""))) * 1000 // (RATE * 2)
    transitions: list[Transition] = []
    offset = 0
    while offset + FRAME_BYTES <= len(pending):
        frame = pending[offset:offset + FRAME_BYTES]
        frame_start = position + offset * 1000 // (RATE * 2)
        offset += FRAME_BYTES
        if level(frame) >= config["threshold"]:
            state["silence_ms"] = 0
            if not state.get("speaking"):
                state["speaking"] = True
                transitions.append(Transition("started", frame_start))
        elif state.get("speaking"):
            state["silence_ms"] = state.get("silence_ms", 0) + FRAME_MS
            if state["silence_ms"] >= config["silence_duration_ms"]:
                state["speaking"] = False
                state["silence_ms"] = 0
                transitions.append(Transition("stopped", frame_start + FRAME_MS))
    state["pending"] = pending[offset:].hex()
    return transitions
