"""Azure/OpenAI audio: `audio/speech` (a real, decodable tone, streamed in chunks) and
`audio/transcriptions` / `audio/translations`."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from .content import SIMULATED_PREFIX, count_words
from .media import ENCODED_FORMATS, SAMPLE_RATE, encode, tone_pcm, wav, wav_duration
from .openai_chat import BadRequest
from .streaming import FAULT_KEY, StreamCut

SECONDS_PER_WORD = 0.25
MAX_SECONDS = 30.0
CHUNK_BYTES = SAMPLE_RATE * 2 // 10      # 0.1 s of 16-bit mono audio per streamed chunk
# OpenAI's formats and the content types OpenAI answers them with.  OpenAI's default is mp3;
# the simulator keeps WAV as its default so a client without an MP3 decoder can still listen.
_SPEECH_FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm", "mp3": "audio/mpeg", "opus": "audio/ogg",
                   "aac": "audio/aac", "flac": "audio/flac"}


async def speech(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """The tone streamed 0.1 s per chunk (chunked transfer, as Azure streams speech);
    fault `cut_after_chunks` aborts the connection after that many chunks."""
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise BadRequest("'input' is a required property.")
    fmt = body.get("response_format") or "wav"
    if fmt not in _SPEECH_FORMATS:
        raise BadRequest(f"response_format '{fmt}' is not one of {', '.join(_SPEECH_FORMATS)}.")
    speed = float(body.get("speed") or 1.0)
    seconds = min(MAX_SECONDS, max(0.25, count_words(text) * SECONDS_PER_WORD / max(speed, 0.25)))
    # Each voice gets its own pitch, so tests can tell voices apart.
    frequency = 220 + int(hashlib.sha256(str(body.get("voice", "")).encode()).hexdigest()[:4], 16) % 660
    pcm = tone_pcm(seconds, frequency)
    audio = wav(pcm) if fmt == "wav" else encode(pcm, fmt) if fmt in ENCODED_FORMATS else pcm
    response = web.StreamResponse(headers={"Content-Type": _SPEECH_FORMATS[fmt],
                                           "x-sim-sample-rate": str(SAMPLE_RATE)})
    await response.prepare(request)
    fault = request.get(FAULT_KEY)
    for index, start in enumerate(range(0, len(audio), CHUNK_BYTES)):
        if fault is not None and index >= fault.cut_after_chunks:
            if request.transport is not None:
                request.transport.abort()
            raise StreamCut()
        await response.write(audio[start:start + CHUNK_BYTES])
    await response.write_eof()
    return response


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


async def read_transcription_form(request: web.Request) -> tuple[bytes, dict[str, str]]:
    """The uploaded `file` bytes and the other (text) form fields."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("Content-Type must be multipart/form-data.")
    audio: bytes | None = None
    fields: dict[str, str] = {}
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file":
            audio = bytes(await part.read())
        elif part.name:
            fields[part.name] = await part.text()
    if audio is None:
        raise BadRequest("'file' is a required property.")
    return audio, fields


def _usage(model: str, text: str, duration: float) -> dict[str, Any]:
    """As OpenAI reports it: tokens for gpt-4o-*-transcribe, seconds for whisper."""
    if model.startswith("gpt-"):
        words, audio_tokens = count_words(text), max(1, int(duration * 10))
        return {"type": "tokens", "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": words, "total_tokens": audio_tokens + words}
    return {"type": "duration", "seconds": max(1, round(duration))}


def transcription(audio: bytes, fields: dict[str, str], model: str = "",
                  translate: bool = False) -> web.Response:
    text = f"{SIMULATED_PREFIX} {'translation' if translate else 'transcript'} of {len(audio)} bytes"
    duration = round(wav_duration(audio) or 1.0, 3)
    fmt = fields.get("response_format", "json")
    if fmt == "json":
        return web.json_response({"text": text, "usage": _usage(model or fields.get("model", ""), text, duration)})
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if fmt == "srt":
        cue = f"1\n{_timestamp(0, ',')} --> {_timestamp(duration, ',')}\n{text}\n\n"
        return web.Response(text=cue, content_type="text/plain")
    if fmt == "vtt":
        cue = f"WEBVTT\n\n{_timestamp(0, '.')} --> {_timestamp(duration, '.')}\n{text}\n\n"
        return web.Response(text=cue, content_type="text/plain")
    if fmt == "verbose_json":
        segment = {"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text, "tokens": [],
                   "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
        body = {"task": "translate" if translate else "transcribe",
                "language": "english" if translate else fields.get("language", "english"), "duration": duration,
                "text": text, "segments": [segment]}
        return web.json_response(body)
    raise BadRequest(f"response_format '{fmt}' is not one of json, text, srt, verbose_json, vtt.")
