"""GET /v1/models and GET /v1/models/{id}: the models the caller's project may use, in OpenAI's
shape, or in Anthropic's when the request carries `anthropic-version` (the anthropic SDKs' and
Claude Code's `models.list`)."""
from __future__ import annotations

from ..catalog import ResolvedModel
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse

# OpenAI's model object has a `created` timestamp; the catalog has none, so a fixed epoch
# (the gateway's first release) keeps responses stable across instances.
_CREATED = 1767225600


def _model_object(model: ResolvedModel) -> dict:
    return {"id": model.doc.id, "object": "model", "created": _CREATED,
            "owned_by": model.doc.provider.value.lower(),
            "name": model.doc.name or model.doc.id,
            "operations": [op.value for op in model.doc.operations]}


_CREATED_AT = "2026-01-01T00:00:00Z"          # the same instant as _CREATED, as Anthropic writes it


def _anthropic_model(model: ResolvedModel) -> dict:
    return {"type": "model", "id": model.doc.id, "display_name": model.doc.name or model.doc.id,
            "created_at": _CREATED_AT}


def _wants_anthropic(req: ApiRequest) -> bool:
    return "anthropic-version" in req.headers


async def list_models(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    models = await gw.catalog.visible(caller.project)
    if _wants_anthropic(req):
        data = [_anthropic_model(m) for m in models]
        return ApiResponse.json({"data": data, "has_more": False,
                                 "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None})
    return ApiResponse.json({"object": "list", "data": [_model_object(m) for m in models]})


async def get_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    name = req.path_params.get("id", "")
    model = await gw.catalog.get(name, caller.project)
    return ApiResponse.json(_anthropic_model(model) if _wants_anthropic(req)
                            else _model_object(model))
