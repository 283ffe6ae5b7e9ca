"""The Azure Web PubSub service, through its own SDK (`azure-messaging-webpubsubservice`).

Output bindings are delivered only when an invocation ends, so a turn that streams deltas must
call the service itself: `send` posts one event to one connection as it is produced. Locally the
runner serves the same REST API, so this module never knows which one it talks to.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..config import Settings
from ..errors import ServiceUnavailable

log = logging.getLogger(__name__)

HUB = "realtime"                 # the hub the trigger functions are bound to


def group_for(session_id: str) -> str:
    return f"session.{session_id}"


def user_for(session_id: str) -> str:
    return f"rt-session.{session_id}"


def session_of_user(user_id: str | None) -> str | None:
    prefix = "rt-session."
    return user_id[len(prefix):] if user_id and user_id.startswith(prefix) else None


class PubSub:
    """One async service client per event loop (the SDK's transport is bound to a loop)."""

    def __init__(self, settings: Settings):
        self._connection_string = settings.webpubsub_connection_string
        self._token_minutes = settings.realtime_token_minutes
        self._clients: dict[int, Any] = {}

    @property
    def configured(self) -> bool:
        return bool(self._connection_string)

    def _client(self) -> Any:
        if not self.configured:
            raise ServiceUnavailable("Realtime sessions need Azure Web PubSub: the setting "
                                     "WebPubSubConnectionString is not set.",
                                     code="realtime_not_configured")
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
            client = WebPubSubServiceClient.from_connection_string(self._connection_string,
                                                                   hub=HUB)
            self._clients[loop_id] = client
        return client

    async def client_url(self, session_id: str) -> dict[str, Any]:
        """A client URL whose token admits only this session's user into this session's group,
        with no roles: the client may send events to the server, nothing else."""
        token = await self._client().get_client_access_token(
            user_id=user_for(session_id), roles=[], groups=[group_for(session_id)],
            minutes_to_expire=self._token_minutes)
        return {"url": token["url"], "expires_in": self._token_minutes * 60}

    async def send(self, connection_id: str, event: dict[str, Any]) -> None:
        from azure.core.exceptions import AzureError
        try:
            # A dict goes out as one JSON message (the SDK serializes it; a str would be sent
            # as a JSON string literal).
            await self._client().send_to_connection(connection_id, event,
                                                    content_type="application/json")
        except AzureError as exc:
            # The client left: the turn keeps its state; there is nobody to tell.
            log.warning("web pubsub send failed: %s", type(exc).__name__)

    async def close_session_connections(self, session_id: str, reason: str) -> None:
        from azure.core.exceptions import AzureError
        try:
            await self._client().close_group_connections(group=group_for(session_id),
                                                         reason=reason)
        except AzureError as exc:
            log.warning("web pubsub close failed: %s", type(exc).__name__)

    async def close_connection(self, connection_id: str, reason: str) -> None:
        from azure.core.exceptions import AzureError
        try:
            await self._client().close_connection(connection_id, reason=reason)
        except AzureError as exc:
            log.warning("web pubsub close failed: %s", type(exc).__name__)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
