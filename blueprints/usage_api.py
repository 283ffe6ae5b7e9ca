"""Usage and costs in OpenAI's Admin API shape, under the management prefix (admin key)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import usage_api

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("org_usage_completions")
@bp.route(route="v1/organization/usage/completions", methods=["GET"], auth_level=ANON)
async def org_usage_completions(req: Request) -> Response:
    return await serve(req, usage_api.completions)


@bp.function_name("org_usage_embeddings")
@bp.route(route="v1/organization/usage/embeddings", methods=["GET"], auth_level=ANON)
async def org_usage_embeddings(req: Request) -> Response:
    return await serve(req, usage_api.embeddings)


@bp.function_name("org_usage_images")
@bp.route(route="v1/organization/usage/images", methods=["GET"], auth_level=ANON)
async def org_usage_images(req: Request) -> Response:
    return await serve(req, usage_api.images)


@bp.function_name("org_usage_audio_speeches")
@bp.route(route="v1/organization/usage/audio_speeches", methods=["GET"], auth_level=ANON)
async def org_usage_audio_speeches(req: Request) -> Response:
    return await serve(req, usage_api.audio_speeches)


@bp.function_name("org_usage_audio_transcriptions")
@bp.route(route="v1/organization/usage/audio_transcriptions", methods=["GET"], auth_level=ANON)
async def org_usage_audio_transcriptions(req: Request) -> Response:
    return await serve(req, usage_api.audio_transcriptions)


@bp.function_name("org_costs")
@bp.route(route="v1/organization/costs", methods=["GET"], auth_level=ANON)
async def org_costs(req: Request) -> Response:
    return await serve(req, usage_api.costs)


@bp.function_name("org_usage_summary")
@bp.route(route="v1/organization/usage/summary", methods=["GET"], auth_level=ANON)
async def org_usage_summary(req: Request) -> Response:
    return await serve(req, usage_api.summary)


@bp.function_name("org_project_status")
@bp.route(route="v1/organization/projects/{project_id}/status", methods=["GET"],
          auth_level=ANON)
async def org_project_status(req: Request) -> Response:
    return await serve(req, usage_api.project_status)
