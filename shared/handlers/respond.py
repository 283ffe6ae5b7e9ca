"""Run a handler and turn every outcome into an `ApiResponse`: the one place errors become
envelopes, for every host."""
from __future__ import annotations

import logging
import traceback
from typing import Awaitable, Callable

from .. import request_context, telemetry
from ..errors import Conflict, GatewayError, ServiceUnavailable, sanitize
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..store import StoreConflict, StoreUnavailable

log = logging.getLogger("llmproxy")

Handler = Callable[[Gateway, ApiRequest], Awaitable[ApiResponse]]


def error_response(err: GatewayError) -> ApiResponse:
    return ApiResponse(status=err.status, body=err.body(), headers=err.headers)


def errors_as(envelope: Callable[[GatewayError], ApiResponse]) -> Callable[[Handler], Handler]:
    """Mark a handler whose surface has its own error envelope (Anthropic's Messages API):
    every failure of its requests, before the handler runs or in it, answers in that shape."""
    def mark(handler: Handler) -> Handler:
        handler.error_response = envelope          # type: ignore[attr-defined]
        return handler
    return mark


def error_response_for(handler: Handler) -> Callable[[GatewayError], ApiResponse]:
    return getattr(handler, "error_response", error_response)


async def respond(gateway: Gateway, handler: Handler, request: ApiRequest) -> ApiResponse:
    """Run `handler`, traced as one request when tracing is on (see shared/telemetry.py)."""
    trace = telemetry.start_request(getattr(handler, "__name__", "request"), request.method)
    if trace is not telemetry.NOOP:
        trace.annotate(**{"llmproxy.request_id": request_context.current.get() or None})
    trace.enter()
    try:
        result, error_code = await _run(gateway, handler, request)
    finally:
        trace.leave()
    if result.stream is not None and trace is not telemetry.NOOP:
        result.stream = telemetry.traced_stream(result.stream, trace, result.status)
    else:
        trace.finish(result.status, error_code)
    return result


async def _run(gateway: Gateway, handler: Handler,
               request: ApiRequest) -> tuple[ApiResponse, str | None]:
    error_response = error_response_for(handler)
    try:
        return await handler(gateway, request), None
    except GatewayError as err:
        return error_response(err), err.code
    except StoreConflict as exc:
        # Retries already ran (see store/concurrency.py): report the race, never drop the write.
        log.warning("store conflict during %s %s: %s", request.method, request.path, exc)
        err = Conflict("The record was changed by another request at the same time; retry the "
                       "request.")
        return error_response(err), err.code
    except StoreUnavailable as exc:
        log.error("store unavailable during %s %s: %s", request.method, request.path, exc)
        err = ServiceUnavailable("The gateway's store is unavailable; try again.")
        return error_response(err), err.code
    except Exception as exc:
        log.error("unhandled %s during %s %s: %s\n%s", type(exc).__name__, request.method,
                  request.path, sanitize(str(exc)), traceback.format_exc())
        return error_response(GatewayError("The gateway failed to handle this request.",
                                           code="internal_error")), "internal_error"
