"""Metering: one usage row per request, written off the request path.

Rows go into an in-memory queue and a background task writes them to the store in batches, so a
request never waits on a store write. `flush()` drains the queue (on shutdown, and before the
admin API reads usage so a caller sees its own requests). A failed write is retried with the
next batch rather than dropped; the queue is bounded so a long store outage cannot exhaust memory.
"""
from __future__ import annotations

import asyncio
import logging
import uuid

from .catalog import ResolvedModel
from .providers import Usage
from .store import Store, UsageRecord
from .store.base import utcnow

log = logging.getLogger(__name__)

_MAX_PENDING = 100_000
_BATCH = 500


class UsageRecorder:
    def __init__(self, store: Store, interval: float = 0.25):
        self._store = store
        self._interval = interval
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()

    def record(self, *, project: str, key_id: str, model: ResolvedModel | None, model_name: str,
               operation: str, usage: Usage, latency_ms: float, status: int,
               stream: bool = False) -> None:
        cost = model.doc.costs.cost(usage.prompt_tokens, usage.completion_tokens,
                                    images=usage.images, characters=usage.characters,
                                    audio_seconds=usage.audio_seconds) if model else 0.0
        row = UsageRecord(id=uuid.uuid4().hex, project=project, model=model_name,
                          operation=operation, prompt_tokens=usage.prompt_tokens,
                          completion_tokens=usage.completion_tokens, cost=round(cost, 10),
                          latency_ms=round(latency_ms, 3), status=status,
                          created_at=utcnow().isoformat(), key_id=key_id, stream=stream)
        if len(self._pending) >= _MAX_PENDING:
            log.error("usage queue full; dropping the oldest row")
            self._pending.pop(0)
        self._pending.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        if len(self._pending) >= _BATCH:
            self._wake.set()

    async def _run(self) -> None:
        while self._pending:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
            if self._pending:          # the store failed: back off before trying again
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        async with self._write_lock:
            while self._pending:
                batch = self._pending[:_BATCH]
                try:
                    await self._store.record_usage(batch)
                except Exception as exc:
                    log.warning("usage write failed, will retry: %s", type(exc).__name__)
                    return
                del self._pending[:len(batch)]
