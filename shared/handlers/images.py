"""POST /v1/images/generations"""
from __future__ import annotations

import re

from .. import dispatch
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from .validate import (optional_bool, optional_int, optional_str, refuse_routing_fields,
                       require_str)

MAX_IMAGES = 10
_SIZE = re.compile(r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")


async def generations(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name = require_str(body, "model")
    require_str(body, "prompt")
    optional_int(body, "n", 1, MAX_IMAGES)
    size = optional_str(body, "size")
    if size is not None and not _SIZE.match(size):
        raise InvalidRequest("'size' must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'.",
                             param="size")
    for name_ in ("quality", "style", "user"):
        optional_str(body, name_)
    optional_str(body, "response_format", ("url", "b64_json"))
    if optional_bool(body, "stream"):
        # The gateway relays images whole; a client asking for events would read this JSON
        # answer as a stream with no events in it.
        raise InvalidRequest("Streamed image generation ('stream': true, partial images) is not "
                             "offered by this gateway; ask without 'stream' for the whole "
                             "images.", param="stream", code="unsupported_parameter")
    refuse_routing_fields(body)
    result = await dispatch.generate_images(gw, caller, name, body)
    return ApiResponse(body=result.body, headers=result.headers)
