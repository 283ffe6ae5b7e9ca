"""The Files API (OpenAI's `/v1/files`): uploads are streamed to storage, not read whole."""
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.handlers import files

from .host import serve

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.function_name("create_file")
@bp.route(route="v1/files", methods=["POST"], auth_level=ANON)
async def create_file(req: Request) -> Response:
    return await serve(req, files.create_file, body_limit=files.upload_limit, stream_body=True)


@bp.function_name("list_files")
@bp.route(route="v1/files", methods=["GET"], auth_level=ANON)
async def list_files(req: Request) -> Response:
    return await serve(req, files.list_files)


@bp.function_name("get_file")
@bp.route(route="v1/files/{id}", methods=["GET"], auth_level=ANON)
async def get_file(req: Request) -> Response:
    return await serve(req, files.get_file)


@bp.function_name("delete_file")
@bp.route(route="v1/files/{id}", methods=["DELETE"], auth_level=ANON)
async def delete_file(req: Request) -> Response:
    return await serve(req, files.delete_file)


@bp.function_name("file_content")
@bp.route(route="v1/files/{id}/content", methods=["GET"], auth_level=ANON)
async def file_content(req: Request) -> Response:
    return await serve(req, files.file_content)
