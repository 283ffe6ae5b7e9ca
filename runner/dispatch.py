"""The ASGI app the local runner serves: the registered HTTP functions' routes, dispatched
straight to their endpoints.

Starlette's route matching and request and response types, without its middleware stack and
router layers: those cost about a fifth of the gateway's CPU per request, for features the
functions do not use (every function already turns its own errors into envelopes). Static
routes are found with one dict lookup by (method, path); the others by Starlette's compiled
patterns, in the order given. Unknown routes and methods answer OpenAI error envelopes.
"""
from __future__ import annotations

import json
import logging
from typing import Any, AsyncContextManager, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, WebSocketRoute

from shared.request_context import HEADER, current, new_request_id

log = logging.getLogger("runner")

_INTERNAL_ERROR = {"error": {"message": "The gateway failed to handle this request.",
                             "type": "api_error", "param": None, "code": "internal_error"}}


def _route_error(scope: dict, status: int) -> Response:
    kind = "not_found" if status == 404 else "method_not_allowed"
    method, path = scope["method"], scope["path"]
    message = (f"No route {method} {path}." if status == 404
               else f"Method {method} is not allowed on {path}.")
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": kind}}
    return Response(json.dumps(body), status_code=status, media_type="application/json",
                    headers={HEADER: new_request_id()})


class FunctionsASGI:
    def __init__(self, routes: list[Route],
                 lifespan: Callable[[], AsyncContextManager[None]] | None = None,
                 websockets: list[WebSocketRoute] | None = None):
        self.routes = routes
        self.websockets = websockets or []       # the local Web PubSub's client endpoint
        self._static: dict[tuple[str, str], Route] = {}
        for route in routes:
            if not route.param_convertors:
                for method in route.methods or ():
                    self._static.setdefault((method, route.path), route)
        self._lifespan = lifespan

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _websocket(self, scope: dict, receive: Any, send: Any) -> None:
        for route in self.websockets:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                await route.handle(scope, receive, send)
                return
        await send({"type": "websocket.close", "code": 1008})     # refused: HTTP 403

    def _match(self, scope: dict) -> tuple[Route | None, dict, int]:
        static = self._static.get((scope["method"], scope["path"]))
        if static is not None:
            return static, {"endpoint": static.endpoint, "path_params": {}}, 200
        partial = False
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child, 200
            partial = partial or match is Match.PARTIAL
        return None, {}, 405 if partial else 404

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        route, child, status = self._match(scope)
        if route is None:
            await _route_error(scope, status)(scope, receive, send)
            return
        scope.update(child)
        try:
            response = await route.endpoint(Request(scope, receive, send))
        except Exception:
            log.exception("unhandled error in %s", route.name)
            response = Response(json.dumps(_INTERNAL_ERROR), status_code=500,
                                media_type="application/json",
                                headers={HEADER: current.get() or new_request_id()})
        await response(scope, receive, send)

    async def _run_lifespan(self, receive: Any, send: Any) -> None:
        context = self._lifespan() if self._lifespan is not None else None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if context is not None:
                        await context.__aenter__()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if context is not None:
                    await context.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return
