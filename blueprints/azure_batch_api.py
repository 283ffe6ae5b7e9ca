"""Azure OpenAI's Files and Batch routes (see shared/handlers/azure.py): `/openai/files`,
`/openai/batches` with a dated `api-version` (what `AzureOpenAI(...).files` / `.batches` call) and
their `/openai/v1/...` twins, each serving the `/v1/files` / `/v1/batches` handler unchanged, so a
file or batch is the project's whatever surface created it. Creating and cancelling a batch send
the hub event through the function's output binding, as on /v1 (blueprints/batches_api.py)."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import batches, files
from shared.handlers.azure import on_dated_version, on_v1
from shared.handlers.jobs import EVENTS

from .host import serve
from .jobs_api import HUB_CONNECTION, HUB_NAME

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS

# Wrapped once at import, not per request.
_create_file, _v1_create_file = on_dated_version(files.create_file), on_v1(files.create_file)
_list_files, _v1_list_files = on_dated_version(files.list_files), on_v1(files.list_files)
_get_file, _v1_get_file = on_dated_version(files.get_file), on_v1(files.get_file)
_delete_file, _v1_delete_file = on_dated_version(files.delete_file), on_v1(files.delete_file)
_file_content, _v1_file_content = on_dated_version(files.file_content), on_v1(files.file_content)
_create_batch, _v1_create_batch = (on_dated_version(batches.create_batch),
                                   on_v1(batches.create_batch))
_list_batches, _v1_list_batches = (on_dated_version(batches.list_batches),
                                   on_v1(batches.list_batches))
_get_batch, _v1_get_batch = on_dated_version(batches.get_batch), on_v1(batches.get_batch)
_cancel_batch, _v1_cancel_batch = (on_dated_version(batches.cancel_batch),
                                   on_v1(batches.cancel_batch))


@bp.function_name("azure_create_file")
@bp.route(route="openai/files", methods=["POST"], auth_level=ANON)
async def azure_create_file(req: Request) -> Response:
    return await serve(req, _create_file, body_limit=files.upload_limit, stream_body=True)


@bp.function_name("azure_list_files")
@bp.route(route="openai/files", methods=["GET"], auth_level=ANON)
async def azure_list_files(req: Request) -> Response:
    return await serve(req, _list_files)


@bp.function_name("azure_get_file")
@bp.route(route="openai/files/{id}", methods=["GET"], auth_level=ANON)
async def azure_get_file(req: Request) -> Response:
    return await serve(req, _get_file)


@bp.function_name("azure_delete_file")
@bp.route(route="openai/files/{id}", methods=["DELETE"], auth_level=ANON)
async def azure_delete_file(req: Request) -> Response:
    return await serve(req, _delete_file)


@bp.function_name("azure_file_content")
@bp.route(route="openai/files/{id}/content", methods=["GET"], auth_level=ANON)
async def azure_file_content(req: Request) -> Response:
    return await serve(req, _file_content)


@bp.function_name("azure_create_batch")
@bp.route(route="openai/batches", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_create_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _create_batch, events=events)


@bp.function_name("azure_list_batches")
@bp.route(route="openai/batches", methods=["GET"], auth_level=ANON)
async def azure_list_batches(req: Request) -> Response:
    return await serve(req, _list_batches)


@bp.function_name("azure_get_batch")
@bp.route(route="openai/batches/{id}", methods=["GET"], auth_level=ANON)
async def azure_get_batch(req: Request) -> Response:
    return await serve(req, _get_batch)


@bp.function_name("azure_cancel_batch")
@bp.route(route="openai/batches/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_cancel_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _cancel_batch, events=events)


@bp.function_name("azure_v1_create_file")
@bp.route(route="openai/v1/files", methods=["POST"], auth_level=ANON)
async def azure_v1_create_file(req: Request) -> Response:
    return await serve(req, _v1_create_file, body_limit=files.upload_limit, stream_body=True)


@bp.function_name("azure_v1_list_files")
@bp.route(route="openai/v1/files", methods=["GET"], auth_level=ANON)
async def azure_v1_list_files(req: Request) -> Response:
    return await serve(req, _v1_list_files)


@bp.function_name("azure_v1_get_file")
@bp.route(route="openai/v1/files/{id}", methods=["GET"], auth_level=ANON)
async def azure_v1_get_file(req: Request) -> Response:
    return await serve(req, _v1_get_file)


@bp.function_name("azure_v1_delete_file")
@bp.route(route="openai/v1/files/{id}", methods=["DELETE"], auth_level=ANON)
async def azure_v1_delete_file(req: Request) -> Response:
    return await serve(req, _v1_delete_file)


@bp.function_name("azure_v1_file_content")
@bp.route(route="openai/v1/files/{id}/content", methods=["GET"], auth_level=ANON)
async def azure_v1_file_content(req: Request) -> Response:
    return await serve(req, _v1_file_content)


@bp.function_name("azure_v1_create_batch")
@bp.route(route="openai/v1/batches", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_v1_create_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _v1_create_batch, events=events)


@bp.function_name("azure_v1_list_batches")
@bp.route(route="openai/v1/batches", methods=["GET"], auth_level=ANON)
async def azure_v1_list_batches(req: Request) -> Response:
    return await serve(req, _v1_list_batches)


@bp.function_name("azure_v1_get_batch")
@bp.route(route="openai/v1/batches/{id}", methods=["GET"], auth_level=ANON)
async def azure_v1_get_batch(req: Request) -> Response:
    return await serve(req, _v1_get_batch)


@bp.function_name("azure_v1_cancel_batch")
@bp.route(route="openai/v1/batches/{id}/cancel", methods=["POST"], auth_level=ANON)
@bp.event_hub_output(arg_name=EVENTS, connection=HUB_CONNECTION,
                     event_hub_name=HUB_NAME)
async def azure_v1_cancel_batch(req: Request, events: func.Out[str]) -> Response:
    return await serve(req, _v1_cancel_batch, events=events)
