"""The Batch API (OpenAI's `/v1/batches`). Creating and cancelling send a hub event through the
`event_hub_output` binding; the job worker (blueprints/jobs_worker.py) runs the batch."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import batches
from shared.handlers.jobs import EVENTS

from .host import serve
from .jobs_api import HUB_CONNECTION, HUB_NAME

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("create_batch")
@bp.route(route="v1/batches", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION, event_hub_name=HUB_NAME)
async def create_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, batches.create_batch, events=events)


@bp.function_name("list_batches")
@bp.route(route="v1/batches", methods=["GET"], auth_level=ANON)
async def list_batches(req: Request) -> Response:
    return await serve(req, batches.list_batches)


@bp.function_name("get_batch")
@bp.route(route="v1/batches/{id}", methods=["GET"], auth_level=ANON)
async def get_batch(req: Request) -> Response:
    return await serve(req, batches.get_batch)


@bp.function_name("cancel_batch")
@bp.route(route="v1/batches/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION, event_hub_name=HUB_NAME)
async def cancel_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, batches.cancel_batch, events=events)
