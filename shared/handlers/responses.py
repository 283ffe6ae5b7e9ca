"""The Responses API: POST /v1/responses, GET and DELETE /v1/responses/{id},
GET /v1/responses/{id}/input_items, POST /v1/responses/{id}/cancel. The work is in
`shared/responses.py`; these only authenticate, read the request and shape the answer."""
from __future__ import annotations

from .. import responses
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse

EVENTS = "events"          # the Event Hub output binding of create and cancel (background mode)
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def create(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    created = await responses.create(gw, caller, req.json_object())
    if created.events is not None:
        return ApiResponse(stream=created.events, media_type="text/event-stream",
                           headers={**_STREAM_HEADERS, **created.headers})
    if created.raw is not None:
        return ApiResponse(body=created.raw, headers=created.headers)
    outputs = {EVENTS: created.hub_event} if created.hub_event else None
    return ApiResponse.json(created.response, headers=created.headers, outputs=outputs)


async def retrieve(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    if (req.query.get("stream") or "false").lower() != "false":
        raise InvalidRequest("Streaming a stored response again is not offered by this "
                             "gateway; retrieve it without 'stream'.", param="stream")
    return ApiResponse.json(await responses.retrieve(gw, caller, req.path_params["id"]))


async def delete(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    return ApiResponse.json(await responses.delete(gw, caller, req.path_params["id"]))


async def input_items(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    return ApiResponse.json(await responses.list_input_items(gw, caller, req.path_params["id"],
                                                             req.query))


async def cancel(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    from ..responses_background import cancel as cancel_background
    response, hub_event = await cancel_background(gw, caller, req.path_params["id"])
    return ApiResponse.json(response, outputs={EVENTS: hub_event} if hub_event else None)
