"""The OpenAI Responses API, each route its own HTTP-triggered function. Creating a background
response and cancelling one send the async job pipeline's hub event through the function's
Event Hub output binding, like the async chat jobs do (blueprints/jobs_api.py)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import responses

from .host import serve
from .jobs_api import HUB_CONNECTION, HUB_NAME

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("create_response")
@bp.route(route="v1/responses", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def create_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, responses.create, events=events)


@bp.function_name("get_response")
@bp.route(route="v1/responses/{id}", methods=["GET"], auth_level=ANON)
async def get_response(req: Request) -> Response:
    return await serve(req, responses.retrieve)


@bp.function_name("delete_response")
@bp.route(route="v1/responses/{id}", methods=["DELETE"], auth_level=ANON)
async def delete_response(req: Request) -> Response:
    return await serve(req, responses.delete)


@bp.function_name("list_response_input_items")
@bp.route(route="v1/responses/{id}/input_items", methods=["GET"], auth_level=ANON)
async def list_response_input_items(req: Request) -> Response:
    return await serve(req, responses.input_items)


@bp.function_name("cancel_response")
@bp.route(route="v1/responses/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=responses.EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def cancel_response(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, responses.cancel, events=events)
