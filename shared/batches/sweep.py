"""The batches' safety net, run by the same timer that re-sends lost job events: a batch whose
window has passed is stopped as `expired` (lines running then still finish); a batch whose next
step's event was lost is nudged.

A batch counts as stalled when its line counts have not moved since this instance's previous
sweep. Then its steps are sent again from the start; every step is idempotent (line jobs are
found by their ids, settled lines stay settled, finalization writes nothing twice), so nudging a
batch that was merely slow costs reads, never a second run of a line.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from . import model, state, steps

log = logging.getLogger(__name__)
_seen: dict[str, float] = {}          # batch id -> settled lines at the previous sweep


async def sweep_batches(gw: Any) -> list[str]:
    found: list[str] = []
    active = await state.active(gw.objects)
    for project, batch_id in active:
        loaded = await state.load(gw.objects, project, batch_id)
        if loaded is not None:
            found += await _sweep_one(gw, loaded[0])
    for gone in set(_seen) - {b for _, b in active}:
        _seen.pop(gone, None)
    if found:
        log.warning("batch sweep: %d event(s) sent for stopped or stalled batches", len(found))
    return found


async def _sweep_one(gw: Any, doc: dict[str, Any]) -> list[str]:
    now = time.time()
    if doc["status"] == model.VALIDATING:
        stalled = now - doc["created_at"] > gw.settings.job_requeue_after
        return [steps.event(doc, "validate")] if stalled else []
    if doc["status"] == model.IN_PROGRESS and not doc["stop"] and now > doc["expires_at"]:
        return await steps.request_stop(gw, doc, "expire")
    settled = sum((await state.counts(gw.store, doc)).values())
    previous, _seen[doc["id"]] = _seen.get(doc["id"]), settled
    if previous is None or previous != settled:
        return []
    if doc["stop"]:
        return [steps.event(doc, "stop", index=0)]
    if doc["status"] == model.IN_PROGRESS:
        return [steps.event(doc, "expand", index=0, line=1, offset=0),
                steps.event(doc, "finalize")]
    return [steps.event(doc, "finalize")]
