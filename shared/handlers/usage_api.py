"""The usage and costs API (`/v1/organization/usage/...`, `/v1/organization/costs`), in
OpenAI's Admin API shape; authorized by the admin key like every management route."""
from __future__ import annotations

from .. import console_data, usage_api
from ..admin import check_project
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse


def _usage(kind: str):
    async def handler(gw: Gateway, req: ApiRequest) -> ApiResponse:
        await gw.keys.authenticate_admin(req.headers)
        await gw.usage.flush()            # a caller sees its own latest requests
        return ApiResponse.json(await usage_api.usage(gw.store, kind, req.query))
    handler.__name__ = f"usage_{kind}"
    return handler


completions = _usage("completions")
embeddings = _usage("embeddings")
images = _usage("images")
audio_speeches = _usage("audio_speeches")
audio_transcriptions = _usage("audio_transcriptions")


async def costs(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    await gw.usage.flush()
    return ApiResponse.json(await usage_api.costs(gw.store, req.query))


async def summary(gw: Gateway, req: ApiRequest) -> ApiResponse:
    """Per model and project: requests, errors, cost, tokens, latency p50/p95 (the console)."""
    await gw.keys.authenticate_admin(req.headers)
    await gw.usage.flush()
    return ApiResponse.json(await console_data.summary(gw.store, req.query))


async def project_status(gw: Gateway, req: ApiRequest) -> ApiResponse:
    """A project's limits with current consumption, jobs by status, live realtime sessions."""
    await gw.keys.authenticate_admin(req.headers)
    project = check_project(req.path_params["project_id"])
    return ApiResponse.json(await console_data.project(gw.store, project))
