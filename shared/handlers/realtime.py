"""/v1/realtime/sessions (create, list, read, end) and /v1/realtime/client_secrets (GA)."""
from __future__ import annotations

from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..realtime import session_api
from .validate import refuse_routing_fields


async def create_session(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object() if req.body else {}
    refuse_routing_fields(body)
    return ApiResponse.json(await session_api.create(gw, caller, body), status=201)


async def create_client_secret(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object() if req.body else {}
    refuse_routing_fields(body)
    if isinstance(body.get("session"), dict):
        refuse_routing_fields(body["session"])
    return ApiResponse.json(await session_api.create_client_secret(gw, caller, body))


async def list_sessions(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    return ApiResponse.json({"object": "list", "data": await session_api.list_for(gw, caller)})


async def get_session(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    session = await session_api.owned(gw, caller, req.path_params["id"])
    return ApiResponse.json(session_api.session_object(session))


async def delete_session(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    return ApiResponse.json(await session_api.end(gw, caller, req.path_params["id"]))
