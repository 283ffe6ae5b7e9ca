"""An ASGI app made from a FunctionApp's registered functions: no second list of routes.

Each HTTP trigger's route and methods become a Starlette route whose endpoint is the user
function itself; those functions already take a Starlette (FastAPI) request and return a Starlette
response, exactly as the http-fastapi extension hands them over in Azure. With `webpubsub`, the
app also serves a local Azure Web PubSub that calls the app's Web PubSub trigger functions.
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def http_functions(functions: list[Any]) -> list[tuple[str, list[str], Any, str]]:
    """(route, methods, user function, function name) for each HTTP-triggered function, from
    `app.get_functions()` (which may be called only once per app: callers share its result)."""
    found = []
    for fn in functions:
        trigger = fn.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        methods = [getattr(m, "value", str(m)) for m in (trigger.methods or [])]
        found.append((trigger.route, methods, fn.get_user_function(), fn.get_function_name()))
    return found


async def _not_found(request: Request, exc: HTTPException) -> Response:
    kind = "not_found" if exc.status_code == 404 else "method_not_allowed"
    message = (f"No route {request.method} {request.url.path}." if exc.status_code == 404
               else f"Method {request.method} is not allowed on {request.url.path}.")
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": kind}}
    return Response(json.dumps(body), status_code=exc.status_code, media_type="application/json")


def build_asgi(function_app: Any, on_shutdown: Any = None, webpubsub: bool = False) -> Starlette:
    functions = function_app.get_functions()
    routes: list[Any] = [Route("/" + route.lstrip("/"), endpoint=endpoint, methods=methods,
                               name=name)
                         for route, methods, endpoint, name in http_functions(functions)]
    if webpubsub:
        from .webpubsub import routes as webpubsub_routes
        routes = webpubsub_routes(functions) + routes

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        yield
        if on_shutdown is not None:
            await on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _not_found})
