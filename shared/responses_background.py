"""Background responses (`background: true`) on the async job pipeline that already exists.

Creating one stores its chat body as a job (source `responses`, the response id as its
`custom_id`) and answers `queued` at once; the handler hands the job's hub event to the Event
Hub output binding, and the job worker runs it like any async chat job (lease, retries,
metering as `Responses`). The response document keeps the job's id. Reading the response
follows the job: `queued`, `in_progress` while a worker holds it, then `completed` (the job's
chat completion translated to output items, stored back so later reads and
`previous_response_id` need no translation), `failed` or `cancelled`. Cancelling cancels the
job through the same conditional write as `DELETE /v1/chat/completions/async/{id}`.
"""
from __future__ import annotations

import math
from typing import Any

from .errors import Conflict, InvalidRequest, NotFound
from .jobs import events, model
from .jobs.cancel import cancel_job
from .keys import Caller
from .responses import Created, Prepared, document, own_response
from .store import StoredJob
from .surfaces import responses_output as out

_PRIORITY = 5                       # the middle of the job pipeline's 1 (first) .. 10
_STATUS = {model.QUEUED: "queued", model.PROCESSING: "in_progress",
           model.CANCELLED: "cancelled"}


async def submit(gw: Any, caller: Caller, prepared: Prepared) -> Created:
    if prepared.request.stream:
        raise InvalidRequest("'stream' cannot be combined with 'background' on this gateway: "
                             "create the response, then poll it.", param="stream")
    response = prepared.response
    response["status"] = "queued"
    hours = max(1, math.ceil(gw.settings.responses_retention_days * 24))
    job = model.new_job(project=caller.project, body=prepared.chat, priority=_PRIORITY,
                        ttl_hours=hours, custom_id=response["id"], key_id=caller.key_id,
                        source=model.RESPONSES_SOURCE)
    await gw.store.create_job(job)
    await gw.store.put_response(document(gw, caller, prepared, job=job["id"]))
    return Created(response=response, hub_event=events.reference(job))


def _job_reader(gw: Any, caller: Caller, doc: dict[str, Any]):
    async def read() -> StoredJob:
        stored = await gw.store.get_job(caller.project, doc["job"])
        if stored is None:                   # the job expired before the response did
            raise NotFound(f"Response with id '{doc['id']}' not found.", param="response_id",
                           code="response_not_found")
        return stored
    return read


async def _follow(gw: Any, doc: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """`doc` brought up to date with its job; written back once the job has finished."""
    response = doc["response"]
    status = job["status"]
    if status in _STATUS:
        response["status"] = _STATUS[status]
    elif status == model.COMPLETED:
        out.from_chat(response, job["result"] or {}, doc["conversation"])
    else:
        error = job.get("error") or {}
        out.failed(response, error.get("code"), str(error.get("message") or "The job failed."))
    if status in model.TERMINAL:
        doc["conversation"] = doc["conversation"] + response["output"]
        await gw.store.put_response(doc)
    return doc


async def refresh(gw: Any, caller: Caller, doc: dict[str, Any]) -> dict[str, Any]:
    stored = await _job_reader(gw, caller, doc)()
    return await _follow(gw, doc, stored.doc)


def _already(response_id: str, status: str) -> InvalidRequest:
    return InvalidRequest(f"Response '{response_id}' is already {status}; it cannot be "
                          "cancelled.", param="response_id", code="response_already_finished")


async def cancel(gw: Any, caller: Caller, response_id: str) -> tuple[dict[str, Any], Any]:
    """The cancelled response, and the job's hub event when it has a webhook to notify."""
    doc = await own_response(gw, caller, response_id)
    if not doc.get("job"):
        raise InvalidRequest("Only responses created with 'background': true can be "
                             "cancelled.", param="response_id")
    if doc["response"]["status"] in ("queued", "in_progress"):
        doc = await refresh(gw, caller, doc)         # it may have finished meanwhile
    status = doc["response"]["status"]
    if status == "cancelled":
        return doc["response"], None
    if status not in ("queued", "in_progress"):
        raise _already(response_id, status)
    try:
        job = await cancel_job(gw, _job_reader(gw, caller, doc))
    except Conflict:
        # The worker finished it between that look and this write: answer as if it had
        # finished before (the job's 409 names a job id this API never showed).
        doc = await refresh(gw, caller, doc)
        status = doc["response"]["status"]
        if status == "cancelled":
            return doc["response"], None
        if status not in ("queued", "in_progress"):
            raise _already(response_id, status) from None
        raise Conflict(f"Response '{response_id}' kept changing; try again.",
                       param="response_id", code="response_busy") from None
    doc = await _follow(gw, doc, job)
    hub_event = events.reference(job) if job["webhook"]["url"] else None
    return doc["response"], hub_event
