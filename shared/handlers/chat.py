"""POST /v1/chat/completions"""
from __future__ import annotations

from typing import Any

from .. import dispatch
from ..catalog import Operation, ResolvedModel
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..keys import Caller
from ..http_types import ApiRequest, ApiResponse
from ..providers import Completion
from .request_checks import check_chat_limits, check_standard_ranges
from .validate import optional_bool, refuse_routing_fields, require_str

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _check_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages",
                             code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"'messages[{i}]' must be an object with a 'role'.",
                                 param=f"messages[{i}]")


def check_chat_fields(body: dict[str, Any]) -> tuple[str, bool]:
    """The request's own checks (fields, no routing fields): the model name and `stream`."""
    name = require_str(body, "model")
    _check_messages(body)
    stream = optional_bool(body, "stream")
    refuse_routing_fields(body)
    check_standard_ranges(body)
    return name, stream


async def validate_chat_request(gw: Gateway, caller: Caller,
                                body: dict[str, Any]) -> tuple[ResolvedModel, bool]:
    """Everything a chat request must pass before any provider sees it: the fields, a model
    this project may see that offers chat and is configured, and the model's request limits
    (`max_messages`, `max_n`, `max_output_tokens`). The synchronous endpoint and async
    jobs (submitted over HTTP or by direct Event Hub producers) all check through here."""
    name, stream = check_chat_fields(body)
    model = await dispatch.resolve(gw, caller, name, Operation.CHAT)
    check_chat_limits(model.policy, body)
    return model, stream


async def chat_completions(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name, stream = check_chat_fields(body)
    result = await dispatch.chat(gw, caller, name, body, stream)
    if isinstance(result, Completion):
        return ApiResponse(body=result.body, headers=result.headers)
    return ApiResponse(stream=result.chunks, media_type="text/event-stream",
                       headers={**_STREAM_HEADERS, **result.headers})
