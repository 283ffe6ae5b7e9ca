"""What the Web PubSub trigger functions call, one function per event.

The payload is the Web PubSub Functions extension's request as JSON: `connectionContext`
(hub, connectionId, userId, eventName, ...) plus, per event, `claims`/`query`/`subprotocols`
(connect), `data`/`dataType` (user events) or `reason` (disconnected). The user id in a client
token is the session's (`pubsub.user_for`); the service has already checked the token's
signature, audience and expiry, so the user id says which session a connection belongs to.
"""
from __future__ import annotations

import base64
import json
import logging
from typing import Any

from .. import telemetry
from ..errors import GatewayError, NotFound
from ..gateway import Gateway
from ..store import RealtimeSession
from . import ga_in, protocol, session_api
from .ordering import ORDER
from .outbox import Outbox
from .pubsub import HUB, group_for, session_of_user
from .state import NotServed, SessionEnded, check_live, expired, mutate, read

log = logging.getLogger(__name__)


def _parse(payload: Any) -> dict[str, Any]:
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode()
    data = json.loads(payload) if isinstance(payload, str) else payload
    if not isinstance(data, dict) or not isinstance(data.get("connectionContext"), dict):
        raise ValueError("not a Web PubSub trigger payload")
    return data


def _context(data: dict[str, Any]) -> tuple[str | None, str, str]:
    ctx = data["connectionContext"]
    return session_of_user(ctx.get("userId")), str(ctx.get("connectionId", "")), \
        str(ctx.get("hub", ""))


def _reject(message: str) -> str:
    return json.dumps({"code": "unauthorized", "errorMessage": message})


async def connect(gw: Gateway, payload: Any) -> str:
    """Admit a connection only for a live session that has no connection yet."""
    data = _parse(payload)
    session_id, _, hub = _context(data)
    if hub.lower() != HUB or session_id is None:
        return _reject("This token is not a realtime session token.")
    session = await read(gw.store, gw.sessions, session_id)
    if session is None or not session.active or expired(session):
        return _reject("The realtime session does not exist or has ended.")
    if session.connection_id is not None:
        return _reject("The realtime session already has a connection.")
    wanted = _handshake_dialect(data.get("headers"))
    if wanted is not None and wanted != session.protocol:
        await mutate(gw.store, session_id, lambda s: setattr(s, "protocol", wanted),
                     cache=gw.sessions)
    return json.dumps({"userId": data["connectionContext"]["userId"],
                       "groups": [group_for(session_id)], "roles": []})


def _handshake_dialect(headers: Any) -> str | None:
    """The openai SDK's beta client sends `OpenAI-Beta: realtime=v1` with its handshake; the
    GA client sends nothing to tell it apart (nor can a browser's WebSocket), so only the beta
    header decides anything here. The service passes the handshake's headers as
    {name: [values]}."""
    if not isinstance(headers, dict):
        return None
    for name, values in headers.items():
        if str(name).lower() == "openai-beta":
            values = values if isinstance(values, list) else [values]
            if any("realtime=v1" in str(v) for v in values):
                return ga_in.BETA
    return None


async def connected(gw: Gateway, payload: Any) -> None:
    session_id, connection_id, _ = _context(_parse(payload))
    if session_id is None:
        return

    def attach(s: RealtimeSession) -> bool:
        if not s.active or s.connection_id not in (None, connection_id):
            return False
        s.connection_id, s.status = connection_id, "connected"
        return True
    session, attached = await mutate(gw.store, session_id, attach, cache=gw.sessions)
    if not attached:           # another connection won the session, or it ended meanwhile
        await gw.pubsub.close_connection(connection_id, "session not available")
        return
    await Outbox(gw.pubsub, connection_id, dialect=session.protocol).emit(
        "session.created", session=session_api.session_object(session))


async def disconnected(gw: Gateway, payload: Any) -> None:
    session_id, connection_id, _ = _context(_parse(payload))
    if session_id is None:
        return

    def detach(s: RealtimeSession) -> None:
        if s.connection_id == connection_id:
            s.connection_id = None
            session_api.close(s, "client_disconnected")
    try:
        await mutate(gw.store, session_id, detach, cache=gw.sessions)
    except NotFound:
        return
    finally:
        gw.sessions.drop(session_id)       # nothing more is served for it here
    await gw.store.clear_audio(session_id)


def _event_data(data: dict[str, Any]) -> Any:
    raw = data.get("data")
    if data.get("dataType") == "binary" and isinstance(raw, str):
        try:
            return base64.b64decode(raw)
        except ValueError:
            return raw
    return raw


async def message(gw: Gateway, payload: Any) -> None:
    """One client event, traced as one request when tracing is on (its model calls are the
    children). Errors go back to the client as `error` events."""
    trace = telemetry.start_request("realtime_event")
    trace.enter()
    try:
        await _message(gw, payload, trace)
    finally:
        trace.leave()
        trace.finish(200)


async def _message(gw: Gateway, payload: Any, trace: Any) -> None:
    data = _parse(payload)
    session_id, connection_id, _ = _context(data)
    slot = await ORDER.acquire(connection_id)        # first await: keeps arrival order
    try:
        if session_id is None:
            return
        evt = protocol.parse_or_raw(_event_data(data))
        session = gw.sessions.get(session_id) if protocol.writes_first(evt) else None
        if session is None:
            session = await read(gw.store, gw.sessions, session_id)
        if session is None:
            return                               # no such session (any more)
        trace.annotate(**{"llmproxy.session_id": session_id})
        out = Outbox(gw.pubsub, connection_id, slot, dialect=session.protocol)
        try:
            try:
                check_live(session, connection_id)
            except (NotServed, SessionEnded):
                # A refusal is decided on the stored session, never on this instance's copy.
                session = await read(gw.store, gw.sessions, session_id)
                if session is None:
                    return
                check_live(session, connection_id)
            try:
                await protocol.handle(gw, session, evt, out)
            except GatewayError as err:
                if isinstance(err, SessionEnded):
                    raise
                await out.error(err)
        except NotServed:
            return                               # not this connection's session (any more)
        except SessionEnded as err:
            await out.error(err)
            await gw.pubsub.close_session_connections(session_id, "session ended")
    finally:
        slot.release()
