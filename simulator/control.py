"""Control plane under `/_sim/` (no auth): health, fault injection, request log, Vertex key."""

from __future__ import annotations

from aiohttp import web

from .faults import Fault
from .state import base_url, state

routes = web.RouteTableDef()


@routes.get("/_sim/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.post("/_sim/faults")
async def add_faults(request: web.Request) -> web.Response:
    """Queue one fault (a JSON object) or several (a JSON array of them)."""
    try:
        data = await request.json()
        faults = [Fault.from_json(d) for d in (data if isinstance(data, list) else [data])]
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": {"message": f"invalid fault: {exc}"}}, status=400)
    for fault in faults:
        state(request).faults.add(fault)
    return web.json_response({"faults": state(request).faults.list()})


@routes.get("/_sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": state(request).faults.list()})


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    state(request).faults.clear()
    return web.json_response({"faults": []})


@routes.get("/_sim/requests")
async def list_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": list(state(request).requests)})


@routes.delete("/_sim/requests")
async def clear_requests(request: web.Request) -> web.Response:
    state(request).requests.clear()
    return web.json_response({"requests": []})


@routes.get("/_sim/vertex/service-account.json")
async def service_account(request: web.Request) -> web.Response:
    return web.json_response(state(request).vertex_auth.service_account(base_url(request)))
