"""The Batch API: `/v1/batches[...]`, per project (another project's batch is a 404, exactly like
one that never existed). Creating or cancelling a batch stores its new state and sends one hub
event through the function's output binding; the job worker does the rest (docs/batch.md)."""
from __future__ import annotations

import time
from typing import Any

from ..batches import model, state, steps
from ..errors import Conflict, InvalidRequest, NotFound
from ..files import expiry, files
from ..files.storage import BATCH_INPUT
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from .jobs import EVENTS

_FIELDS = {"input_file_id", "endpoint", "completion_window", "metadata",
           "output_expires_after"}


def _check_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16 or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
            for k, v in value.items()):
        raise InvalidRequest("'metadata' must be an object of at most 16 string values "
                             "(keys up to 64 characters, values up to 512).", param="metadata")
    return value


def _check_endpoint(value: Any) -> str:
    if not isinstance(value, str) or (value not in model.ENDPOINTS
                                      and value not in model.AZURE_SPELLINGS):
        raise InvalidRequest(f"'endpoint' must be one of {', '.join(model.ENDPOINTS)} (or "
                             f"Azure's {', '.join(model.AZURE_SPELLINGS)}).", param="endpoint")
    return value


async def create_batch(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown parameter: '{unknown[0]}' (this gateway takes "
                             f"{', '.join(sorted(_FIELDS))}).", param=unknown[0],
                             code="unknown_parameter")
    endpoint = _check_endpoint(body.get("endpoint"))
    if body.get("completion_window") != model.WINDOW:
        raise InvalidRequest("'completion_window' must be \"24h\".", param="completion_window")
    metadata = _check_metadata(body.get("metadata"))
    output_expires_after = expiry.check_object(body.get("output_expires_after"),
                                               "output_expires_after")
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest("Missing required parameter: 'input_file_id'.",
                             param="input_file_id", code="missing_required_parameter")
    found = await files.find(gw.objects, caller.project, file_id)
    if found is None:
        raise NotFound(f"No such File object: {file_id}", param="input_file_id",
                       code="file_not_found")
    if found[0] != BATCH_INPUT:
        raise InvalidRequest(f"The file '{file_id}' was not uploaded with purpose 'batch'.",
                             param="input_file_id", code="invalid_file_purpose")
    doc = model.new_batch(project=caller.project, key_id=caller.key_id, endpoint=endpoint,
                          input_file_id=file_id, metadata=metadata,
                          output_expires_after=output_expires_after)
    await state.create(gw.objects, doc)
    return ApiResponse.json(model.public(doc, {"completed": 0, "failed": 0}),
                            outputs={EVENTS: steps.event(doc, "validate")})


async def _own_batch(gw: Gateway, req: ApiRequest) -> dict[str, Any]:
    caller = await gw.keys.authenticate(req.headers)
    batch_id = req.path_params["id"]
    found = await state.load(gw.objects, caller.project, batch_id)
    if found is None:
        raise NotFound(f"No such Batch object: {batch_id}", param="id", code="batch_not_found")
    return found[0]


async def _view(gw: Gateway, doc: dict[str, Any]) -> dict[str, Any]:
    return model.public(doc, await state.counts(gw.store, doc))


async def get_batch(gw: Gateway, req: ApiRequest) -> ApiResponse:
    return ApiResponse.json(await _view(gw, await _own_batch(gw, req)))


async def list_batches(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    raw = req.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest("'limit' must be an integer from 1 to 100.", param="limit")
    limit = int(raw)
    ids = list(reversed(await state.list_project(gw.objects, caller.project)))   # newest first
    after = req.query.get("after")
    if after:
        if after not in ids:
            raise InvalidRequest("'after' must be the id of one of your batches.", param="after")
        ids = ids[ids.index(after) + 1:]
    data = []
    for batch_id in ids[:limit]:
        found = await state.load(gw.objects, caller.project, batch_id)
        if found is not None:
            data.append(await _view(gw, found[0]))
    return ApiResponse.json({"object": "list", "data": data, "has_more": len(ids) > limit,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None})


async def cancel_batch(gw: Gateway, req: ApiRequest) -> ApiResponse:
    """A batch still validating is cancelled at once (nothing ran); one in progress becomes
    `cancelling` while its lines that have not started are settled, then `cancelled`."""
    doc = await _own_batch(gw, req)
    now = int(time.time())

    seen: list[str] = []               # the status the winning write started from

    def cancel(d: dict[str, Any]) -> bool:
        seen.append(d["status"])
        if d["status"] == model.VALIDATING:
            d.update(status=model.CANCELLED, cancelling_at=now, cancelled_at=now,
                     final_counts={"completed": 0, "failed": 0, "skipped": 0})
            return True
        if d["status"] == model.IN_PROGRESS and not d["stop"]:
            d.update(status=model.CANCELLING, cancelling_at=now, stop="cancel")
            return True
        return False
    doc = await state.update(gw.objects, doc["project"], doc["id"], cancel) or doc
    # Not the status read above: validation may have finished in between (the update retries
    # on a newer document), and then the lines must be told to stop.
    before = seen[-1] if seen else doc["status"]
    just_cancelled = doc["status"] == model.CANCELLED and before == model.VALIDATING
    if doc["status"] != model.CANCELLING and not just_cancelled:     # cancelling again: as is
        raise Conflict(f"Cannot cancel a batch with status '{doc['status']}'.", param="id",
                       code="batch_not_cancellable")
    outputs = {EVENTS: steps.event(doc, "stop", index=0)} \
        if before == model.IN_PROGRESS and doc["status"] == model.CANCELLING else {}
    return ApiResponse.json(await _view(gw, doc), outputs=outputs)
