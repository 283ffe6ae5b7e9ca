"""Usage rollups: per hour and per day, per (project, model, key, operation), the sums of every
usage row, kept up to date by the stores as they write each batch of rows.

Why: the usage API and the console ask for a month of a busy project in daily buckets; summing
raw rows per request would read millions of them, and the Cosmos DB API has no GROUP BY worth
relying on (the local test server has none). A rollup document is small and there are at most
(hours x groups) of them, so a 30-day daily query reads ~30 x groups documents whatever the
traffic. docs/costs.md explains the design and its limits.

A rollup holds counts and sums only, so merging is addition; latency is a histogram over fixed
bounds, so percentiles can be read back (to the bucket) from any set of rollups. Each store
applies a batch's deltas idempotently: a retried batch (same rows) is recognised by its
`batch_key` and not counted twice (`merge`).
"""
from __future__ import annotations

import bisect
import hashlib
import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

# Rollup widths, in seconds; the usage API answers 1h and 1d buckets from them (1m from rows).
WIDTHS = {"1h": 3600, "1d": 86400}
# Upper bounds (ms) of the latency histogram's buckets; the last is everything slower.
LATENCY_BOUNDS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)
SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_input_tokens",
        "cache_write_input_tokens", "reasoning_tokens", "audio_input_tokens",
        "audio_output_tokens", "images", "characters", "audio_seconds", "cost", "latency_ms_sum")
GROUP = ("project", "model", "key_id", "operation")
_RECENT_BATCHES = 64         # batch keys kept per rollup to recognise a retried batch


@dataclass(frozen=True)
class RollupKey:
    width: str
    start: int               # epoch seconds, a multiple of the width
    project: str
    model: str
    key_id: str
    operation: str

    @property
    def doc_id(self) -> str:
        """A store-safe id (model names may hold any character a catalog id allows)."""
        raw = "\x1f".join((self.width, str(self.start), self.project, self.model, self.key_id,
                           self.operation))
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


def empty(key: RollupKey) -> dict[str, Any]:
    return {"id": key.doc_id, "width": key.width, "start": key.start, "project": key.project,
            "model": key.model, "key_id": key.key_id, "operation": key.operation,
            **{name: 0 for name in SUMS}, "latency_hist": [0] * (len(LATENCY_BOUNDS_MS) + 1),
            "batches": []}


def _hour_start(hour: str | int) -> int:
    """Epoch second of an hour given as UTC ISO text ("2026-03-01T05") or already as epoch."""
    if isinstance(hour, int):
        return hour
    return int(datetime.fromisoformat(hour + ":00:00+00:00").timestamp())


def _hour_key(created_at: str) -> str | int:
    """Rows carry UTC ISO-8601 times (usage.py): their first 13 characters name the hour.
    Any other offset is parsed."""
    if created_at.endswith("+00:00"):
        return created_at[:13]
    at = int(datetime.fromisoformat(created_at).timestamp())
    return at - at % 3600


def latency_slot(latency_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


_ROW_SUMS = SUMS[2:-1]                 # the sums read straight off a row
_row_values = operator.attrgetter(*_ROW_SUMS, "latency_ms", "status", "id")


def deltas(rows: Iterable[Any]) -> dict[RollupKey, dict[str, Any]]:
    """A batch of usage rows summed per rollup (each row counts in its hour and its day),
    each delta tagged with a key made from its rows' ids (see `merge`). Rows are grouped by
    the text of their hour first: parsing a time and building keys per row cost more than
    all the sums."""
    by_hour: dict[tuple, list[tuple]] = {}
    for row in rows:
        group = (_hour_key(row.created_at), row.project, row.model, row.key_id, row.operation)
        by_hour.setdefault(group, []).append(_row_values(row))
    out: dict[RollupKey, dict[str, Any]] = {}
    ids: dict[RollupKey, list[str]] = {}
    n = len(_ROW_SUMS)
    for (hour_key, *names), values in by_hour.items():
        hour = _hour_start(hour_key)
        columns = list(zip(*values))
        hist = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for latency in columns[n]:
            hist[latency_slot(latency)] += 1
        sums = {name: sum(column) for name, column in zip(_ROW_SUMS, columns)}
        sums.update(requests=len(values), errors=sum(1 for s in columns[n + 1] if s >= 400),
                    latency_ms_sum=sum(columns[n]))
        for width, seconds in WIDTHS.items():
            key = RollupKey(width, hour - hour % seconds, *names)
            delta = out.get(key)
            if delta is None:
                delta = out[key] = empty(key)
            for name, value in sums.items():
                delta[name] += value
            delta["latency_hist"] = [a + b for a, b in zip(delta["latency_hist"], hist)]
            ids.setdefault(key, []).extend(columns[n + 2])
    for key, delta in out.items():
        delta["batch_key"] = hashlib.sha256("".join(sorted(ids[key])).encode()).hexdigest()[:24]
    return out


IDENTITY = ("id", "width", "start", "project", "model", "key_id", "operation")


def merge(current: dict[str, Any] | None, delta: dict[str, Any]) -> dict[str, Any] | None:
    """`current` (None: no rollup yet) with `delta` added; None when `delta`'s batch was applied
    already (the store wrote it, then failed before the recorder heard back, and the recorder
    sent the same rows again)."""
    doc = dict(current) if current is not None else {k: delta[k] for k in IDENTITY}
    batches = list(doc.get("batches") or [])
    if delta["batch_key"] in batches:
        return None
    for name in SUMS:
        doc[name] = round(doc.get(name, 0) + delta[name], 10)
    hist = doc.get("latency_hist") or [0] * len(delta["latency_hist"])
    doc["latency_hist"] = [a + b for a, b in zip(hist, delta["latency_hist"])]
    doc["batches"] = (batches + [delta["batch_key"]])[-_RECENT_BATCHES:]
    return doc


def percentile(hist: list[int], fraction: float) -> float | None:
    """The histogram bucket bound (ms) under which `fraction` of the calls fall (the last
    bound when they fall beyond it: "at least that")."""
    total = sum(hist)
    if not total:
        return None
    wanted, seen = fraction * total, 0
    for i, count in enumerate(hist):
        seen += count
        if seen >= wanted:
            return float(LATENCY_BOUNDS_MS[min(i, len(LATENCY_BOUNDS_MS) - 1)])
    return float(LATENCY_BOUNDS_MS[-1])
