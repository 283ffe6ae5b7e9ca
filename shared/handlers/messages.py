"""POST /v1/messages and POST /v1/messages/count_tokens: Anthropic's Messages API.

Authenticated like Anthropic's clients send keys (`x-api-key`, or `Authorization: Bearer` as
Claude Code's ANTHROPIC_AUTH_TOKEN does); `anthropic-version` and `?beta=true` are accepted as
they come; `anthropic-beta` goes to Claude (the betas Vertex takes) and means nothing to other
models. Every failure answers in Anthropic's error envelope with Anthropic's status. Answers
carry the request id as Anthropic names it too (`request-id`, which the anthropic SDKs read into
`_request_id`), besides `x-request-id`.
"""
from __future__ import annotations

from .. import dispatch_messages, request_context
from ..errors import GatewayError
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..providers import Completion
from ..surfaces import messages as surface
from .respond import errors_as
from .validate import refuse_routing_fields, require_str

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _request_id() -> dict[str, str]:
    request_id = request_context.current.get()
    return {"request-id": request_id} if request_id else {}


def anthropic_error(err: GatewayError) -> ApiResponse:
    status, _ = surface.error_status(err)
    body = surface.error_body(err, request_context.current.get())
    return ApiResponse(status=status, body=body, headers={**err.headers, **_request_id()})


@errors_as(anthropic_error)
async def create_message(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name, stream = surface.check_request(body)
    result = await dispatch_messages.create_message(gw, caller, name, body, stream,
                                                    req.headers.get("anthropic-beta"))
    if isinstance(result, Completion):
        return ApiResponse(body=result.body, headers={**result.headers, **_request_id()})
    return ApiResponse(stream=result.chunks, media_type="text/event-stream",
                       headers={**_STREAM_HEADERS, **result.headers, **_request_id()})


@errors_as(anthropic_error)
async def count_tokens(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    name = require_str(body, "model")
    refuse_routing_fields(body)
    surface.check_messages(body)
    raw, estimated = await dispatch_messages.count_tokens(gw, caller, name, body,
                                                          req.headers.get("anthropic-beta"))
    # No tokenizer here for models other than Claude: their count is an estimate, said so.
    headers = {"x-llmproxy-token-count": "estimate" if estimated else "provider", **_request_id()}
    return ApiResponse(body=raw, headers=headers)
