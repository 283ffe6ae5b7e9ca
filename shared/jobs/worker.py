"""A delivered batch of hub events, processed so that nothing is lost and nothing done twice.

For each job: read it; skip it if it is gone (expired) or already being processed under a live
lease; claim it with a conditional write (queued -> processing, or a stale lease taken over);
call the provider; commit the terminal state with a conditional write against the claim's
version, so a cancel that landed meanwhile wins and the result is discarded; then send the
webhook. A terminal job is not run again: its owed webhook is finished and its result document
re-emitted for the output binding (an idempotent upsert).

Within a batch, higher priority (1) starts first and at most `job_concurrency` jobs run at once.
One bad event never fails the batch; only an unavailable store does, so that the host's retry
policy redelivers the batch instead of checkpointing past jobs that were never stored.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from .. import telemetry
from ..batches import steps as batch_steps
from ..batches.tracker import LineTracker
from ..errors import GatewayError
from ..store import StoreConflict, StoredJob, StoreUnavailable
from . import model
from .attempts import call_with_retries, error_of
from .events import HubEvent, Parsed, parse
from .ingest import ingest_line, record_unparsed
from .webhooks import Notifier

log = logging.getLogger(__name__)


async def process_batch(gw: Any, events: list[HubEvent]) -> list[dict[str, Any]]:
    """Run a batch; return the result documents of the jobs it saw finished."""
    return (await process_events(gw, events))[0]


async def process_events(gw: Any, events: list[HubEvent]) -> tuple[list[dict[str, Any]],
                                                                   list[str]]:
    """Run a batch of hub events: the result documents of the jobs it saw finished, and the
    events to send next (the steps of OpenAI Batch API batches, shared/batches/)."""
    parsed = sorted(((parse(e), e) for e in events), key=lambda pe: pe[0].priority)
    queue: asyncio.Queue = asyncio.Queue()
    for item in parsed:
        queue.put_nowait(item)
    worker = _Worker(gw)
    lanes = min(max(1, gw.settings.job_concurrency), len(parsed)) or 1
    await asyncio.gather(*(worker.drain(queue) for _ in range(lanes)))
    try:
        worker.followups += await worker.lines.flush()
    except StoreUnavailable as exc:
        log.error("store unavailable while counting batch lines: %s", exc)
        worker.store_failed = True
    if worker.store_failed:
        raise StoreUnavailable("the store failed during the batch; it will be redelivered")
    return worker.finished, worker.followups


def _leased(doc: dict[str, Any]) -> bool:
    lease = model.parse_iso(doc.get("lease_until"))
    return doc["status"] == model.PROCESSING and lease is not None and lease > model.now()


class _Worker:
    def __init__(self, gw: Any):
        self.gw = gw
        self.notifier = Notifier(gw)
        self.finished: list[dict[str, Any]] = []
        self.store_failed = False
        self.known_projects: dict[str, bool] = {}
        self.followups: list[str] = []          # hub events to send when the batch is done
        self.lines = LineTracker(gw)

    async def drain(self, queue: asyncio.Queue) -> None:
        while not queue.empty():
            parsed, event = queue.get_nowait()
            trace = telemetry.start_request("chat_job")     # one trace per job (when tracing)
            trace.enter()
            try:
                status = await self._process(parsed, event, trace)
            finally:
                trace.leave()
            trace.finish(status)

    async def _process(self, parsed: Parsed, event: HubEvent, trace: Any) -> int:
        stored = None
        try:
            stored = await self._job_for(parsed, event)
            if stored is not None:
                trace.annotate(**{"llmproxy.job_id": stored.doc.get("id"),
                                  "llmproxy.project": stored.doc.get("project")})
                done = await self.run(stored)
                if done is not None:
                    trace.annotate(**{"llmproxy.job_status": done.doc.get("status")})
                    if not done.doc.get("batch_id"):    # a batch's results go to its files
                        self.finished.append(model.result_document(done.doc))
            return 200
        except StoreUnavailable as exc:
            log.error("store unavailable while processing an event: %s", exc)
            self.store_failed = True
            return 503
        except Exception:
            log.exception("unexpected failure on one event; the rest of the batch goes on")
            if stored is not None:
                await self._give_up(stored.doc)
            return 500

    async def _give_up(self, doc: dict[str, Any]) -> None:
        """A job that hit a gateway bug ends `failed`, rather than `processing` until it
        expires (no redelivery would come: the batch itself succeeded)."""
        try:
            current = await self.gw.store.get_job(doc["project"], doc["id"])
            if current is None or current.doc["status"] in model.TERMINAL:
                return
            current.doc["error"] = {"message": "The gateway failed while processing this job.",
                                    "type": "server_error", "param": None,
                                    "code": "internal_error", "status": 500}
            model.finish(current.doc, model.FAILED, model.now())
            etag = await self.gw.store.replace_job(current.doc, current.etag)
            await self.notifier.deliver_pending(StoredJob(current.doc, etag))
            if current.doc.get("batch_id"):
                await self.lines.after_run(current.doc)
        except Exception as exc:            # StoreConflict: someone else moved it on
            log.warning("could not mark job %s failed: %s", doc["id"], type(exc).__name__)

    async def _job_for(self, parsed: Parsed, event: HubEvent) -> StoredJob | None:
        if parsed.kind == "reference":
            stored = await self.gw.store.get_job(parsed.data["project"],
                                                 parsed.data["execution_id"])
            if stored is None:
                log.warning("job %s (project %s) is unknown or expired; event skipped",
                            parsed.data["execution_id"], parsed.data["project"])
            return stored
        if parsed.kind == "batch":
            self.followups += await batch_steps.handle(self.gw, parsed.data)
            return None
        if parsed.kind == "line":
            return await ingest_line(self.gw, self.notifier.guard, parsed, event,
                                     self.known_projects)
        return await record_unparsed(self.gw, parsed, event, self.known_projects)

    async def run(self, stored: StoredJob) -> StoredJob | None:
        """Take one stored job as far as it can go; the terminal job, or None if not ours."""
        if _leased(stored.doc):
            stored = await self._outwait(stored)
            if stored is None:
                return None
        if stored.doc["status"] in model.TERMINAL:
            return await self.notifier.deliver_pending(stored) or stored
        if stored.doc.get("batch_id"):
            run, follow = await self.lines.before_run(stored)
            self.followups += follow
            if not run:
                return None
        claimed = await self._claim(stored)
        if claimed is None:
            return None
        try:
            outcome = await call_with_retries(self.gw, claimed.doc,
                                              self._retry_recorder(claimed))
        except asyncio.CancelledError:
            await self._release(claimed)
            raise
        if outcome is None:
            return None
        committed = await self._commit(claimed, outcome)
        if committed is None:
            return None
        if committed.doc.get("batch_id"):
            await self.lines.after_run(committed.doc)
        return await self.notifier.deliver_pending(committed) or committed

    async def _release(self, claimed: StoredJob) -> None:
        """The host is stopping this invocation mid-call (a graceful shutdown cancels it): end
        the claim's lease now, so the redelivered event takes the job over at once instead of
        waiting out the lease (`job_lease`, 5 minutes by default) with its whole batch."""
        claimed.doc["lease_until"] = model.iso(model.now())
        try:
            await asyncio.wait_for(self.gw.store.replace_job(claimed.doc, claimed.etag), 5)
            log.info("job %s released at shutdown; its redelivery takes it over", claimed.doc["id"])
        except Exception as exc:            # StoreConflict (cancelled meanwhile), store down
            log.warning("job %s not released at shutdown: %s", claimed.doc["id"],
                        type(exc).__name__)

    async def _outwait(self, stored: StoredJob) -> StoredJob | None:
        """Another worker holds the job. Wait for it to finish (then leave the job to it) or for
        its lease to run out (it died: take over). Skipping at once would lose the job when the
        holder crashes after this event was checkpointed."""
        doc = stored.doc
        log.info("job %s is being processed elsewhere; waiting for it", doc["id"])
        pause = 0.05
        while _leased(stored.doc):
            lease = model.parse_iso(stored.doc["lease_until"])
            await asyncio.sleep(min(pause, max(0.0, (lease - model.now()).total_seconds())))
            pause = min(pause * 2, 2.0)
            stored = await self.gw.store.get_job(doc["project"], doc["id"])
            if stored is None or stored.doc["status"] in model.TERMINAL:
                return None
        return stored

    async def _claim(self, stored: StoredJob) -> StoredJob | None:
        doc, moment = stored.doc, model.now()
        if doc["status"] == model.QUEUED:
            doc["started_at"] = model.iso(moment)
            doc["queue_seconds"] = model.seconds_between(doc["created_at"], moment)
        doc["status"] = model.PROCESSING
        doc["claim"] = uuid.uuid4().hex
        doc["lease_until"] = model.iso(moment + timedelta(seconds=self.gw.settings.job_lease))
        doc["attempts"] += 1
        try:
            return StoredJob(doc, await self.gw.store.replace_job(doc, stored.etag))
        except StoreConflict:
            log.info("job %s was claimed or changed by someone else; skipped", doc["id"])
            return None

    def _retry_recorder(self, claimed: StoredJob):
        async def record(err: GatewayError) -> bool:
            claimed.doc["retry_count"] += 1
            claimed.doc["attempts"] += 1
            claimed.doc["error"] = error_of(err)      # the latest failure, while retrying
            claimed.doc["lease_until"] = model.iso(
                model.now() + timedelta(seconds=self.gw.settings.job_lease))
            try:
                claimed.etag = await self.gw.store.replace_job(claimed.doc, claimed.etag)
                return True
            except StoreConflict:
                log.info("job %s changed while retrying (cancelled?); stopping", claimed.doc["id"])
                return False
        return record

    async def _commit(self, claimed: StoredJob, outcome: Any) -> StoredJob | None:
        doc = claimed.doc
        doc.update(result=outcome.result, error=outcome.error, usage=outcome.usage,
                   cost=outcome.cost)
        model.finish(doc, model.COMPLETED if outcome.error is None else model.FAILED,
                     model.now())
        try:
            return StoredJob(doc, await self.gw.store.replace_job(doc, claimed.etag))
        except StoreConflict:
            log.info("job %s changed before its result was written (cancelled?); result "
                     "discarded", doc["id"])
            return None
