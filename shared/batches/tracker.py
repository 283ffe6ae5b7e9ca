"""What the job worker does for a batch's line job: before running it, settle it instead if its
batch was cancelled or its window has passed; after it ends, count it; and once the hub batch is
done, add its counts to the batch's counters (one add per batch and kind, not per line) and, if
they reach the total, send the event that finalizes the batch.

Counts are live hints (the store's atomic counters); finalization reads every line job, so
counts lost in a crash (a worker killed before its flush) delay a batch until the sweeper finds
it stalled, but never skew it.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ..jobs import model as jobs_model
from . import model, state, steps

_FRESH = 1.0                  # seconds a batch document read is reused within a worker


class LineTracker:
    def __init__(self, gw: Any):
        self.gw = gw
        self._batches: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._counts: dict[str, tuple[dict[str, Any], Counter]] = {}    # until flush()

    async def _batch(self, job: dict[str, Any], fresh: bool = False) -> dict[str, Any] | None:
        key = f"{job['project']}/{job['batch_id']}"
        cached = self._batches.get(key)
        if cached is None or fresh or time.monotonic() - cached[0] > _FRESH:
            found = await state.load(self.gw.objects, job["project"], job["batch_id"])
            cached = (time.monotonic(), found[0] if found else None)
            self._batches[key] = cached
        return cached[1]

    async def before_run(self, stored: Any) -> tuple[bool, list[str]]:
        """(run it?, events to send). A line of a stopped batch is settled, not run."""
        doc = await self._batch(stored.doc)
        if doc is None or doc["status"] in model.TERMINAL or doc["stop"]:
            why = (doc or {}).get("stop") or "cancel"
        elif time.time() > doc["expires_at"]:
            return False, await self._expire(doc, stored)
        else:
            return True, []
        if await steps.settle_job(self.gw, stored, why) and doc is not None:
            self._count(doc, "skipped")
        return False, []

    async def _expire(self, doc: dict[str, Any], stored: Any) -> list[str]:
        follow = await steps.request_stop(self.gw, doc, "expire")
        doc = await self._batch(stored.doc, fresh=True) or doc
        if doc.get("stop") and await steps.settle_job(self.gw, stored, doc["stop"]):
            self._count(doc, "skipped")
        return follow

    async def after_run(self, job: dict[str, Any]) -> None:
        """A line job this worker took to its end (its terminal write was the winning one)."""
        doc = await self._batch(job)
        if doc is not None:
            self._count(doc, "completed" if job["status"] == jobs_model.COMPLETED else "failed")

    def _count(self, doc: dict[str, Any], kind: str) -> None:
        key = f"{doc['project']}/{doc['id']}"
        self._counts.setdefault(key, (doc, Counter()))[1][kind] += 1

    async def flush(self) -> list[str]:
        """Add the counts gathered so far; the finalize events of batches they completed."""
        follow = []
        while self._counts:
            _key, (doc, counts) = self._counts.popitem()
            settled = 0.0
            for kind, n in counts.items():
                settled = await steps.count(self.gw, doc, kind, n)
            if doc["total"] and settled >= doc["total"]:
                follow.append(steps.event(doc, "finalize"))
        return follow
