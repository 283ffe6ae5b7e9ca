"""The local Web PubSub's state: connections, groups, and the trigger functions to call.

What the service does between a client socket and the Function App: it checks the client's
token, calls the `connect` trigger (which may refuse), joins the token's and the response's
groups, calls `connected`, turns each client frame into a user event and `disconnected` at the
end. Server-to-client messages come from the REST API (`webpubsub_rest`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("runner.webpubsub")

JSON_PROTOCOL = "json.webpubsub.azure.v1"


@dataclass
class Connection:
    id: str
    hub: str
    user_id: str | None
    socket: Any                                   # starlette WebSocket
    protocol: str | None                          # None (plain) or JSON_PROTOCOL
    roles: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    def may(self, role: str, group: str) -> bool:
        return role in self.roles or f"{role}.{group}" in self.roles

    async def deliver(self, data: bytes, data_type: str, sender: dict[str, Any]) -> None:
        """A server or group message, framed the way this connection's protocol expects."""
        if self.closed:
            return
        async with self.lock:
            try:
                if self.protocol == JSON_PROTOCOL:
                    payload: Any = data.decode("utf-8", "replace")
                    if data_type == "json":
                        payload = json.loads(payload)
                    elif data_type == "binary":
                        import base64
                        payload = base64.b64encode(data).decode()
                    await self.socket.send_text(json.dumps(
                        {"type": "message", **sender, "dataType": data_type, "data": payload}))
                elif data_type == "binary":
                    await self.socket.send_bytes(data)
                else:
                    await self.socket.send_text(data.decode("utf-8", "replace"))
            except Exception as exc:          # the client went away mid-send
                log.debug("deliver to %s failed: %s", self.id, type(exc).__name__)

    async def send_json(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            try:
                await self.socket.send_text(json.dumps(frame))
            except Exception:
                pass


class Hubs:
    """Connections by id, group membership, and the registered trigger functions."""

    def __init__(self, triggers: dict[tuple[str, str, str], Any]):
        self.triggers = triggers                  # (hub, eventType, eventName) -> function
        self.connections: dict[str, Connection] = {}
        self.tasks: set[asyncio.Task] = set()

    @staticmethod
    def new_connection_id() -> str:
        return secrets.token_urlsafe(16)

    def in_group(self, hub: str, group: str) -> list[Connection]:
        return [c for c in self.connections.values()
                if c.hub == hub and group in c.groups and not c.closed]

    def for_user(self, hub: str, user_id: str) -> list[Connection]:
        return [c for c in self.connections.values()
                if c.hub == hub and c.user_id == user_id and not c.closed]

    def trigger(self, hub: str, event_type: str, event_name: str) -> Any:
        return self.triggers.get((hub.lower(), event_type.lower(), event_name.lower()))

    async def invoke(self, conn_hub: str, event_type: str, event_name: str,
                     payload: dict[str, Any]) -> Any:
        """Call the registered trigger function with the request as a JSON string."""
        function = self.trigger(conn_hub, event_type, event_name)
        if function is None:
            return None
        try:
            result = await function(json.dumps(payload))
        except Exception:
            log.exception("web pubsub trigger %s/%s failed", event_type, event_name)
            return None
        if isinstance(result, str) and result:
            try:
                return json.loads(result)
            except ValueError:
                return None
        return result

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def close(self, conn: Connection, reason: str = "") -> None:
        if conn.closed:
            return
        conn.closed = True
        if conn.protocol == JSON_PROTOCOL:
            await conn.send_json({"type": "system", "event": "disconnected", "message": reason})
        try:
            await conn.socket.close(code=1000, reason=reason[:120])
        except Exception:
            pass


def context(conn: Connection, event_type: str, event_name: str) -> dict[str, Any]:
    return {"hub": conn.hub, "connectionId": conn.id, "eventName": event_name,
            "eventType": event_type, "userId": conn.user_id, "states": {},
            "origin": "127.0.0.1"}
