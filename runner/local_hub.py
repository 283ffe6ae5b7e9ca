"""The local stand-in for Event Hubs: a durable queue in the embedded SQLite file, and a pump
that feeds its events to the app's own Event Hub-triggered function.

An event stays in the table until the batch that carried it has been handled (the pump's
checkpoint deletes it), so events accepted before a crash are delivered again after a restart:
at-least-once, as in Azure. Like the Functions host, the pump retries a batch whose function
raised according to the function's retry policy, and then checkpoints past it.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import azure.functions as func

log = logging.getLogger("runner.hub")

_SCHEMA = """CREATE TABLE IF NOT EXISTS local_hub_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, enqueued_at TEXT NOT NULL)"""


class LocalHub:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.arrived = asyncio.Event()

    def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            if self._conn is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, check_same_thread=False,
                                             isolation_level=None, timeout=30)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(_SCHEMA)
            return fn(self._conn)

    def send_now(self, bodies: list[bytes]) -> None:
        stamp = datetime.now(timezone.utc).isoformat()

        def insert(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")          # all of a send, or none of it
            try:
                c.executemany("INSERT INTO local_hub_events (body, enqueued_at) VALUES (?, ?)",
                              [(b, stamp) for b in bodies])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        self._run(insert)

    async def send(self, bodies: list[bytes]) -> None:
        await asyncio.to_thread(self.send_now, bodies)
        self.arrived.set()

    async def receive(self, limit: int) -> list[func.EventHubEvent]:
        rows = await asyncio.to_thread(self._run, lambda c: c.execute(
            "SELECT seq, body, enqueued_at FROM local_hub_events ORDER BY seq LIMIT ?",
            (limit,)).fetchall())
        return [func.EventHubEvent(body=bytes(body), sequence_number=seq, offset=str(seq),
                                   enqueued_time=datetime.fromisoformat(at))
                for seq, body, at in rows]

    async def checkpoint(self, last_seq: int) -> None:
        await asyncio.to_thread(self._run, lambda c: c.execute(
            "DELETE FROM local_hub_events WHERE seq <= ?", (last_seq,)))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _seconds(interval: str | None, default: float) -> float:
    if not interval:
        return default
    hours, minutes, seconds = (float(p) for p in interval.split(":"))
    return hours * 3600 + minutes * 60 + seconds


class HubPump:
    """Drains the local hub in batches into one Event Hub-triggered function."""

    def __init__(self, hub: LocalHub, invoke: Callable[[list[func.EventHubEvent]], Awaitable[None]],
                 retry: dict[str, Any] | None, batch_size: int, poll: float = 0.2):
        self._hub, self._invoke, self._retry = hub, invoke, retry or {}
        self._batch_size, self._poll = batch_size, poll

    async def run(self) -> None:
        while True:
            try:
                batch = await self._hub.receive(self._batch_size)
            except sqlite3.Error as exc:
                log.error("local hub unreadable: %s", exc)
                batch = []
            if not batch:
                self._hub.arrived.clear()
                try:
                    await asyncio.wait_for(self._hub.arrived.wait(), self._poll)
                except asyncio.TimeoutError:
                    pass
                continue
            await self._deliver(batch)
            await self._hub.checkpoint(batch[-1].sequence_number)

    async def _deliver(self, batch: list[func.EventHubEvent]) -> None:
        retries = int(self._retry.get("max_retry_count", 0))
        delay = _seconds(self._retry.get("minimum_interval") or
                         self._retry.get("delay_interval"), 1.0)
        ceiling = _seconds(self._retry.get("maximum_interval"), delay)
        for attempt in range(retries + 1):
            try:
                await self._invoke(batch)
                return
            except Exception as exc:
                log.error("batch of %d event(s) failed (attempt %d of %d): %s: %s", len(batch),
                          attempt + 1, retries + 1, type(exc).__name__, exc)
            if attempt < retries:
                await asyncio.sleep(delay)
                if self._retry.get("strategy") == "exponential_backoff":
                    delay = min(delay * 2, ceiling)
        log.error("batch of %d event(s) abandoned after its retries, as the Functions host "
                  "would checkpoint past it", len(batch))
