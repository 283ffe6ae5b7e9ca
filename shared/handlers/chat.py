"""POST /v1/chat/completions"""
from __future__ import annotations

import time
from typing import Any, AsyncIterator

from ..catalog import Operation, ResolvedModel
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..providers import Completion, CompletionStream, Usage
from .request_checks import (check_chat_limits, estimate_prompt_tokens, produced_usage,
                             requested_output_tokens)
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
    started = time.perf_counter()

    def meter(usage: Usage, status: int, served_by: ResolvedModel = model) -> float:
        gw.usage.record(project=caller.project, key_id=caller.key_id, model=served_by,
                        model_name=model.doc.id, operation=Operation.CHAT.value, usage=usage,
                        latency_ms=(time.perf_counter() - started) * 1000, status=status,
                        stream=stream)
        return served_by.doc.costs.cost(usage.prompt_tokens, usage.completion_tokens)

    try:
        ticket = await gw.limits.admit(caller, prompt_estimate + requested_output_tokens(body))
    except GatewayError as err:
        meter(Usage(), err.status)
        raise

    async def attempt(deployment: ResolvedModel) -> Completion | CompletionStream:
        # A copy per attempt: adapters adjust the body for their provider.
        return await deployment.adapter.chat(deployment.prepared, dict(body), stream,
                                             deployment.secrets)

    try:
        routed = await gw.router.call(model, attempt, stream=stream)
    except GatewayError as err:
        meter(Usage(), err.status)
        await ticket.finish(0, 0.0)
        raise
    except BaseException:
        ticket.finish_soon(0, 0.0)
        raise
    result, served_by = routed.result, routed.member
    if isinstance(result, Completion):
        cost = meter(result.usage, 200, served_by)
        await ticket.finish(result.usage.prompt_tokens + result.usage.completion_tokens, cost)
        return ApiResponse(body=result.body, headers={**result.headers, **ticket.headers})

    def finish_stream(usage: Usage, status: int) -> None:
        cost = meter(usage, status, served_by)
        ticket.finish_soon(usage.prompt_tokens + usage.completion_tokens, cost)
    return ApiResponse(stream=_metered(result, finish_stream, prompt_estimate),
                       media_type="text/event-stream",
                       headers={**_STREAM_HEADERS, **ticket.headers})


async def _metered(result: CompletionStream, meter, prompt_estimate: int) -> AsyncIterator[bytes]:
    """Relay the stream and meter it, also when the client leaves early (499). A stream that
    breaks after it started ends with an `error` event, never with `data: [DONE]`."""
    status, events = 499, 0
    try:
        async for chunk in result.chunks:
            events += chunk.count(b"data:")
            yield chunk
        status = 200
    except GatewayError as err:
        status = err.status
        yield b"data: " + err.body() + b"\n\n"
    finally:
        await result.close()
        meter(produced_usage(result.usage, events, prompt_estimate), status)
