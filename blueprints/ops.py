"""Operational endpoints."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import health as health_handler
from shared.handlers import openapi as openapi_handler

from .host import serve

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: Request) -> Response:
    return await serve(req, health_handler.health)


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: Request) -> Response:
    return await serve(req, openapi_handler.openapi)
