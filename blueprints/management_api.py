"""The management API under `/v1/organization/...`: the catalog, project API keys, limits,
usage and webhook secrets. Authorized by LLMPROXY_ADMIN_KEY inside the core.

Paths follow OpenAI's Admin API where it has the same thing (project API keys); the rest sits
under the same prefix. Never under `admin/` or `runtime/`: the Functions host reserves those
(see runner/host_rules.py)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import admin

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS
ORG = "v1/organization"
PROJECT = ORG + "/projects/{project_id}"


@bp.function_name("org_list_models")
@bp.route(route=ORG + "/models", methods=["GET"], auth_level=ANON)
async def org_list_models(req: Request) -> Response:
    return await serve(req, admin.list_models)


@bp.function_name("org_get_model")
@bp.route(route=ORG + "/models/{id}", methods=["GET"], auth_level=ANON)
async def org_get_model(req: Request) -> Response:
    return await serve(req, admin.get_model)


@bp.function_name("org_put_model")
@bp.route(route=ORG + "/models/{id}", methods=["PUT"], auth_level=ANON)
async def org_put_model(req: Request) -> Response:
    return await serve(req, admin.put_model)


@bp.function_name("org_delete_model")
@bp.route(route=ORG + "/models/{id}", methods=["DELETE"], auth_level=ANON)
async def org_delete_model(req: Request) -> Response:
    return await serve(req, admin.delete_model)


@bp.function_name("org_create_api_key")
@bp.route(route=PROJECT + "/api_keys", methods=["POST"], auth_level=ANON)
async def org_create_api_key(req: Request) -> Response:
    return await serve(req, admin.create_key)


@bp.function_name("org_list_api_keys")
@bp.route(route=PROJECT + "/api_keys", methods=["GET"], auth_level=ANON)
async def org_list_api_keys(req: Request) -> Response:
    return await serve(req, admin.list_keys)


@bp.function_name("org_get_api_key")
@bp.route(route=PROJECT + "/api_keys/{key_id}", methods=["GET"], auth_level=ANON)
async def org_get_api_key(req: Request) -> Response:
    return await serve(req, admin.get_key)


@bp.function_name("org_delete_api_key")
@bp.route(route=PROJECT + "/api_keys/{key_id}", methods=["DELETE"], auth_level=ANON)
async def org_delete_api_key(req: Request) -> Response:
    return await serve(req, admin.revoke_key)


@bp.function_name("org_project_usage")
@bp.route(route=PROJECT + "/usage", methods=["GET"], auth_level=ANON)
async def org_project_usage(req: Request) -> Response:
    return await serve(req, admin.usage)


@bp.function_name("org_get_limits")
@bp.route(route=PROJECT + "/limits", methods=["GET"], auth_level=ANON)
async def org_get_limits(req: Request) -> Response:
    return await serve(req, admin.get_limits)


@bp.function_name("org_put_limits")
@bp.route(route=PROJECT + "/limits", methods=["PUT"], auth_level=ANON)
async def org_put_limits(req: Request) -> Response:
    return await serve(req, admin.put_limits)


@bp.function_name("org_delete_limits")
@bp.route(route=PROJECT + "/limits", methods=["DELETE"], auth_level=ANON)
async def org_delete_limits(req: Request) -> Response:
    return await serve(req, admin.delete_limits)


@bp.function_name("org_create_webhook_secret")
@bp.route(route=PROJECT + "/webhook_secret", methods=["POST"], auth_level=ANON)
async def org_create_webhook_secret(req: Request) -> Response:
    return await serve(req, admin.create_webhook_secret)
