"""Transcription and speech for realtime turns, through the gateway's core dispatch
(`shared.dispatch`, the functions /v1/audio/transcriptions and /v1/audio/speech use): model
resolution for the session's project, the catalog's operation check, the provider call and
metering. There is no second provider path for audio here.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

from ..audio_files import wav_from_pcm
from ..errors import ServiceUnavailable, UpstreamError
from ..gateway import Gateway
from ..keys import Caller
from ..store import RealtimeSession
from . import codecs


def dispatch() -> Any:
    try:
        from .. import dispatch as core
    except ImportError:
        raise ServiceUnavailable("Speech and transcription are not available in this build of "
                                 "the gateway.", code="audio_dispatch_unavailable") from None
    return core


def caller_of(session: RealtimeSession) -> Caller:
    return Caller(project=session.project, key_id=session.key_id)


async def model_cost(gw: Gateway, session: RealtimeSession, role: str, **units: Any) -> float:
    """What `units` (tokens, characters, audio_seconds) cost on the session's `role` model."""
    model = await gw.catalog.get(session.models[role], session.project)
    return model.doc.costs.cost(units.pop("prompt_tokens", 0), units.pop("completion_tokens", 0),
                                **units)


async def transcribe(gw: Gateway, session: RealtimeSession, pcm: bytes) -> tuple[str, float]:
    """The transcript of pcm16 24 kHz audio, sent as a WAV file, and what it cost."""
    options = session.config.get("input_audio_transcription") or {}
    result = await dispatch().transcribe(
        gw, caller_of(session), session.models["transcription"], wav_from_pcm(pcm, codecs.RATE),
        "audio.wav", content_type="audio/wav", language=options.get("language"),
        prompt=options.get("prompt"), response_format="json")
    try:
        text = str(json.loads(result.body).get("text", "")).strip()
    except (ValueError, AttributeError):
        raise UpstreamError("The transcription model answered with a body that is not "
                            "JSON.") from None
    usage = result.usage
    cost = await model_cost(gw, session, "transcription", prompt_tokens=usage.prompt_tokens,
                            completion_tokens=usage.completion_tokens,
                            audio_seconds=usage.audio_seconds)
    return text, cost


async def speak(gw: Gateway, session: RealtimeSession, text: str, voice: str,
                chunk_bytes: int) -> AsyncIterator[bytes]:
    """Speech for `text` as pcm16 24 kHz, in pieces of `chunk_bytes` (the last may be shorter),
    yielded as the speech model streams them. Asked for as `pcm` (OpenAI: 24 kHz s16le mono)."""
    audio = await dispatch().synthesize_speech(gw, caller_of(session), session.models["speech"],
                                               text, voice, "pcm")
    pending = b""
    try:
        async for piece in audio.chunks:
            pending += piece
            while len(pending) >= chunk_bytes:
                yield pending[:chunk_bytes]
                pending = pending[chunk_bytes:]
        if pending:
            yield pending[: len(pending) - len(pending) % 2]
    finally:
        await audio.close()
