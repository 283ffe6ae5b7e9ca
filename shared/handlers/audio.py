"""POST /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations"""
from __future__ import annotations

from .. import dispatch
from ..config import Settings
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..multipart import Form, parse_form
from .validate import optional_number, optional_str, refuse_routing_fields, require_str

SPEECH_FIELDS = frozenset({"model", "input", "voice", "response_format", "speed", "instructions"})
TRANSCRIPTION_FIELDS = frozenset({"model", "language", "prompt", "response_format",
                                  "temperature", "timestamp_granularities[]"})
GRANULARITIES = ("word", "segment")
_FORM_OVERHEAD = 64 * 1024            # room for the form's other fields and boundaries


def upload_limit(settings: Settings) -> int:
    """The largest body the transcription endpoints read: the audio limit plus form overhead,
    so an oversized file is answered 413 by the size check that names the file."""
    return settings.max_audio_bytes + _FORM_OVERHEAD


def _refuse_unknown(names, allowed: frozenset[str]) -> None:
    for name in names:
        if name not in allowed:
            raise InvalidRequest(f"'{name}' is not a parameter this endpoint takes.", param=name)


async def speech(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    refuse_routing_fields(body)
    _refuse_unknown(body, SPEECH_FIELDS)
    audio = await dispatch.synthesize_speech(
        gw, caller, require_str(body, "model"), require_str(body, "input"),
        require_str(body, "voice"),
        response_format=optional_str(body, "response_format", dispatch.SPEECH_FORMATS),
        speed=optional_number(body, "speed"), instructions=optional_str(body, "instructions"))
    return ApiResponse(stream=audio.chunks, media_type=audio.content_type, headers=audio.headers)


def _number_field(form: Form, name: str) -> float | None:
    raw = form.value(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a number.", param=name) from None


def _granularities(form: Form) -> list[str]:
    values = form.fields.get("timestamp_granularities[]", [])
    for value in values:
        if value not in GRANULARITIES:
            raise InvalidRequest("'timestamp_granularities[]' values must be 'word' or "
                                 "'segment'.", param="timestamp_granularities[]")
    return values


async def _transcription(gw: Gateway, req: ApiRequest, translate: bool) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    form = parse_form(req.body, req.headers.get("content-type", ""))
    refuse_routing_fields(form.fields)
    _refuse_unknown(form.fields, TRANSCRIPTION_FIELDS)
    _refuse_unknown(form.files, frozenset({"file"}))
    upload = form.files.get("file")
    if upload is None:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file",
                             code="missing_required_parameter")
    model = req.model or form.value("model")
    if not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model",
                             code="missing_required_parameter")
    result = await dispatch.transcribe(
        gw, caller, model, upload.content, upload.filename, content_type=upload.content_type,
        language=form.value("language"), prompt=form.value("prompt"),
        response_format=form.value("response_format") or "json",
        temperature=_number_field(form, "temperature"),
        timestamp_granularities=_granularities(form), translate=translate)
    return ApiResponse(body=result.body, media_type=result.media_type, headers=result.headers)


async def transcriptions(gw: Gateway, req: ApiRequest) -> ApiResponse:
    return await _transcription(gw, req, translate=False)


async def translations(gw: Gateway, req: ApiRequest) -> ApiResponse:
    return await _transcription(gw, req, translate=True)
