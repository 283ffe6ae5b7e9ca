"""The management API (`/v1/organization/...`), authorized by LLMPROXY_ADMIN_KEY; project keys
get 403. Project API keys answer in the shape of OpenAI's Admin API (`organization.project.api_key`)."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from .. import admin
from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..store import KeyRecord


async def list_models(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    docs = await gw.store.list_models()
    return ApiResponse.json({"object": "list", "data": [admin.model_view(d) for d in docs]})


async def get_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    doc, version = await admin.read_model(gw, req.path_params["id"])
    return ApiResponse.json(admin.model_view(doc), headers={"ETag": admin.etag(version)})


async def put_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    data = req.json_object()
    # Read-only, computed from `costs` (admin.model_view): a document read and written back
    # carries it, and it says nothing the costs do not.
    data.pop("priced_like_parent", None)
    path_id = req.path_params["id"]
    if data.setdefault("id", path_id) != path_id:
        raise InvalidRequest("The body's 'id' differs from the id in the path.", param="id")
    doc, warnings, version = await admin.save_model(gw, data, admin.if_match(req.headers))
    return ApiResponse.json({**admin.model_view(doc), "warnings": warnings},
                            headers={"ETag": admin.etag(version)})


async def delete_model(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    await admin.delete_model(gw, req.path_params["id"])
    return ApiResponse.json({"id": req.path_params["id"], "object": "model", "deleted": True})


def _key_object(record: KeyRecord) -> dict[str, Any]:
    """OpenAI's `organization.project.api_key`, plus when it was revoked (keys are revoked, not
    erased, so usage rows keep naming a key that exists). No `redacted_value`: only a keyed hash
    of the key is stored, nothing of the key itself."""
    return {"object": "organization.project.api_key", "id": record.key_id, "name": record.name,
            "project_id": record.project, "created_at": _unix(record.created_at),
            "last_used_at": None, "revoked_at": _unix(record.revoked_at)}


def _unix(stamp: str | None) -> int | None:
    return None if stamp is None else int(datetime.fromisoformat(stamp).timestamp())


async def create_key(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    data = req.json_object() if req.body else {}
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InvalidRequest("'name' must be a string.", param="name")
    key, record = await admin.create_key(gw, req.path_params["project_id"], name)
    return ApiResponse.json({**_key_object(record), "value": key}, status=201)


async def list_keys(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = admin.check_project(req.path_params["project_id"])
    data = [_key_object(r) for r in await gw.store.list_keys(project)]
    return ApiResponse.json({"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None})


async def get_key(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    record = await admin.get_key(gw, req.path_params["project_id"], req.path_params["key_id"])
    return ApiResponse.json(_key_object(record))


async def revoke_key(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    record = await admin.revoke_key(gw, req.path_params["key_id"], req.path_params["project_id"])
    return ApiResponse.json({"object": "organization.project.api_key.deleted",
                             "id": record.key_id, "deleted": True})


async def usage(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = admin.check_project(req.path_params["project_id"])
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
    limits, version = await admin.read_limits(gw, req.path_params["project_id"])
    return ApiResponse.json(limits, headers={"ETag": admin.etag(version)})


async def put_limits(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    limits, version = await admin.save_limits(gw, req.path_params["project_id"],
                                              req.json_object(), admin.if_match(req.headers))
    return ApiResponse.json(limits, headers={"ETag": admin.etag(version)})


async def delete_limits(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    await admin.delete_limits(gw, req.path_params["project_id"])
    return ApiResponse.json({"project": req.path_params["project_id"], "deleted": True})


async def create_webhook_secret(gw: Gateway, req: ApiRequest) -> ApiResponse:
    await gw.keys.authenticate_admin(req.headers)
    project = req.path_params["project_id"]
    secret = await admin.create_webhook_secret(gw, project)
    return ApiResponse.json({"project": project, "secret": secret}, status=201)
