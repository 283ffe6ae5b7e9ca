"""Cancelling a job: one conditional write from its current state to `cancelled`, shared by the
async chat jobs endpoint and background responses. A worker that is mid-call loses its commit
(its conditional write fails) and discards the result."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..errors import Conflict
from ..store import StoreConflict, StoredJob
from . import model


async def cancel_job(gw: Any, read: Callable[[], Awaitable[StoredJob]]) -> dict[str, Any]:
    """Cancel the job `read` returns (it raises the caller's 404); the cancelled document.
    409 when the job already finished, or kept changing under us."""
    stored = await read()
    for _ in range(5):
        doc = stored.doc
        if doc["status"] in model.TERMINAL:
            raise Conflict(f"Job '{doc['id']}' is already {doc['status']}.", param="id",
                           code="job_already_finished")
        model.finish(doc, model.CANCELLED, model.now())
        try:
            await gw.store.replace_job(doc, stored.etag)
        except StoreConflict:
            stored = await read()                  # it moved on; look again
            continue
        return doc
    raise Conflict("The job kept changing; try again.", param="id", code="job_busy")
