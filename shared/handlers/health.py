"""GET /health: liveness plus whether the store answers (503 when it does not)."""
from __future__ import annotations

from ..errors import ServiceUnavailable
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse


async def health(gw: Gateway, req: ApiRequest) -> ApiResponse:
    try:
        await gw.store.ping()
    except Exception:
        raise ServiceUnavailable("The gateway's store is not answering.") from None
    return ApiResponse.json({"status": "ok", "store": gw.settings.store})
