"""Resolve a model for a caller, check the operation, call the adapter, meter: one path for every
operation, whatever triggered it (the HTTP handlers, the realtime voice pipeline, ...).

Each public function takes an authenticated `Caller` and the model name the caller used, and
raises `shared.errors` types: 404 for a model the caller's project may not see, 400 for a model
without the operation or a bad value (naming the OpenAI field), and the provider's mapped errors.
Every provider call goes through `GuardedCall`: admitted by the project's limits (429/403),
routed over the model's deployments (retries, failover, timeouts: `routing.py`), and metered.
Every provider call, failed or not, and every call refused by a limit, leaves one usage row
(checks that fail before it do not). Streams are metered when they end: iterated to the end
(200), broken by the provider (its status), or stopped early by the consumer (499: `aclose()`
the chunks or call `close()`). Results carry the x-ratelimit-* headers in `headers`.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from .audio_files import sniff_audio, wav_duration
from .catalog import Operation, ResolvedModel
from .errors import GatewayError, InvalidRequest, PayloadTooLarge
from .gateway import Gateway
from .guarded_call import GuardedCall
from .handlers.request_checks import (check_chat_limits, check_output_limit,
                                      estimate_prompt_tokens, requested_output_tokens)
from .keys import Caller
from .providers import AudioStream, Completion, CompletionStream, Upload

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


async def _guarded(gw: Gateway, caller: Caller, model: ResolvedModel, operation: Operation,
                   attempt: Callable[[ResolvedModel], Awaitable[Any]], *, stream: bool = False,
                   reserve_tokens: int = 0, prompt_estimate: int = 0) -> Any:
    """Admit under the caller's limits, route over the model's deployments, meter."""
    call = await GuardedCall.admit(gw, caller, model, operation, stream=stream,
                                   reserve_tokens=reserve_tokens, prompt_estimate=prompt_estimate)
    return await call.run(attempt)


async def chat(gw: Gateway, caller: Caller, model_name: str, body: dict[str, Any],
               stream: bool, *, metered_as: Operation = Operation.CHAT
               ) -> Completion | CompletionStream:
    """A chat completion. `metered_as` names the surface the caller spoke in the usage row
    (the Responses API translates to chat and is metered as `Responses`)."""
    model = await resolve(gw, caller, model_name, Operation.CHAT)
    check_chat_limits(model.policy, body)
    prompt = estimate_prompt_tokens(body)

    def attempt(deployment: ResolvedModel) -> Awaitable[Completion | CompletionStream]:
        # A copy per attempt: adapters adjust the body for their provider.
        return deployment.adapter.chat(deployment.prepared, dict(body), stream,
                                       deployment.secrets)
    return await _guarded(gw, caller, model, metered_as, attempt, stream=stream,
                          reserve_tokens=prompt + requested_output_tokens(body),
                          prompt_estimate=prompt)


def speaks_responses(model: ResolvedModel) -> bool:
    """The model's provider serves the Responses API itself (the catalog lists the operation
    and its adapter has it): requests are then relayed, not translated through chat."""
    return Operation.RESPONSES in model.doc.operations and hasattr(model.adapter, "responses")


async def responses(gw: Gateway, caller: Caller, model: ResolvedModel, body: dict[str, Any],
                    stream: bool, prompt_estimate: int) -> Completion | CompletionStream:
    """A Responses API call relayed to a provider that speaks it (see `speaks_responses`)."""
    require_operation(model, Operation.RESPONSES)
    model.require_configured()
    asked = body.get("max_output_tokens")
    check_output_limit(model.policy, body, "max_output_tokens")
    reserve = prompt_estimate + (asked if isinstance(asked, int) else 0)

    def attempt(deployment: ResolvedModel) -> Awaitable[Completion | CompletionStream]:
        if not speaks_responses(deployment):
            raise GatewayError(f"The deployment '{deployment.doc.id}' of '{model.doc.id}' does "
                               "not serve the Responses API; an administrator must fix the "
                               "model's pool.", code="model_misconfigured")
        return deployment.adapter.responses(deployment.prepared, dict(body), stream,
                                            deployment.secrets)
    return await _guarded(gw, caller, model, Operation.RESPONSES, attempt, stream=stream,
                          reserve_tokens=reserve, prompt_estimate=prompt_estimate)


async def create_embeddings(gw: Gateway, caller: Caller, model_name: str,
                            body: dict[str, Any]) -> Completion:
    """`body` is an OpenAI embeddings request already checked by `handlers.embeddings`."""
    model = await resolve(gw, caller, model_name, Operation.EMBEDDINGS)
    return await _guarded(gw, caller, model, Operation.EMBEDDINGS,
                          lambda m: m.adapter.embeddings(m.prepared, body, m.secrets))


async def generate_images(gw: Gateway, caller: Caller, model_name: str,
                          body: dict[str, Any]) -> Completion:
    """`body` is an OpenAI image generation request already checked by `handlers.images`."""
    model = await resolve(gw, caller, model_name, Operation.IMAGES)
    return await _guarded(gw, caller, model, Operation.IMAGES,
                          lambda m: m.adapter.image_generation(m.prepared, body, m.secrets))


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
    audio: AudioStream = await _guarded(gw, caller, model, Operation.AUDIO_TTS,
                                        lambda m: m.adapter.speech(m.prepared, body, m.secrets),
                                        stream=True)
    audio.usage.characters = len(text)         # metered when the stream ends
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

    async def attempt(deployment: ResolvedModel) -> Completion:
        result = await deployment.adapter.transcription(deployment.prepared, upload, fields,
                                                        deployment.secrets, translate=translate)
        if not result.usage.audio_seconds:
            result.usage.audio_seconds = wav_duration(audio) or 0.0
        return result
    return await _guarded(gw, caller, model, Operation.AUDIO_STT, attempt)
