"""Resolve a model for a caller, check the operation, call the adapter, meter: one path for every
operation, whatever triggered it (the HTTP handlers, the realtime voice pipeline, ...).

Each public function takes an authenticated `Caller` and the model name the caller used, and
raises `shared.errors` types: 404 for a model the caller's project may not see, 400 for a model
without the operation or a bad value (naming the OpenAI field), and the provider's mapped errors.
Every provider call, failed or not, leaves one usage row (checks that fail before it do not).
Streams are metered when they end: iterated to the end (200), broken by the provider (its
status), or stopped early by the consumer (499: `aclose()` the chunks or call `close()`).
"""
from __future__ import annotations

import time
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

from .audio_files import sniff_audio, wav_duration
from .catalog import Operation, ResolvedModel
from .errors import GatewayError, InvalidRequest, PayloadTooLarge
from .gateway import Gateway
from .keys import Caller
from .providers import AudioStream, Completion, CompletionStream, Upload, Usage

Meter = Callable[[Usage, int], None]

SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_SPEECH_CHARACTERS = 4096          # OpenAI's limit for `input`


async def resolve(gw: Gateway, caller: Caller, model_name: str,
                  operation: Operation) -> ResolvedModel:
    """The model if the caller's project may use it for this operation; else 404 or 400."""
    model = await gw.catalog.get(model_name, caller.project)
    require_operation(model, operation)
    model.require_configured()
    return model


def require_operation(model: ResolvedModel, operation: Operation) -> None:
    if operation not in model.doc.operations:
        raise InvalidRequest(f"The model '{model.doc.id}' does not support the operation "
                             f"'{operation.value}'.", param="model",
                             code="operation_not_supported")


def _meter(gw: Gateway, caller: Caller, model: ResolvedModel, operation: Operation,
           stream: bool) -> Meter:
    started = time.perf_counter()

    def meter(usage: Usage, status: int) -> None:
        gw.usage.record(project=caller.project, key_id=caller.key_id, model=model,
                        model_name=model.doc.id, operation=operation.value, usage=usage,
                        latency_ms=(time.perf_counter() - started) * 1000, status=status,
                        stream=stream)
    return meter


async def _metered_call(meter: Meter, call: Awaitable[Any]) -> Any:
    """Await the adapter; meter failures here and whole answers at once (streams meter later)."""
    try:
        result = await call
    except GatewayError as err:
        meter(Usage(), err.status)
        raise
    if isinstance(result, Completion):
        meter(result.usage, 200)
    return result


async def metered_chunks(chunks: AsyncIterator[bytes], usage: Usage, meter: Meter,
                         close: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """Relay a stream; meter what was produced when it ends: 200, 499 if the consumer left
    early, or the error's status if the provider broke off."""
    status = 499
    try:
        async for chunk in chunks:
            yield chunk
        status = 200
    except GatewayError as err:
        status = err.status
        raise
    finally:
        await close()
        meter(usage, status)


def _meter_stream(result: AudioStream | CompletionStream, meter: Meter) -> None:
    """Make a stream meter itself exactly once, however it ends, and make its `close()` (for a
    consumer that never iterates) release the provider connection and meter 499."""
    metered = False
    upstream_close = result.close

    def meter_once(usage: Usage, status: int) -> None:
        nonlocal metered
        if not metered:
            metered = True
            meter(usage, status)

    async def close() -> None:
        await upstream_close()
        meter_once(result.usage, 499)
    result.chunks = metered_chunks(result.chunks, result.usage, meter_once, upstream_close)
    result.close = close


async def chat(gw: Gateway, caller: Caller, model_name: str, body: dict[str, Any],
               stream: bool) -> Completion | CompletionStream:
    model = await resolve(gw, caller, model_name, Operation.CHAT)
    meter = _meter(gw, caller, model, Operation.CHAT, stream)
    result = await _metered_call(meter, model.adapter.chat(model.prepared, body, stream,
                                                           model.secrets))
    if isinstance(result, CompletionStream):
        _meter_stream(result, meter)
    return result


async def create_embeddings(gw: Gateway, caller: Caller, model_name: str,
                            body: dict[str, Any]) -> Completion:
    """`body` is an OpenAI embeddings request already checked by `handlers.embeddings`."""
    model = await resolve(gw, caller, model_name, Operation.EMBEDDINGS)
    meter = _meter(gw, caller, model, Operation.EMBEDDINGS, False)
    return await _metered_call(meter, model.adapter.embeddings(model.prepared, body,
                                                               model.secrets))


async def generate_images(gw: Gateway, caller: Caller, model_name: str,
                          body: dict[str, Any]) -> Completion:
    """`body` is an OpenAI image generation request already checked by `handlers.images`."""
    model = await resolve(gw, caller, model_name, Operation.IMAGES)
    meter = _meter(gw, caller, model, Operation.IMAGES, False)
    return await _metered_call(meter, model.adapter.image_generation(model.prepared, body,
                                                                     model.secrets))


def _check_speech(text: str, voice: str, response_format: str | None,
                  speed: float | None) -> None:
    if not isinstance(text, str) or not text:
        raise InvalidRequest("'input' must be a non-empty string.", param="input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise InvalidRequest(f"'input' is longer than {MAX_SPEECH_CHARACTERS} characters.",
                             param="input")
    if not isinstance(voice, str) or not voice:
        raise InvalidRequest("'voice' must be a non-empty string.", param="voice")
    if response_format is not None and response_format not in SPEECH_FORMATS:
        raise InvalidRequest(f"'response_format' must be one of {', '.join(SPEECH_FORMATS)}.",
                             param="response_format")
    if speed is not None and not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidRequest(f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}.",
                             param="speed")


