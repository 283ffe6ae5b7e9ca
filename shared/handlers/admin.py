"""The admin API (`/admin/...`), authorized by LLMPROXY_ADMIN_KEY; project keys get 403."""
from __future__ import annotations

from dataclasses import asdict

from .. import admin
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse


async def list_models(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    docs = await gw.store.list_models()
    return ApiResponse.json({"object": "list", "data": [admin.public_model(d) for d in docs]})


async def get_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    doc, version = await admin.read_model(gw, req.path_params["id"])
    return ApiResponse.json(admin.public_model(doc), headers={"ETag": admin.etag(version)})


async def put_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    data = req.json_object()
    path_id = req.path_params["id"]
    if data.setdefault("id", path_id) != path_id:
        raise InvalidRequest("The body's 'id' differs from the id in the path.", param="id")
    doc, warnings, version = await admin.save_model(gw, data, admin.if_match(req.headers))
    return ApiResponse.json({**admin.public_model(doc), "warnings": warnings},
                            headers={"ETag": admin.etag(version)})


async def delete_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    await admin.delete_model(gw, req.path_params["id"])
    return ApiResponse.json({"id": req.path_params["id"], "object": "model", "deleted": True})


async def create_key(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    data = req.json_object() if req.body else {}
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InvalidRequest("'name' must be a string.", param="name")
    key, record = await admin.create_key(gw, req.path_params["project"], name)
    return ApiResponse.json({**record.public(), "key": key}, status=201)


async def list_keys(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = admin.check_project(req.path_params["project"])
    records = await gw.store.list_keys(project)
    return ApiResponse.json({"object": "list", "data": [r.public() for r in records]})


async def revoke_key(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    record = await admin.revoke_key(gw, req.path_params["key_id"])
    return ApiResponse.json(record.public())


async def usage(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = admin.check_project(req.query.get("project", ""))
    try:
        limit = int(req.query.get("limit", "1000"))
    except ValueError:
        raise InvalidRequest("'limit' must be an integer.", param="limit") from None
    if not 1 <= limit <= 10_000:
        raise InvalidRequest("'limit' must be between 1 and 10000.", param="limit")
    await gw.usage.flush()
    rows = await gw.store.query_usage(project, req.query.get("since"), req.query.get("until"), limit)
    totals = {"requests": len(rows), "prompt_tokens": sum(r.prompt_tokens for r in rows),
              "completion_tokens": sum(r.completion_tokens for r in rows),
              "cost": round(sum(r.cost for r in rows), 10)}
    return ApiResponse.json({"object": "list", "data": [asdict(r) for r in rows], "totals": totals})


async def get_limits(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    limits, version = await admin.read_limits(gw, req.path_params["project"])
    return ApiResponse.json(limits, headers={"ETag": admin.etag(version)})


async def put_limits(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    limits, version = await admin.save_limits(gw, req.path_params["project"],
                                              req.json_object(), admin.if_match(req.headers))
    return ApiResponse.json(limits, headers={"ETag": admin.etag(version)})


async def delete_limits(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    await admin.delete_limits(gw, req.path_params["project"])
    return ApiResponse.json({"project": req.path_params["project"], "deleted": True})


async def create_webhook_secret(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = req.path_params["project"]
    secret = await admin.create_webhook_secret(gw, project)
    return ApiResponse.json({"project": project, "secret": secret}, status=201)
