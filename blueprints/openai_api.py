"""The OpenAI-compatible endpoints: each its own HTTP-triggered function."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import chat, models

from .host import serve

bp = func.Blueprint()


@bp.function_name("chat_completions")
@bp.route(route="v1/chat/completions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_completions(req: Request) -> Response:
    return await serve(req, chat.chat_completions)


@bp.function_name("list_models")
@bp.route(route="v1/models", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def list_models(req: Request) -> Response:
    return await serve(req, models.list_models)


@bp.function_name("get_model")
@bp.route(route="v1/models/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def get_model(req: Request) -> Response:
    return await serve(req, models.get_model)
