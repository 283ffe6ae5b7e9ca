"""The local Web PubSub client endpoint: `ws://HOST:PORT/client/hubs/{hub}?access_token=...`
(or the token as `Authorization: Bearer`, as the service takes it too).

Plain WebSocket clients: every frame is user event `message`. `json.webpubsub.azure.v1` clients:
`event` frames become user events (acked), `joinGroup`/`leaveGroup`/`sendToGroup` are allowed
only with the matching role in the token or connect response, as the service does.
"""
from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from starlette.websockets import WebSocket, WebSocketDisconnect

from .webpubsub_hub import JSON_PROTOCOL, Connection, Hubs, context


def verify_client_token(token: str, key: str, audience: str) -> dict[str, Any] | None:
    try:
        return jwt.decode(token, key, algorithms=["HS256"], audience=audience,
                          options={"require": ["exp", "aud"]})
    except jwt.PyJWTError:
        return None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _client_token(ws: WebSocket) -> str:
    """The token from `access_token` in the query or, as the service also takes it, from an
    `Authorization: Bearer` header (what the openai SDK sends with `api_key=`)."""
    token = ws.query_params.get("access_token")
    if token:
        return token
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _headers(ws: WebSocket) -> dict[str, list[str]]:
    """The handshake's headers as the connect event carries them: name -> values."""
    found: dict[str, list[str]] = {}
    for name, value in ws.headers.items():
        found.setdefault(name, []).append(value)
    return found


async def client_endpoint(ws: WebSocket, hubs: Hubs, key: str, endpoint: str) -> None:
    hub = ws.path_params["hub"].lower()
    claims = verify_client_token(_client_token(ws), key, f"{endpoint.lower()}/client/hubs/{hub}")
    if claims is None:
        await ws.close(code=1008, reason="invalid or expired access token")
        return
    requested = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")
                 if p.strip()]
    conn = Connection(id=hubs.new_connection_id(), hub=hub, user_id=claims.get("sub"),
                      socket=ws, protocol=JSON_PROTOCOL if JSON_PROTOCOL in requested else None,
                      roles=set(_list(claims.get("role"))),
                      groups=set(_list(claims.get("webpubsub.group"))))
    answer = await hubs.invoke(hub, "System", "connect", {
        "connectionContext": context(conn, "System", "connect"), "claims": claims,
        "query": dict(ws.query_params), "headers": _headers(ws), "subprotocols": requested,
        "clientCertificates": []})
    if hubs.trigger(hub, "system", "connect") is not None:
        if not isinstance(answer, dict) or answer.get("code"):
            reason = (answer or {}).get("errorMessage", "refused") if isinstance(answer, dict) \
                else "refused"
            await ws.close(code=1008, reason=str(reason)[:120])
            return
        conn.user_id = answer.get("userId") or conn.user_id
        conn.roles |= set(_list(answer.get("roles")))
        conn.groups |= set(_list(answer.get("groups")))
    await ws.accept(subprotocol=conn.protocol)
    hubs.connections[conn.id] = conn
    if conn.protocol == JSON_PROTOCOL:
        await conn.send_json({"type": "system", "event": "connected", "userId": conn.user_id,
                              "connectionId": conn.id})
    await hubs.invoke(hub, "System", "connected",
                      {"connectionContext": context(conn, "System", "connected")})
    try:
        await _receive(ws, conn, hubs)
    finally:
        conn.closed = True
        hubs.connections.pop(conn.id, None)
        await hubs.invoke(hub, "System", "disconnected", {
            "connectionContext": context(conn, "System", "disconnected"), "reason": ""})


async def _receive(ws: WebSocket, conn: Connection, hubs: Hubs) -> None:
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            if conn.protocol == JSON_PROTOCOL:
                await _json_frame(conn, hubs, text if text is not None else data.decode())
            elif text is not None:
                hubs.spawn(_user_event(conn, hubs, "message", text, "text", None))
            else:
                hubs.spawn(_user_event(conn, hubs, "message", base64.b64encode(data).decode(),
                                       "binary", None))
    except WebSocketDisconnect:
        return


async def _user_event(conn: Connection, hubs: Hubs, name: str, data: Any, data_type: str,
                      ack_id: Any) -> None:
    """One user event, as its own invocation (the service posts each event separately)."""
    found = hubs.trigger(conn.hub, "user", name) is not None
    answer = await hubs.invoke(conn.hub, "User", name, {
        "connectionContext": context(conn, "User", name), "data": data, "dataType": data_type})
    if isinstance(answer, dict) and "data" in answer:
        kind = answer.get("dataType", "text")
        raw = answer["data"] if isinstance(answer["data"], str) else json.dumps(answer["data"])
        await conn.deliver(raw.encode(), kind, {"from": "server"})
    if ack_id is not None:
        ack: dict[str, Any] = {"type": "ack", "ackId": ack_id, "success": found}
        if not found:
            ack["error"] = {"name": "InternalServerError", "message": f"No handler for '{name}'."}
        await conn.send_json(ack)


async def _json_frame(conn: Connection, hubs: Hubs, text: str) -> None:
    try:
        frame = json.loads(text)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        await conn.send_json({"type": "ack", "success": False, "error": {
            "name": "InvalidRequest", "message": "Frames must be JSON objects."}})
        return
    kind, ack_id, group = frame.get("type"), frame.get("ackId"), frame.get("group")
    if kind == "event":
        data = frame.get("data")
        data_type = frame.get("dataType", "json")
        if data_type == "json" and not isinstance(data, str):
            data = json.dumps(data)
        hubs.spawn(_user_event(conn, hubs, str(frame.get("event", "message")), data, data_type,
                               ack_id))
        return
    if kind in ("joinGroup", "leaveGroup", "sendToGroup"):
        role = "webpubsub.sendToGroup" if kind == "sendToGroup" else "webpubsub.joinLeaveGroup"
        if not isinstance(group, str) or not conn.may(role, group):
            await _nack(conn, ack_id, "Forbidden",
                        f"The connection has no permission to {kind} '{group}'.")
            return
        if kind == "joinGroup":
            conn.groups.add(group)
        elif kind == "leaveGroup":
            conn.groups.discard(group)
        else:
            await _send_to_group(conn, hubs, frame, group)
        if ack_id is not None:
            await conn.send_json({"type": "ack", "ackId": ack_id, "success": True})
        return
    await _nack(conn, ack_id, "InvalidRequest", f"Unknown frame type '{kind}'.")


async def _send_to_group(conn: Connection, hubs: Hubs, frame: dict, group: str) -> None:
    data = frame.get("data")
    data_type = frame.get("dataType", "json")
    raw = json.dumps(data) if data_type == "json" else str(data)
    for member in hubs.in_group(conn.hub, group):
        if frame.get("noEcho") and member.id == conn.id:
            continue
        await member.deliver(raw.encode(), data_type,
                             {"from": "group", "fromUserId": conn.user_id, "group": group})


async def _nack(conn: Connection, ack_id: Any, name: str, message: str) -> None:
    await conn.send_json({"type": "ack", "ackId": ack_id, "success": False,
                          "error": {"name": name, "message": message}})
