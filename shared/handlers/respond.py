"""Run a handler and turn every outcome into an `ApiResponse`: the one place errors become
envelopes, for every host."""
from __future__ import annotations

import logging
import traceback
from typing import Awaitable, Callable

from ..errors import Conflict, GatewayError, ServiceUnavailable, sanitize
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..store import StoreConflict, StoreUnavailable

log = logging.getLogger("llmproxy")

Handler = Callable[[Gateway, ApiRequest], Awaitable[ApiResponse]]


def error_response(err: GatewayError) -> ApiResponse:
    return ApiResponse(status=err.status, body=err.body(), headers=err.headers)


async def respond(gateway: Gateway, handler: Handler, request: ApiRequest) -> ApiResponse:
    try:
        return await handler(gateway, request)
    except GatewayError as err:
        return error_response(err)
    except StoreConflict as exc:
        # Retries already ran (see store/concurrency.py): report the race, never drop the write.
        log.warning("store conflict during %s %s: %s", request.method, request.path, exc)
        return error_response(Conflict("The record was changed by another request at the same "
                                       "time; retry the request."))
    except StoreUnavailable as exc:
        log.error("store unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(ServiceUnavailable("The gateway's store is unavailable; try again."))
    except Exception as exc:
        log.error("unhandled %s during %s %s: %s\n%s", type(exc).__name__, request.method,
                  request.path, sanitize(str(exc)), traceback.format_exc())
        return error_response(GatewayError("The gateway failed to handle this request.",
                                           code="internal_error"))
