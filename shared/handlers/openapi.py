"""GET /openapi.json: the gateway's OpenAPI description (shared/openapi.py)."""
from __future__ import annotations

from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..openapi import document


async def openapi(gw: Gateway, req: ApiRequest) -> ApiResponse:
    return ApiResponse.json(document())
