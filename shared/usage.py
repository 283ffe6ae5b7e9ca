"""Metering: one usage row per request, written off the request path.

Rows go into an in-memory queue and a background task writes them to the store in batches, so a
request never waits on a store write. `flush()` drains the queue (on shutdown, and before the
admin API reads usage so a caller sees its own requests). A failed write is retried with the
next batch rather than dropped; the queue is bounded so a long store outage cannot exhaust memory.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from datetime import datetime, timezone

from . import request_context, telemetry
from .catalog import ResolvedModel
from .providers import Usage
from .store import Store, UsageRecord

log = logging.getLogger(__name__)

_MAX_PENDING = 100_000
_BATCH = 500


class _RowIds:
    """Unique row ids without a system call each: a random 64-bit prefix per process (new after
    a fork) and a counter. uuid4 reads the OS's randomness every time, which cost more than the
    rest of metering a request."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_row_ids = _RowIds()


class _Timestamps:
    """`datetime.now(timezone.utc).isoformat()` with microseconds always shown, from a prefix
    formatted once a second: the datetime round trip cost more than the rest of the row."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.")
            self._second = second
        return f"{self._prefix}{int((now - second) * 1_000_000):06d}+00:00"


_timestamps = _Timestamps()


class UsageRecorder:
    # Every write also updates the hourly and daily rollups (shared/rollups.py): a few
    # documents per write whatever its size, so a busy gateway's batches keep that cost small.
    def __init__(self, store: Store, interval: float = 0.25):
        self._store = store
        self._interval = interval
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()
        self._retry_size = 0

    def record(self, *, project: str, key_id: str, model: ResolvedModel | None, model_name: str,
               operation: str, usage: Usage, latency_ms: float, status: int,
               stream: bool = False, batch: bool = False) -> float:
        """Queue one usage row; the call's cost (from the catalog's prices of `model`)."""
        cost = model.doc.costs.cost_of(usage) if model else 0.0
        row = UsageRecord(id=_row_ids.next(), project=project, model=model_name,
                          operation=operation, prompt_tokens=usage.prompt_tokens,
                          completion_tokens=usage.completion_tokens, cost=round(cost, 10),
                          latency_ms=round(latency_ms, 3), status=status,
                          created_at=_timestamps.now(), key_id=key_id, stream=stream,
                          cached_input_tokens=usage.cached_input_tokens,
                          cache_write_input_tokens=usage.cache_write_input_tokens,
                          reasoning_tokens=usage.reasoning_tokens,
                          audio_input_tokens=usage.audio_input_tokens,
                          audio_output_tokens=usage.audio_output_tokens, images=usage.images,
                          characters=usage.characters,
                          audio_seconds=round(usage.audio_seconds, 3),
                          request_id=request_context.current.get(), batch=batch)
        if telemetry.enabled():
            telemetry.annotate_usage(project=project, key_id=key_id, model=model_name,
                                     operation=operation, prompt_tokens=row.prompt_tokens,
                                     completion_tokens=row.completion_tokens, cost=row.cost,
                                     latency_ms=row.latency_ms, status=status, stream=stream)
        if len(self._pending) >= _MAX_PENDING:
            log.error("usage queue full; dropping the oldest row")
            self._pending.pop(0)
            self._retry_size = max(0, self._retry_size - 1)
        self._pending.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        if len(self._pending) >= _BATCH:
            self._wake.set()
        return cost

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
                # A batch that failed is sent again with exactly the same rows, so the store
                # recognises the rollup deltas it may already have applied (rollups.merge).
                size = self._retry_size or _BATCH
                batch = self._pending[:size]
                try:
                    await self._store.record_usage(batch)
                except Exception as exc:
                    log.warning("usage write failed, will retry: %s", type(exc).__name__)
                    self._retry_size = len(batch)
                    return
                self._retry_size = 0
                del self._pending[:len(batch)]
