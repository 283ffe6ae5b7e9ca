"""The local Web PubSub service REST API: the calls `azure-messaging-webpubsubservice` makes.

Requests carry the SDK's bearer JWT (HS256 with the access key, audience = the request URL),
checked like the service does. Covered: send to all / connection / group / user, close a
connection / a group's / a user's / all connections, connection and group existence, add and
remove a connection to or from a group.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .webpubsub_hub import Connection, Hubs

_DATA_TYPES = {"application/json": "json", "text/plain": "text",
               "application/octet-stream": "binary"}


def _error(status: int, message: str) -> Response:
    return JSONResponse({"code": str(status), "message": message}, status_code=status)


def _authorized(request: Request, key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={
            "require": ["exp", "aud"], "verify_aud": False})
    except jwt.PyJWTError:
        return False
    # The SDK signs the full request URL; the path must be the one it signed.
    return str(claims.get("aud", "")).split("?")[0].endswith(request.url.path)


async def _deliver_all(request: Request, targets: list[Connection]) -> Response:
    body = await request.body()
    kind = _DATA_TYPES.get(request.headers.get("content-type", "").split(";")[0].strip())
    if kind is None:
        return _error(400, "Content-Type must be application/json, text/plain or "
                           "application/octet-stream.")
    excluded = set(request.query_params.getlist("excluded"))
    for conn in targets:
        if conn.id not in excluded:
            await conn.deliver(body, kind, {"from": "server"})
    return Response(status_code=202)


def routes(hubs: Hubs, key: str) -> list[Route]:
    def guarded(handler: Callable[[Request, str], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            if not _authorized(request, key):
                return _error(401, "Invalid or missing access token.")
            return await handler(request, request.path_params["hub"].lower())
        return endpoint

    def conn_of(request: Request, hub: str) -> Connection | None:
        conn = hubs.connections.get(request.path_params["connection_id"])
        return conn if conn is not None and conn.hub == hub and not conn.closed else None

    async def send_all(request: Request, hub: str) -> Response:
        return await _deliver_all(request, [c for c in hubs.connections.values()
                                            if c.hub == hub and not c.closed])

    async def send_connection(request: Request, hub: str) -> Response:
        conn = conn_of(request, hub)
        if conn is None:
            return _error(404, "Connection not found.")
        return await _deliver_all(request, [conn])

    async def send_group(request: Request, hub: str) -> Response:
        return await _deliver_all(request, hubs.in_group(hub, request.path_params["group"]))

    async def send_user(request: Request, hub: str) -> Response:
        return await _deliver_all(request, hubs.for_user(hub, request.path_params["user_id"]))

    async def connection(request: Request, hub: str) -> Response:
        conn = conn_of(request, hub)
        if request.method == "HEAD":
            return Response(status_code=200 if conn else 404)
        if conn is not None:
            await hubs.close(conn, request.query_params.get("reason", ""))
        return Response(status_code=204)

    async def close_many(targets: list[Connection], request: Request) -> Response:
        for conn in targets:
            await hubs.close(conn, request.query_params.get("reason", ""))
        return Response(status_code=204)

    async def close_group(request: Request, hub: str) -> Response:
        return await close_many(hubs.in_group(hub, request.path_params["group"]), request)

    async def close_user(request: Request, hub: str) -> Response:
        return await close_many(hubs.for_user(hub, request.path_params["user_id"]), request)

    async def close_all(request: Request, hub: str) -> Response:
        return await close_many([c for c in hubs.connections.values() if c.hub == hub],
                                request)

    async def group(request: Request, hub: str) -> Response:
        found = hubs.in_group(hub, request.path_params["group"])
        return Response(status_code=200 if found else 404)

    async def membership(request: Request, hub: str) -> Response:
        conn = conn_of(request, hub)
        if conn is None:
            return _error(404, "Connection not found.")
        if request.method == "PUT":
            conn.groups.add(request.path_params["group"])
        else:
            conn.groups.discard(request.path_params["group"])
        return Response(status_code=200)

    base = "/api/hubs/{hub}"
    return [
        Route(base + "/:send", guarded(send_all), methods=["POST"]),
        Route(base + "/:closeConnections", guarded(close_all), methods=["POST"]),
        Route(base + "/connections/{connection_id}/:send", guarded(send_connection),
              methods=["POST"]),
        Route(base + "/connections/{connection_id}", guarded(connection),
              methods=["DELETE", "HEAD"]),
        Route(base + "/groups/{group}/:send", guarded(send_group), methods=["POST"]),
        Route(base + "/groups/{group}/:closeConnections", guarded(close_group),
              methods=["POST"]),
        Route(base + "/groups/{group}", guarded(group), methods=["HEAD"]),
        Route(base + "/groups/{group}/connections/{connection_id}", guarded(membership),
              methods=["PUT", "DELETE"]),
        Route(base + "/users/{user_id}/:send", guarded(send_user), methods=["POST"]),
        Route(base + "/users/{user_id}/:closeConnections", guarded(close_user),
              methods=["POST"]),
    ]
