"""An ASGI app made from a FunctionApp's registered HTTP functions: no second list of routes.

Each HTTP trigger's route and methods become a Starlette route whose endpoint is the user
function itself; those functions already take a Starlette (FastAPI) request and return a Starlette
response, exactly as the http-fastapi extension hands them over in Azure.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

log = logging.getLogger("llmproxy.runner")


def http_functions(app: Any) -> list[tuple[str, list[str], Any, str]]:
    """(route, methods, user function, function name) for each HTTP-triggered function.
    `get_functions()` may be called only once per app, so callers keep the result."""
    found = []
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        methods = [getattr(m, "value", str(m)) for m in (trigger.methods or [])]
        found.append((trigger.route, methods, fn.get_user_function(), fn.get_function_name()))
    return found


def _route_error(scope: dict, status: int) -> Response:
    kind = "not_found" if status == 404 else "method_not_allowed"
    method, path = scope["method"], scope["path"]
    message = (f"No route {method} {path}." if status == 404
               else f"Method {method} is not allowed on {path}.")
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": kind}}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


_INTERNAL_ERROR = {"error": {"message": "The gateway failed to handle this request.",
                             "type": "api_error", "param": None, "code": "internal_error"}}


class FunctionsASGI:
    """Dispatches straight to the registered functions: Starlette's route matching and request
    and response types, without its middleware stack and router layers (they cost about a fifth
    of the gateway's CPU per request, for features the functions do not use: every function
    already turns its own errors into envelopes).

    Static routes are found with one dict lookup by (method, path); the others by Starlette's
    compiled patterns, in registration order."""

    def __init__(self, function_app: Any, on_shutdown: Any = None):
        self.routes = [Route("/" + route.lstrip("/"), endpoint=endpoint, methods=methods,
                             name=name)
                       for route, methods, endpoint, name in http_functions(function_app)]
        self._static: dict[tuple[str, str], Route] = {}
        for r in self.routes:
            if not r.param_convertors:
                for method in r.methods or ():
                    self._static.setdefault((method, r.path), r)
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

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
                                media_type="application/json")
        await response(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_asgi(function_app: Any, on_shutdown: Any = None) -> FunctionsASGI:
    return FunctionsASGI(function_app, on_shutdown)
