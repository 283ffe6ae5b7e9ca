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

import re
from typing import Any

from azure.cosmos import exceptions

from .base import Clause, Versioned
from .concurrency import StoreConflict
from .cosmos_support import (is_missing_document, read_item_or_none, replace_if_unchanged,
                             storage_errors)

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

    async def get_legacy_counter(self, key: str) -> float:
        # The release before kept {"id", "value", "expires_at"} per key in this container.
        doc = await read_item_or_none(self.container("counters"), key, key, now=self._clock())
        return float(doc.get("value", 0)) if doc else 0.0

    async def get_limits(self, project: str) -> dict[str, Any] | None:
        doc = await read_item_or_none(self.container("limits"), project, project)
        return None if doc is None else doc["doc"]

    async def put_limits(self, project: str, doc: dict[str, Any]) -> None:
        with storage_errors("put limits"):
            await self.container("limits").upsert_item({"id": project, "doc": doc})

    async def delete_limits(self, project: str) -> bool:
        with storage_errors("delete limits"):
            try:
                await self.container("limits").delete_item(project, partition_key=project)
            except exceptions.CosmosResourceNotFoundError as exc:
                if is_missing_document(exc):
                    return False
                raise
        return True


def _fields(doc: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in doc.items()
            if _FIELD.match(k) and k != "id" and k != "ttl" and isinstance(v, (int, float))}
