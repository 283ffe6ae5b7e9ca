"""The admin API: catalog and project keys. Authorized by LLMPROXY_ADMIN_KEY inside the core."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import admin

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("admin_list_models")
@bp.route(route="admin/models", methods=["GET"], auth_level=ANON)
async def admin_list_models(req: Request) -> Response:
    return await serve(req, admin.list_models)


@bp.function_name("admin_get_model")
@bp.route(route="admin/models/{id}", methods=["GET"], auth_level=ANON)
async def admin_get_model(req: Request) -> Response:
    return await serve(req, admin.get_model)


@bp.function_name("admin_put_model")
@bp.route(route="admin/models/{id}", methods=["PUT"], auth_level=ANON)
async def admin_put_model(req: Request) -> Response:
    return await serve(req, admin.put_model)


@bp.function_name("admin_delete_model")
@bp.route(route="admin/models/{id}", methods=["DELETE"], auth_level=ANON)
async def admin_delete_model(req: Request) -> Response:
    return await serve(req, admin.delete_model)


@bp.function_name("admin_create_key")
@bp.route(route="admin/projects/{project}/keys", methods=["POST"], auth_level=ANON)
async def admin_create_key(req: Request) -> Response:
    return await serve(req, admin.create_key)


@bp.function_name("admin_list_keys")
@bp.route(route="admin/projects/{project}/keys", methods=["GET"], auth_level=ANON)
async def admin_list_keys(req: Request) -> Response:
    return await serve(req, admin.list_keys)


@bp.function_name("admin_revoke_key")
@bp.route(route="admin/keys/{key_id}", methods=["DELETE"], auth_level=ANON)
async def admin_revoke_key(req: Request) -> Response:
    return await serve(req, admin.revoke_key)


@bp.function_name("admin_usage")
@bp.route(route="admin/usage", methods=["GET"], auth_level=ANON)
async def admin_usage(req: Request) -> Response:
    return await serve(req, admin.usage)


@bp.function_name("admin_get_limits")
@bp.route(route="admin/projects/{project}/limits", methods=["GET"], auth_level=ANON)
async def admin_get_limits(req: Request) -> Response:
    return await serve(req, admin.get_limits)


@bp.function_name("admin_put_limits")
@bp.route(route="admin/projects/{project}/limits", methods=["PUT"], auth_level=ANON)
async def admin_put_limits(req: Request) -> Response:
    return await serve(req, admin.put_limits)


@bp.function_name("admin_delete_limits")
@bp.route(route="admin/projects/{project}/limits", methods=["DELETE"], auth_level=ANON)
async def admin_delete_limits(req: Request) -> Response:
    return await serve(req, admin.delete_limits)


@bp.function_name("admin_create_webhook_secret")
@bp.route(route="admin/projects/{project}/webhook-secret", methods=["POST"], auth_level=ANON)
async def admin_create_webhook_secret(req: Request) -> Response:
    return await serve(req, admin.create_webhook_secret)
