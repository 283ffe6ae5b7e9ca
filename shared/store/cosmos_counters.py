"""Limits and budget counters, and limit documents, on Cosmos DB (mixed into `CosmosStore`).

    counters  /id   one small document per counter key (shared/limit_counters.py: a project's
                    or key's current minute, concurrency bucket and budget period, all in one):
                    {"id", ...numbers..., "ttl"}; Cosmos deletes it `ttl` s after its last write
    limits    /id   one document per project: {"id": project, "doc": {...the limits...}}

`patch_counters` is one conditional partial update: `incr` operations and a filter predicate
that Cosmos evaluates and applies as one atomic step where the document lives, so many instances
adding to one counter never race and never retry (a 412 means "a condition does not hold").
Creating a document and rolling a window over are ETag-guarded creates and replaces; they happen
about once a minute per counter.
"""
from __future__ import annotations

import asyncio
import math
import random
import re
from typing import Any

from azure.cosmos import exceptions

from .base import Clause, CounterResult, Versioned
from .concurrency import StoreConflict, content_version
from .cosmos_support import (conditional_upsert, delete_item_if_present, is_missing_document,
                             read_item_or_none, replace_if_unchanged, storage_errors)

_SINGLE_ATTEMPTS = 80          # single-value counters: dozens of instances racing on one key
_PAUSE = 0.002                 # seconds, times the attempt number (capped), jittered
_FIELD = re.compile(r"^[a-z]+$")      # also what the local test server's parser keeps intact


def _number(value: float) -> str:
    """A number as Cosmos SQL reads it (no exponent: 1e-05 is written 0.00001)."""
    if float(value).is_integer():
        return str(int(value))
    return format(value, ".12f").rstrip("0").rstrip(".")


def filter_predicate(where: list[Clause]) -> str | None:
    terms = []
    for clause in where:
        if not clause.fields or not all(_FIELD.match(f) for f in clause.fields):
            raise ValueError(f"counter fields must be lowercase letters: {clause.fields}")
        total = " + ".join(f"c.{f}" for f in clause.fields)
        terms.append(f"({total}) {clause.op} {_number(clause.bound)}")
    return "FROM c WHERE " + " AND ".join(terms) if terms else None


class CosmosCounters:
    """Needs `self.container(name)` and `self._clock` from `CosmosStore`."""

    async def patch_counters(self, key: str, incr: dict[str, float], where: list[Clause]
                             ) -> dict[str, float] | None:
        operations = [{"op": "incr", "path": f"/{name}", "value": value}
                      for name, value in incr.items()]
        predicate = filter_predicate(where)
        options: dict[str, Any] = {} if predicate is None else {"filter_predicate": predicate}
        with storage_errors("patch counters"):
            try:
                doc = await self.container("counters").patch_item(
                    item=key, partition_key=key, patch_operations=operations, **options)
            except exceptions.CosmosAccessConditionFailedError:
                return None                     # a condition does not hold: nothing changed
            except exceptions.CosmosResourceNotFoundError as exc:
                if is_missing_document(exc):
                    return None
                raise
        return _fields(doc)

    async def read_counters(self, key: str) -> Versioned[dict[str, float]] | None:
        doc = await read_item_or_none(self.container("counters"), key, key)
        return None if doc is None else Versioned(_fields(doc), doc["_etag"])

    async def write_counters(self, key: str, fields: dict[str, float], *, etag: str | None,
                             ttl: float) -> bool:
        body = {"id": key, **fields, "ttl": max(1, int(ttl))}
        container = self.container("counters")
        try:
            if etag is None:
                with storage_errors("create counters"):
                    await container.create_item(body)
            else:
                await replace_if_unchanged(container, key, body, etag)
        except StoreConflict:
            return False
        return True

    # -- single-value counters {"id", "value", "expires_at", "ttl"} (batch progress; and what
    # limits used before counter documents): a read and an ETag-guarded replace, retried.
    async def add_to_counter(self, key: str, delta: float, *, limit: float | None,
                             expires_at: float) -> CounterResult:
        container = self.container("counters")
        for attempt in range(_SINGLE_ATTEMPTS):
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
        return float(doc.get("value", 0)) if doc else 0.0

    async def get_legacy_counter(self, key: str) -> float:
        return await self.get_counter(key)

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
        return await delete_item_if_present(self.container("limits"), project, project,
                                            "delete limits")


def _fields(doc: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in doc.items()
            if _FIELD.match(k) and k != "id" and k != "ttl" and isinstance(v, (int, float))}
