"""The Files API: `/v1/files[...]`, per project (another project's file is a 404, exactly like
one that never existed). Uploads are streamed from the request into storage; a file part that
arrives before `purpose` (the form's order is the client's choice) waits in a temporary file on
disk, never in memory."""
from __future__ import annotations

import asyncio
import tempfile
from typing import IO, Any, AsyncIterator

from ..errors import InvalidRequest, NotFound, PayloadTooLarge
from ..files import files
from ..files.multipart import Part, read_parts
from ..files.storage import CHUNK, ObjectTooLarge
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse

MAX_LIST = 10_000              # OpenAI's maximum (and default) page size for files
_FIELD_SLACK = 64 * 1024


def upload_limit(settings: Any) -> int:
    """The request body limit of an upload: the file limit and room for the form's fields."""
    return settings.max_file_bytes + _FIELD_SLACK


def _too_large(gw: Gateway) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than this gateway accepts "
                           f"({gw.settings.max_file_bytes} bytes).", param="file")


def _purpose(value: str) -> str:
    if value not in files.UPLOAD_PURPOSES:
        raise InvalidRequest(f"'purpose' must be one of {', '.join(files.UPLOAD_PURPOSES)} "
                             f"(this gateway keeps files for batches and as plain data).",
                             param="purpose")
    return value


async def _spool(part: Part, limit: int) -> IO[bytes]:
    spool = await asyncio.to_thread(tempfile.TemporaryFile)
    size = 0
    try:
        async for chunk in part.chunks():
            size += len(chunk)
            if size > limit:
                raise ObjectTooLarge()
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


async def _unspool(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(spool.read, CHUNK):
            yield chunk
    finally:
        spool.close()


async def create_file(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    assert req.body_stream is not None, "the function must serve with stream_body=True"
    limit = gw.settings.max_file_bytes
    purpose: str | None = None
    stored, spooled, filename = None, None, ""
    try:
        async for part in read_parts(req.body_stream, req.headers.get("content-type", "")):
            if part.name == "purpose" and part.filename is None:
                if purpose is not None:
                    raise InvalidRequest("'purpose' was sent more than once.", param="purpose")
                purpose = _purpose(await part.text())
            elif part.name == "file" and part.filename is not None:
                if stored is not None or spooled is not None:
                    raise InvalidRequest("'file' was sent more than once.", param="file")
                filename = part.filename or "upload"
                if purpose is None:
                    spooled = await _spool(part, limit)
                else:
                    stored = await files.store(gw.objects, caller.project, part.chunks(),
                                               filename=filename, purpose=purpose, limit=limit)
            else:
                raise InvalidRequest(f"Unknown form field '{part.name}' (this endpoint takes "
                                     "'file' and 'purpose').", param=part.name)
        if purpose is None:
            raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose",
                                 code="missing_required_parameter")
        if stored is None and spooled is None:
            raise InvalidRequest("Missing required parameter: 'file' (a file part with a "
                                 "filename).", param="file", code="missing_required_parameter")
        if stored is None:
            stored = await files.store(gw.objects, caller.project, _unspool(spooled),
                                       filename=filename, purpose=purpose, limit=limit)
            spooled = None
    except ObjectTooLarge:
        raise _too_large(gw) from None
    finally:
        if spooled is not None:
            spooled.close()
    return ApiResponse.json(files.public(stored))


async def _own_file(gw: Gateway, req: ApiRequest) -> tuple[str, Any]:
    caller = await gw.keys.authenticate(req.headers)
    file_id = req.path_params["id"]
    found = await files.find(gw.objects, caller.project, file_id)
    if found is None:
        raise NotFound(f"No such File object: {file_id}", param="id", code="file_not_found")
    return found


async def get_file(gw: Gateway, req: ApiRequest) -> ApiResponse:
    _, info = await _own_file(gw, req)
    return ApiResponse.json(files.public(info))


async def file_content(gw: Gateway, req: ApiRequest) -> ApiResponse:
    container, info = await _own_file(gw, req)
    stream = await gw.objects.read(container, info.name)
    if stream is None:              # deleted between the two calls
        raise NotFound(f"No such File object: {req.path_params['id']}", param="id",
                       code="file_not_found")
    return ApiResponse(stream=stream, media_type="application/octet-stream",
                       headers={"Content-Length": str(info.size)})


async def delete_file(gw: Gateway, req: ApiRequest) -> ApiResponse:
    container, info = await _own_file(gw, req)
    await gw.objects.delete(container, info.name)
    return ApiResponse.json({"id": req.path_params["id"], "object": "file", "deleted": True})


def _list_params(req: ApiRequest) -> tuple[int, str, str | None]:
    raw = req.query.get("limit", str(MAX_LIST))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_LIST}.", param="limit")
    order = req.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'.", param="order")
    purpose = req.query.get("purpose") or None
    if purpose is not None and purpose not in files.CONTAINER_OF:
        raise InvalidRequest(f"'purpose' must be one of {', '.join(files.CONTAINER_OF)}.",
                             param="purpose")
    return int(raw), order, purpose


async def list_files(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    limit, order, purpose = _list_params(req)
    data = [files.public(i) for i in
            await files.list_files(gw.objects, caller.project, purpose)]
    if order == "desc":
        data.reverse()
    after = req.query.get("after")
    if after:
        ids = [d["id"] for d in data]
        if after not in ids:
            raise InvalidRequest("'after' must be the id of one of your files.", param="after")
        data = data[ids.index(after) + 1:]
    page = data[:limit]
    return ApiResponse.json({"object": "list", "data": page, "has_more": len(data) > limit,
                             "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None})

