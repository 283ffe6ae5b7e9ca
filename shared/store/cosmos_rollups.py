"""Cosmos DB side of the usage rollups (`shared/rollups.py`).

Containers `usage_hourly` and `usage_daily` (one per width, so a month of daily buckets reads
only daily documents), partitioned by `/project` like the rows. After a batch's rows are
upserted, each of its rollup deltas is applied with an ETag-guarded read-modify-write (creating
the document when it is the first of its hour or day); a retried batch is recognised by its
`batch_key` (rollups.merge), so a failure between rows and rollups never counts a row twice.
Queries read the documents of one width and time range across partitions: no GROUP BY needed.
"""
from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import Any

from .. import rollups
from .base import StoreConflict, UsageRecord
from .concurrency import DEFAULT_ATTEMPTS
from .cosmos_support import (NOT_EXPIRED, clean, cosmos_read_modify_write, query,
                             storage_errors)

_USAGE_FIELDS = [f.name for f in fields(UsageRecord)]
_CONCURRENCY = 16
CONTAINER = {"1h": "usage_hourly", "1d": "usage_daily"}


class CosmosRollups:
    """Mixed into `CosmosStore` (which provides `container` and `_clock`)."""

    async def _apply_rollups(self, rows: list[UsageRecord]) -> None:
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def apply(key: rollups.RollupKey, delta: dict[str, Any]) -> None:
            container = self.container(CONTAINER[key.width])
            async with limit:
                for _ in range(DEFAULT_ATTEMPTS):
                    written = await cosmos_read_modify_write(
                        container, key.doc_id, key.project,
                        lambda doc: rollups.merge(doc, delta))
                    if written is not None:
                        return
                    try:               # the first row of this hour or day: create the rollup
                        with storage_errors("create usage rollup"):
                            await container.create_item(rollups.merge(None, delta))
                        return
                    except StoreConflict:
                        continue       # another writer created it first: add to theirs
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
