"""POST /v1/embeddings"""
from __future__ import annotations

from typing import Any

from .. import dispatch
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from .validate import optional_int, optional_str, refuse_routing_fields, require_str

MAX_INPUTS = 2048                     # OpenAI's limit on inputs per request
MAX_DIMENSIONS = 65536

_INPUT_SHAPES = ("'input' must be a non-empty string, an array of non-empty strings, an array of "
                 "token ids, or an array of token-id arrays.")


def _is_token_ids(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value))


def check_input(value: Any) -> None:
    """The four shapes OpenAI takes; anything else is a 400 naming `input`."""
    if value is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                             code="missing_required_parameter")
    if isinstance(value, str):
        if not value:
            raise InvalidRequest(_INPUT_SHAPES, param="input")
        return
    if not isinstance(value, list) or not value:
        raise InvalidRequest(_INPUT_SHAPES, param="input")
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(f"'input' has more than {MAX_INPUTS} items.", param="input")
    if _is_token_ids(value):
        return
    for i, item in enumerate(value):
        if not ((isinstance(item, str) and item) or _is_token_ids(item)):
            raise InvalidRequest(_INPUT_SHAPES, param=f"input[{i}]")
    if len({isinstance(item, str) for item in value}) > 1:
        raise InvalidRequest("'input' mixes strings and token arrays.", param="input")


def check_embeddings_fields(body: dict[str, Any]) -> str:
    """The request's own checks (the synchronous endpoint and batch lines): the model name."""
    name = require_str(body, "model")
    check_input(body.get("input"))
    optional_str(body, "encoding_format", ("float", "base64"))
    optional_int(body, "dimensions", 1, MAX_DIMENSIONS)
    optional_str(body, "user")
    refuse_routing_fields(body)
    return name


async def embeddings(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name = check_embeddings_fields(body)
    result = await dispatch.create_embeddings(gw, caller, name, body)
    return ApiResponse(body=result.body, headers=result.headers)
