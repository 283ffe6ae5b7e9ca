"""An ASGI app made from a FunctionApp's registered functions: no second list of routes.

Each HTTP trigger's route and methods become a Starlette route that calls the user function
itself, as the http-fastapi extension does in Azure: the request as the trigger's parameter and,
by name, a `func.Out` for each output binding, delivered after the function returns. Each Event
Hub trigger is fed from the local hub (runner/local_hub.py) by a pump started with the app. With
`webpubsub`, the app is also a local Azure Web PubSub (runner/webpubsub.py) that calls the app's
Web PubSub trigger functions.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from .bindings import OutputSinks
from .dispatch import FunctionsASGI
from .functions import AppFunctions, Hosted, read_functions
from .local_hub import HubPump, LocalHub
from .timers import interval_of, run_timer

log = logging.getLogger("runner")
ROOT = Path(__file__).resolve().parent.parent


def _endpoint(fn: Hosted, sinks: OutputSinks) -> Any:
    if not fn.outputs:
        return fn.user

    async def endpoint(request: Request) -> Response:
        outs = sinks.make(fn.outputs)
        response = await fn.user(**{fn.trigger_param: request}, **outs)
        try:
            await sinks.deliver(fn.outputs, outs)     # the host writes outputs, then answers
        except Exception as exc:                  # in Azure the invocation would fail too
            log.error("output binding of %s failed: %s", fn.name, type(exc).__name__)
            body = {"error": {"message": "The function's output could not be delivered; "
                              "retry (an idempotency_key makes retries safe).",
                              "type": "service_unavailable", "param": None,
                              "code": "output_binding_failed"}}
            return Response(json.dumps(body), status_code=503, media_type="application/json")
        return response
    return endpoint


def _route_order(fn: Hosted) -> tuple[int, ...]:
    """Literal segments before parameters at the same position (`async/metrics` before
    `async/{id}`), as the Functions host's router prefers them."""
    return tuple(1 if seg.startswith("{") else 0 for seg in fn.trigger.route.split("/"))


def _starlette_path(route: str) -> str:
    """A Functions route template in Starlette's syntax: the host's catch-all `{*name}` is
    Starlette's `{name:path}`."""
    return re.sub(r"\{\*(\w+)\}", r"{\1:path}", route.lstrip("/"))


def _batch_size() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host.get("extensions", {}).get("eventHubs", {}).get("maxEventBatchSize", 100))


def _pump(fn: Hosted, hub: LocalHub, sinks: OutputSinks) -> HubPump:
    async def invoke(events: list) -> None:
        outs = sinks.make(fn.outputs)
        await fn.user(**{fn.trigger_param: events}, **outs)
        await sinks.deliver(fn.outputs, outs)
    return HubPump(hub, invoke, fn.retry, _batch_size())


async def _purge_expired_jobs(store_getter: Any, every: float = 60.0) -> None:
    """The embedded store's stand-in for Cosmos DB's TTL: reads already hide expired jobs;
    this deletes them."""
    while True:
        try:
            store = await store_getter()
            if hasattr(store, "purge_expired_jobs"):
                await store.purge_expired_jobs()
        except Exception as exc:             # the next round tries again
            log.warning("expired-job purge failed: %s", type(exc).__name__)
        await asyncio.sleep(every)


def _timer(fn: Hosted, sinks: OutputSinks) -> Any:
    async def invoke(request: Any) -> None:
        outs = sinks.make(fn.outputs)
        await fn.user(**{fn.trigger_param: request}, **outs)
        await sinks.deliver(fn.outputs, outs)
    return run_timer(invoke, interval_of(fn.trigger.schedule), fn.name)


def build_asgi(function_app: Any, hub_path: Path, on_shutdown: Any = None,
               store_getter: Any = None, webpubsub: bool = False) -> FunctionsASGI:
    functions: AppFunctions = read_functions(function_app)      # get_functions(), once
    hub = LocalHub(hub_path)
    sinks = OutputSinks(hub, store_getter)
    routes = [Route("/" + _starlette_path(fn.trigger.route), endpoint=_endpoint(fn, sinks),
                    methods=[getattr(m, "value", str(m)) for m in (fn.trigger.methods or [])],
                    name=fn.name)
              for fn in sorted(functions.http, key=_route_order)]
    sockets: list[WebSocketRoute] = []
    if webpubsub:              # a local Azure Web PubSub calling the app's Web PubSub triggers
        from .webpubsub import routes as webpubsub_routes
        extra = webpubsub_routes(functions.webpubsub)
        sockets = [r for r in extra if isinstance(r, WebSocketRoute)]
        routes = [r for r in extra if isinstance(r, Route)] + routes

    @asynccontextmanager
    async def lifespan():
        tasks = [asyncio.ensure_future(_pump(fn, hub, sinks).run()) for fn in functions.hub]
        tasks += [asyncio.ensure_future(_timer(fn, sinks)) for fn in functions.timer]
        if store_getter is not None:
            tasks.append(asyncio.ensure_future(_purge_expired_jobs(store_getter)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if on_shutdown is not None:
            await on_shutdown()
        hub.close()

    return FunctionsASGI(routes, lifespan, websockets=sockets)
