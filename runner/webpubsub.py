"""A local Azure Web PubSub for the runner: client WebSockets, the service REST API, and the
Function App's own Web PubSub trigger functions called the way the service calls them.

With no `WebPubSubConnectionString` configured, the runner serves this on its own port and sets
the connection string to `Endpoint=http://HOST:PORT;AccessKey=<random>;Version=1.0;`, so the
gateway's service SDK calls land here. With one configured, the real service is used and this
is not mounted.
"""
from __future__ import annotations

import os
import secrets
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from . import webpubsub_rest
from .webpubsub_client import client_endpoint
from .webpubsub_hub import Hubs

SETTING = "WebPubSubConnectionString"


def configure_local(host: str, port: int) -> str | None:
    """Point the gateway at the local service unless a real one is configured; returns the
    endpoint when the local one is used."""
    if os.environ.get(SETTING):
        return None
    endpoint = f"http://{host}:{port}"
    os.environ[SETTING] = (f"Endpoint={endpoint};AccessKey={secrets.token_urlsafe(32)};"
                           "Version=1.0;")
    return endpoint


def _connection_parts() -> tuple[str, str]:
    parts = dict(p.split("=", 1) for p in os.environ[SETTING].split(";") if "=" in p)
    lowered = {k.lower(): v for k, v in parts.items()}
    return lowered["endpoint"].rstrip("/"), lowered["accesskey"]


def trigger_functions(functions: list[Any]) -> dict[tuple[str, str, str], Any]:
    """(hub, eventType, eventName) -> user function, for the app's Web PubSub triggers
    (`runner.functions.Hosted`)."""
    found = {}
    for fn in functions:
        spec = fn.trigger.get_dict_repr()
        found[(spec["hub"].lower(), spec["eventType"].lower(), spec["eventName"].lower())] = \
            fn.user
    return found


def routes(functions: list[Any]) -> list[BaseRoute]:
    endpoint, key = _connection_parts()
    hubs = Hubs(trigger_functions(functions))

    async def client(ws: WebSocket) -> None:
        await client_endpoint(ws, hubs, key, endpoint)
    return [WebSocketRoute("/client/hubs/{hub}", client),
            *webpubsub_rest.routes(hubs, key)]
