"""Creating, listing, reading and ending realtime sessions (called by the HTTP handlers).

A session is created before any WebSocket exists: it fixes the models (from the catalog, visible
to the caller's project), stores the configuration and mints a Web PubSub client URL whose token
names only this session's user and group, with no roles, and expires quickly.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from ..catalog import Operation, ResolvedModel
from ..errors import InvalidRequest, NotFound
from ..gateway import Gateway
from ..keys import Caller
from ..store import RealtimeSession
from ..store.base import utcnow
from . import settings as session_settings
from .state import load, mutate

_MODEL_FIELDS = ("model", "speech_model")


async def _pick(gw: Gateway, project: str, requested: Any, default: str, operation: Operation,
                param: str) -> ResolvedModel:
    """The requested model, else the configured default, else the first catalog model visible
    to the project that can do `operation` (preferring one the catalog marks `audio_realtime`)."""
    if requested is not None and (not isinstance(requested, str) or not requested):
        raise InvalidRequest(f"'{param}' must be a non-empty string.", param=param)
    name = requested or default
    if name:
        model = await gw.catalog.get(name, project)
        if operation not in model.doc.operations:
            raise InvalidRequest(f"The model '{model.doc.id}' does not support the operation "
                                 f"'{operation.value}'.", param=param,
                                 code="operation_not_supported")
        return model
    candidates = [m for m in await gw.catalog.visible(project) if operation in m.doc.operations]
    if candidates:
        marked = [m for m in candidates if Operation.AUDIO_REALTIME in m.doc.operations]
        return (marked or candidates)[0]
    raise InvalidRequest(f"No model in the catalog available to this project can do "
                         f"'{operation.value}'; name one with '{param}'.", param=param,
                         code="no_model_available")


async def _choose_models(gw: Gateway, project: str, body: dict[str, Any]) -> dict[str, str]:
    s = gw.settings
    transcription = body.get("input_audio_transcription") or {}
    chat = await _pick(gw, project, body.get("model"), s.realtime_chat_model, Operation.CHAT,
                       "model")
    stt = await _pick(gw, project, transcription.get("model") if isinstance(transcription, dict)
                      else None, s.realtime_transcription_model, Operation.AUDIO_STT,
                      "input_audio_transcription.model")
    tts = await _pick(gw, project, body.get("speech_model"), s.realtime_speech_model,
                      Operation.AUDIO_TTS, "speech_model")
    return {"chat": chat.doc.id, "transcription": stt.doc.id, "speech": tts.doc.id}


def session_object(session: RealtimeSession) -> dict[str, Any]:
    """The session as the API shows it: OpenAI's session fields plus state and usage."""
    config = dict(session.config)
    config["input_audio_transcription"] = {
        **(config.get("input_audio_transcription") or {}),
        "model": session.models["transcription"]}
    return {"id": session.id, "object": "realtime.session", "model": session.models["chat"],
            "speech_model": session.models["speech"], **config,
            "status": session.status, "connected": session.connection_id is not None,
            "created_at": session.created_at, "expires_at": session.expires_at,
            "closed_at": session.closed_at, "usage": session.usage,
            "items": len(session.items)}


async def create(gw: Gateway, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    models = await _choose_models(gw, caller.project, body)
    update = {k: v for k, v in body.items() if k not in _MODEL_FIELDS}
    if isinstance(update.get("input_audio_transcription"), dict):
        update["input_audio_transcription"] = {
            k: v for k, v in update["input_audio_transcription"].items() if k != "model"}
    config = session_settings.apply_update(session_settings.default_config(), update, param="")
    now = utcnow()
    session = RealtimeSession(
        id="sess_" + secrets.token_hex(12), project=caller.project, key_id=caller.key_id,
        models=models, config=config, created_at=now.isoformat(),
        expires_at=(now + timedelta(minutes=gw.settings.realtime_session_minutes)).isoformat())
    connection = await gw.pubsub.client_url(session.id)      # fails before anything is stored
    await gw.store.create_session(session)
    expires = int((now + timedelta(seconds=connection["expires_in"])).timestamp())
    return {**session_object(session),
            "client_secret": {"value": connection["url"].split("access_token=", 1)[1],
                              "expires_at": expires},
            "websocket_url": connection["url"]}


async def owned(gw: Gateway, caller: Caller, session_id: str) -> RealtimeSession:
    """The caller's session; another project's answers 404 exactly like a missing one."""
    try:
        session = await load(gw.store, session_id)
    except NotFound:
        session = None
    if session is None or session.project != caller.project:
        raise NotFound(f"No realtime session '{session_id}'.", param="session_id",
                       code="session_not_found")
    return session


async def list_for(gw: Gateway, caller: Caller) -> list[dict[str, Any]]:
    return [session_object(s) for s in await gw.store.list_sessions(caller.project)]


def close(session: RealtimeSession, reason: str) -> None:
    """Mark closed and cancel the response in progress (its pipeline polls for this)."""
    if session.status != "closed":
        session.status = "closed"
        session.closed_at = utcnow().isoformat()
        session.vad = {}
    if session.response and not session.response.get("cancelled"):
        session.response = {**session.response, "cancelled": reason}


async def end(gw: Gateway, caller: Caller, session_id: str) -> dict[str, Any]:
    await owned(gw, caller, session_id)
    session, _ = await mutate(gw.store, session_id, lambda s: close(s, "session_ended"))
    await gw.store.clear_audio(session_id)
    await gw.pubsub.close_session_connections(session_id, "session ended")
    return session_object(session)
