"""The console web page and its static assets (one function)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import console

from .host import serve

bp = func.Blueprint()


@bp.function_name("console")
@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def console_page(req: Request) -> Response:
    return await serve(req, console.serve)
