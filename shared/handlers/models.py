"""GET /v1/models and GET /v1/models/{id}: the models the caller's project may use."""
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


async def list_models(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    models = await gw.catalog.visible(caller.project)
    return ApiResponse.json({"object": "list", "data": [_model_object(m) for m in models]})


async def get_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    name = req.path_params.get("id", "")
    model = await gw.catalog.get(name, caller.project)
    return ApiResponse.json(_model_object(model))
