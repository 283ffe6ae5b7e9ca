"""Cosmos DB side of the usage rollups (`shared/rollups.py`).

Containers `usage_hourly` and `usage_daily` (one per width, so a month of daily buckets reads
only daily documents), partitioned by `/project` like the rows. While a batch's rows are
upserted, each of its rollup deltas is applied with an ETag-guarded replace (creating the
document when it is the first of its hour or day; the copy this process wrote last saves the
read); a retried batch is recognised by its `batch_key` (rollups.merge), so a failure part way
never counts a row twice.
Queries read the documents of one width and time range across partitions: no GROUP BY needed.
"""
from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import Any

from .. import rollups
from .base import StoreConflict, UsageRecord
from .concurrency import DEFAULT_ATTEMPTS
from .cosmos_support import (NOT_EXPIRED, clean, query, read_item_or_none,
                             replace_if_unchanged, storage_errors)

_USAGE_FIELDS = [f.name for f in fields(UsageRecord)]
_CONCURRENCY = 16
_KNOWN_MAX = 10_000          # rollups whose last written copy (and ETag) this process keeps
CONTAINER = {"1h": "usage_hourly", "1d": "usage_daily"}


async def _read(container: Any, key: rollups.RollupKey) -> tuple[dict[str, Any], str] | None:
    doc = await read_item_or_none(container, key.doc_id, key.project)
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if not k.startswith("_")}, doc["_etag"]


class CosmosRollups:
    """Mixed into `CosmosStore` (which provides `container`, `_clock` and `_rollup_etags`: doc id
    -> (the rollup as this process last wrote it, its ETag))."""

    async def _apply_rollups(self, rows: list[UsageRecord]) -> None:
        limit = asyncio.Semaphore(_CONCURRENCY)
        known = self._rollup_etags
        if len(known) > _KNOWN_MAX:          # hours and days go by: forget them all now and then
            known.clear()

        async def apply(key: rollups.RollupKey, delta: dict[str, Any]) -> None:
            container = self.container(CONTAINER[key.width])
            async with limit:
                for _ in range(DEFAULT_ATTEMPTS):
                    # The copy this process wrote last, if any: one conditional replace then,
                    # instead of a read and a replace (metering batches are small and frequent).
                    current = known.pop(key.doc_id, None) or await _read(container, key)
                    if current is None:
                        doc = rollups.merge(None, delta)
                        try:           # the first row of this hour or day: create the rollup
                            with storage_errors("create usage rollup"):
                                made = await container.create_item(doc)
                        except StoreConflict:
                            continue   # another writer created it first: add to theirs
                        known[key.doc_id] = (doc, made["_etag"])
                        return
                    doc, etag = current
                    merged = rollups.merge(doc, delta)
                    if merged is None:             # this batch was applied before
                        known[key.doc_id] = current
                        return
                    try:
                        known[key.doc_id] = (merged, await replace_if_unchanged(
                            container, key.doc_id, merged, etag))
                        return
                    except StoreConflict:
                        continue                   # changed since: read it again
                raise StoreConflict("usage rollup: lost every race to create or update it")
        results = await asyncio.gather(*(apply(k, d) for k, d in rollups.deltas(rows).items()),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def query_rollups(self, width: str, start: int, end: int,
                            projects: list[str] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM c WHERE c.width = @width AND c.start >= @start AND c.start < @end"
        params: dict[str, Any] = {"@width": width, "@start": start, "@end": end}
        if projects:
            sql += " AND ARRAY_CONTAINS(@projects, c.project)"
            params["@projects"] = projects
        return [clean(d) for d in await query(self.container(CONTAINER[width]), sql, params)]

    async def scan_usage(self, since: str, until: str, projects: list[str] | None = None,
                         limit: int = 100_000) -> list[UsageRecord]:
        conditions = ["c.created_at >= @since", "c.created_at < @until", NOT_EXPIRED]
        params: dict[str, Any] = {"@since": since, "@until": until, "@now": self._clock(),
                                  "@limit": limit}
        if projects:
            conditions.append("ARRAY_CONTAINS(@projects, c.project)")
            params["@projects"] = projects
        sql = (f"SELECT TOP @limit * FROM c WHERE {' AND '.join(conditions)} "
               f"ORDER BY c.created_at")
        docs = await query(self.container("usage"), sql, params)
        return [UsageRecord(**{name: d[name] for name in _USAGE_FIELDS if name in d})
                for d in docs]
