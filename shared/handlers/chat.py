"""POST /v1/chat/completions"""
from __future__ import annotations

from typing import Any

from ..catalog import Operation, ResolvedModel
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..guarded_call import GuardedCall
from ..providers import Completion, CompletionStream
from .request_checks import check_chat_limits, estimate_prompt_tokens, requested_output_tokens
from .validate import optional_bool, refuse_routing_fields, require_operation, require_str

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


async def chat_completions(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name = require_str(body, "model")
    _check_messages(body)
    stream = optional_bool(body, "stream")
    refuse_routing_fields(body)
    model = await gw.catalog.get(name, caller.project)
    require_operation(model, Operation.CHAT)
    model.require_configured()
    check_chat_limits(model.policy, body)
    prompt_estimate = estimate_prompt_tokens(body)
    call = await GuardedCall.admit(gw, caller, model, Operation.CHAT, stream=stream,
                                   prompt_estimate=prompt_estimate,
                                   reserve_tokens=prompt_estimate + requested_output_tokens(body))

    async def attempt(deployment: ResolvedModel) -> Completion | CompletionStream:
        # A copy per attempt: adapters adjust the body for their provider.
        return await deployment.adapter.chat(deployment.prepared, dict(body), stream,
                                             deployment.secrets)

    result = await call.run(attempt)
    if isinstance(result, Completion):
        return ApiResponse(body=result.body, headers={**result.headers, **call.headers})
    return ApiResponse(stream=result.chunks, media_type="text/event-stream",
                       headers={**_STREAM_HEADERS, **call.headers})
