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
        self._endpoint = settings.webpubsub_endpoint
        self._token_minutes = settings.realtime_token_minutes
        self._clients: dict[int, Any] = {}

    @property
    def configured(self) -> bool:
        return bool(self._connection_string or self._endpoint)

    def _client(self) -> Any:
        if not self.configured:
            raise ServiceUnavailable("Realtime sessions need Azure Web PubSub: neither "
                                     "WebPubSubConnectionString nor (with a managed identity) "
                                     "WebPubSubConnectionString__serviceUri is set.",
                                     code="realtime_not_configured")
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = self._new_client()
            self._clients[loop_id] = client
        return client

    def _new_client(self) -> Any:
        """With a connection string its access key signs requests (and the local runner's Web
        PubSub); without one, the managed identity's Entra token does (Azure, where the template
        turns access keys off and grants the identity Web PubSub Service Owner)."""
        from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
        if self._connection_string:
            return WebPubSubServiceClient.from_connection_string(self._connection_string, hub=HUB)
        from ..azure_auth import async_credential
        return WebPubSubServiceClient(endpoint=self._endpoint, hub=HUB,
                                      credential=async_credential())

    async def client_url(self, session_id: str, minutes: int | None = None) -> dict[str, Any]:
        """A client URL whose token admits only this session's user into this session's group,
        with no roles: the client may send events to the server, nothing else. Its
        `websocket_base_url` is what the openai SDK takes (it appends `/realtime`, the hub)."""
        minutes = minutes or self._token_minutes
        token = await self._client().get_client_access_token(
            user_id=user_for(session_id), roles=[], groups=[group_for(session_id)],
            minutes_to_expire=minutes)
        url = token["url"]
        return {"url": url, "token": token["token"], "expires_in": minutes * 60,
                "websocket_base_url": url.split("?", 1)[0].rsplit("/", 1)[0]}

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
