"""The safety net for lost events: jobs that should have been picked up long ago get their hub
event sent again.

An event can be lost between the store and the hub: the HTTP function stored the job but its
output binding failed to send; a batch was given up after its retry policy ran out; a worker
died and the host checkpointed past its batch. Such a job sits `queued`, or `processing` under
a lease nobody renews. Every few minutes a timer function looks for jobs whose event went out
more than `LLMPROXY_JOB_REQUEUE_AFTER_SECONDS` ago and sends it again; processing is idempotent,
so a job that was merely slow costs one skipped duplicate. Each re-send is recorded (`sent_at`,
a conditional write), so a backlog is not re-sent on every sweep.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ..store import StoreConflict
from . import events, model

log = logging.getLogger(__name__)
_PER_SWEEP = 500


async def requeue_stale(gw: Any) -> list[str]:
    """The hub events to send again (and mark the jobs as re-sent)."""
    moment = model.now()
    before = model.iso(moment - timedelta(seconds=gw.settings.job_requeue_after))
    stale = await gw.store.list_stale_jobs(before, model.iso(moment), _PER_SWEEP)
    found = []
    for stored in stale:
        stored.doc["sent_at"] = model.iso(moment)
        try:
            await gw.store.replace_job(stored.doc, stored.etag)
        except StoreConflict:
            continue                          # it moved meanwhile: alive after all
        found.append(events.reference(stored.doc))
    if found:
        log.warning("re-sending the hub events of %d stale job(s)", len(found))
    return found
