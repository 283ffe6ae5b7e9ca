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
from . import ga_in, ga_out
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
        try:
            model = await gw.catalog.get(name, project)
        except NotFound as err:
            err.param = param                       # where the client named it
            raise
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


# Where each model is named in a beta body, and in a GA session object.
BETA_MODEL_PARAMS = {"chat": "model", "transcription": "input_audio_transcription.model",
                     "speech": "speech_model"}
GA_MODEL_PARAMS = {"chat": "session.model",
                   "transcription": "session.audio.input.transcription.model",
                   "speech": "session.speech_model"}


async def _choose_models(gw: Gateway, project: str, body: dict[str, Any],
                         params: dict[str, str] = BETA_MODEL_PARAMS) -> dict[str, str]:
    s = gw.settings
    transcription = body.get("input_audio_transcription") or {}
    chat = await _pick(gw, project, body.get("model"), s.realtime_chat_model, Operation.CHAT,
                       params["chat"])
    stt = await _pick(gw, project, transcription.get("model") if isinstance(transcription, dict)
                      else None, s.realtime_transcription_model, Operation.AUDIO_STT,
                      params["transcription"])
    tts = await _pick(gw, project, body.get("speech_model"), s.realtime_speech_model,
                      Operation.AUDIO_TTS, params["speech"])
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
            "protocol": session.protocol,
            "created_at": session.created_at, "expires_at": session.expires_at,
            "closed_at": session.closed_at, "usage": session.usage,
            "items": len(session.items)}


async def _create(gw: Gateway, caller: Caller, body: dict[str, Any], protocol: str,
                  token_minutes: int | None = None,
                  model_params: dict[str, str] = BETA_MODEL_PARAMS
                  ) -> tuple[RealtimeSession, dict[str, Any]]:
    """A stored session (beta-shaped `body`) and its Web PubSub client connection."""
    models = await _choose_models(gw, caller.project, body, model_params)
    update = {k: v for k, v in body.items() if k not in _MODEL_FIELDS}
    if isinstance(update.get("input_audio_transcription"), dict):
        update["input_audio_transcription"] = {
            k: v for k, v in update["input_audio_transcription"].items() if k != "model"}
    config = session_settings.apply_update(session_settings.default_config(), update, param="")
    now = utcnow()
    session = RealtimeSession(
        id="sess_" + secrets.token_hex(12), project=caller.project, key_id=caller.key_id,
        models=models, config=config, created_at=now.isoformat(), protocol=protocol,
        expires_at=(now + timedelta(minutes=gw.settings.realtime_session_minutes)).isoformat())
    # Fails before anything is stored.
    connection = await gw.pubsub.client_url(session.id, token_minutes)
    await gw.store.create_session(session)
    connection["expires_at"] = int((now + timedelta(seconds=connection["expires_in"]))
                                   .timestamp())
    return session, connection


async def create(gw: Gateway, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/realtime/sessions` (the beta shape): the session, its client secret (the
    Web PubSub client token) and where to connect."""
    session, connection = await _create(gw, caller, body, ga_in.BETA)
    return {**session_object(session),
            "client_secret": {"value": connection["token"],
                              "expires_at": connection["expires_at"]},
            "websocket_url": connection["url"],
            "websocket_base_url": connection["websocket_base_url"]}


def _secret_minutes(value: Any) -> int | None:
    """GA's `expires_after` ({anchor: created_at, seconds: 10-7200}) in the whole minutes a Web
    PubSub token lives (rounded up; the answer's `expires_at` says when it really expires)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"anchor", "seconds"}:
        raise InvalidRequest("'expires_after' must be an object with 'anchor' and 'seconds'.",
                             param="expires_after")
    if value.get("anchor", "created_at") != "created_at":
        raise InvalidRequest("'expires_after.anchor' must be 'created_at'.",
                             param="expires_after.anchor")
    seconds = value.get("seconds", 600)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 10 <= seconds <= 7200:
        raise InvalidRequest("'expires_after.seconds' must be an integer from 10 to 7200.",
                             param="expires_after.seconds")
    return -(-seconds // 60)


async def create_client_secret(gw: Gateway, caller: Caller,
                               body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/realtime/client_secrets` (GA): a client secret bound to one new session,
    the session in GA's shape, and the `websocket_base_url` to give the openai SDK."""
    for name in body:
        if name not in ("session", "expires_after"):
            raise InvalidRequest(f"Unknown parameter: '{name}'.", param=name,
                                 code="unknown_parameter")
    minutes = _secret_minutes(body.get("expires_after"))
    ga_session = body.get("session", {"type": "realtime"})
    session, connection = await _create(gw, caller, ga_in.session(ga_session), ga_in.GA,
                                        minutes, GA_MODEL_PARAMS)
    return {"value": connection["token"], "expires_at": connection["expires_at"],
            "session": ga_out.session(session_object(session)),
            "websocket_base_url": connection["websocket_base_url"]}


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
    # Closed in the store: an instance serving its connection refuses the next event however
    # old its copy (state.py), even if the service is slow to drop the connection.
    session, _ = await mutate(gw.store, session_id, lambda s: close(s, "session_ended"),
                              cache=gw.sessions)
    await gw.store.clear_audio(session_id)
    await gw.pubsub.close_session_connections(session_id, "session ended")
    return session_object(session)
