"""Limits and budget counters, and limit documents, on Cosmos DB (mixed into `CosmosStore`).

    counters  /id   one small document per counter key (a project's minute window, period ...):
                    {"id", "value", "expires_at", "ttl"}; Cosmos deletes it after its `ttl`
    limits    /id   one document per project: {"id": project, "doc": {...the limits...}}

`add_to_counter` is a read-modify-write guarded by the document's ETag (`IfNotModified`); a
lost race re-reads and tries again after a short jittered pause, so concurrent instances never
both take the last unit under a limit. A first write creates the document, and a create that
loses to another instance's create is retried the same way.
"""
from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from .base import CounterResult
from .concurrency import StoreConflict, Versioned, content_version
from .cosmos_support import (conditional_upsert, read_item_or_none, replace_if_unchanged,
                             storage_errors)

_ATTEMPTS = 80                  # enough for dozens of instances racing on one key
_PAUSE = 0.002                  # seconds, times the attempt number (capped), jittered


class CosmosCounters:
    """Needs `self.container(name)` and `self._clock` from `CosmosStore`."""

    async def add_to_counter(self, key: str, delta: float, *, limit: float | None,
                             expires_at: float) -> CounterResult:
        container = self.container("counters")
        for attempt in range(_ATTEMPTS):
            now = self._clock()
            doc = await read_item_or_none(container, key, key)
            live = doc is not None and doc.get("expires_at", 0) > now
            current = float(doc["value"]) if live else 0.0
            new = max(0.0, current + delta)
            if limit is not None and delta > 0 and new > limit:
                return CounterResult(False, current)
            until = max(expires_at, doc["expires_at"]) if live else expires_at
            body = {"id": key, "value": new, "expires_at": until,
                    "ttl": max(60, math.ceil(until - now) + 60)}
            try:
                if doc is None:
                    with storage_errors("create counter"):
                        await container.create_item(body)
                else:
                    await replace_if_unchanged(container, key, body, doc["_etag"])
                return CounterResult(True, new)
            except StoreConflict:
                await asyncio.sleep(random.uniform(0, _PAUSE * min(attempt + 1, 25)))
        raise StoreConflict(f"counter {key}: too many concurrent updates")

    async def get_counter(self, key: str) -> float:
        doc = await read_item_or_none(self.container("counters"), key, key, now=self._clock())
        return float(doc["value"]) if doc else 0.0

    async def get_limits(self, project: str) -> dict[str, Any] | None:
        doc = await read_item_or_none(self.container("limits"), project, project)
        return None if doc is None else doc["doc"]

    async def get_limits_versioned(self, project: str) -> Versioned[dict[str, Any]] | None:
        doc = await read_item_or_none(self.container("limits"), project, project)
        return None if doc is None else Versioned(doc["doc"], content_version(doc["_etag"]))

    async def put_limits(self, project: str, doc: dict[str, Any],
                         if_match: str | None = None) -> str:
        return await conditional_upsert(self.container("limits"), project,
                                        {"id": project, "doc": doc}, if_match)

    async def delete_limits(self, project: str) -> bool:
        from azure.cosmos import exceptions

        from .cosmos_support import is_missing_document
        with storage_errors("delete limits"):
            try:
                await self.container("limits").delete_item(project, partition_key=project)
            except exceptions.CosmosResourceNotFoundError as exc:
                if is_missing_document(exc):
                    return False
                raise
        return True
