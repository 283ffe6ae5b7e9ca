"""The Files API: `/v1/files[...]`, per project (another project's file is a 404, exactly like
one that never existed). Uploads are streamed from the request into storage
(shared/files/upload.py), downloads streamed back. An expired file answers like one that never
existed (shared/files/expiry.py)."""
from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, NotFound, PayloadTooLarge
from ..files import expiry, files, upload
from ..files.storage import ObjectTooLarge
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


async def create_file(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    assert req.body_stream is not None, "the function must serve with stream_body=True"
    try:
        stored = await upload.receive(gw.objects, caller.project, req.body_stream,
                                      req.headers.get("content-type", ""),
                                      gw.settings.max_file_bytes)
    except ObjectTooLarge:
        raise _too_large(gw) from None
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
    await expiry.remove(gw.objects, container, info)
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

