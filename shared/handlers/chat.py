"""POST /v1/chat/completions"""
from __future__ import annotations

import time
from typing import Any, AsyncIterator

from ..catalog import Operation, ResolvedModel
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..providers import Completion, CompletionStream, Usage
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


async def validate_chat_request(gw: Gateway, project: str,
                                body: dict[str, Any]) -> tuple[ResolvedModel, bool]:
    """Everything a chat request must pass before any provider sees it: the fields, no routing
    fields, a model this project may see that offers chat and is configured. Shared by the
    synchronous endpoint and async jobs (HTTP-submitted and direct Event Hub producers)."""
    name = require_str(body, "model")
    _check_messages(body)
    stream = optional_bool(body, "stream")
    refuse_routing_fields(body)
    model = await gw.catalog.get(name, project)
    require_operation(model, Operation.CHAT)
    model.require_configured()
    return model, stream


async def chat_completions(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    model, stream = await validate_chat_request(gw, caller.project, body)

    started = time.perf_counter()

    def meter(usage: Usage, status: int) -> None:
        gw.usage.record(project=caller.project, key_id=caller.key_id, model=model,
                        model_name=model.doc.id, operation=Operation.CHAT.value, usage=usage,
                        latency_ms=(time.perf_counter() - started) * 1000, status=status,
                        stream=stream)

    try:
        result = await model.adapter.chat(model.prepared, body, stream, model.secrets)
    except GatewayError as err:
        meter(Usage(), err.status)
        raise
    if isinstance(result, Completion):
        meter(result.usage, 200)
        return ApiResponse(body=result.body, headers=result.headers)
    return ApiResponse(stream=_metered(result, meter), media_type="text/event-stream",
                       headers=dict(_STREAM_HEADERS))


async def _metered(result: CompletionStream, meter) -> AsyncIterator[bytes]:
    """Relay the stream; meter what was produced, also when the client leaves early (499)."""
    status = 499
    try:
        async for chunk in result.chunks:
            yield chunk
        status = 200
    finally:
        await result.close()
        meter(result.usage, status)