async def synthesize_speech(gw: Gateway, caller: Caller, model_name: str, text: str,
                            voice: str, response_format: str | None = None,
                            speed: float | None = None,
                            instructions: str | None = None) -> AudioStream:
    """Speak `text`; the returned stream yields audio as the provider sends it.

    Iterate `chunks` to the end, or stop early with `await audio.chunks.aclose()` /
    `await audio.close()`; either way the upstream connection is released and one usage row
    written. `response_format` is OpenAI's (`pcm` is
    24 kHz 16-bit mono little-endian; None leaves the provider's default, mp3 for OpenAI); a
    format the provider cannot produce comes back as the provider's 400. `content_type` on the
    result is the provider's.
    """
    _check_speech(text, voice, response_format, speed)
    model = await resolve(gw, caller, model_name, Operation.AUDIO_TTS)
    body: dict[str, Any] = {"input": text, "voice": voice}
    if response_format is not None:
        body["response_format"] = response_format
    if speed is not None:
        body["speed"] = speed
    if instructions is not None:
        body["instructions"] = instructions
    meter = _meter(gw, caller, model, Operation.AUDIO_TTS, True)
    audio: AudioStream = await _metered_call(
        meter, model.adapter.speech(model.prepared, body, model.secrets))
    audio.usage.characters = len(text)
    _meter_stream(audio, meter)
    return audio


def check_upload(gw: Gateway, audio: bytes, param: str = "file") -> str:
    """413 over the size limit, 400 unless the bytes are a known audio container; its name."""
    limit = gw.settings.max_audio_bytes
    if len(audio) > limit:
        raise PayloadTooLarge(f"The audio file is larger than this gateway accepts "
                              f"({limit} bytes).", param=param)
    kind = sniff_audio(audio)
    if kind is None:
        raise InvalidRequest("The uploaded file is not audio this gateway recognizes (WAV, MP3, "
                             "Ogg/Opus, FLAC, WebM or MP4/M4A).", param=param,
                             code="invalid_audio")
    return kind


async def transcribe(gw: Gateway, caller: Caller, model_name: str, audio: bytes,
                     filename: str, *, content_type: str = "application/octet-stream",
                     language: str | None = None, prompt: str | None = None,
                     response_format: str = "json", temperature: float | None = None,
                     timestamp_granularities: Sequence[str] = (),
                     translate: bool = False) -> Completion:
    """Transcribe (or, with `translate`, translate to English) one audio file.

    The answer's `body` is in `response_format` and its `media_type` says which: JSON for
    json/verbose_json, text/plain for text/srt/vtt. The file is checked (size, audio magic
    bytes) before any provider call.
    """
    check_upload(gw, audio)
    if response_format not in TRANSCRIPT_FORMATS:
        raise InvalidRequest(f"'response_format' must be one of {', '.join(TRANSCRIPT_FORMATS)}.",
                             param="response_format")
    model = await resolve(gw, caller, model_name, Operation.AUDIO_STT)
    fields: dict[str, Any] = {"response_format": response_format}
    for name, value in (("language", language), ("prompt", prompt),
                        ("temperature", temperature)):
        if value is not None:
            fields[name] = value
    if timestamp_granularities:
        fields["timestamp_granularities[]"] = list(timestamp_granularities)
    upload = Upload(filename or "audio", audio, content_type)
    meter = _meter(gw, caller, model, Operation.AUDIO_STT, False)

    async def call() -> Completion:
        result = await model.adapter.transcription(model.prepared, upload, fields,
                                                   model.secrets, translate=translate)
        if not result.usage.audio_seconds:
            result.usage.audio_seconds = wav_duration(audio) or 0.0
        return result
    return await _metered_call(meter, call())
