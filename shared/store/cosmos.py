"""The production store: Azure Cosmos DB (NoSQL API) on the async SDK.

One `CosmosClient` per process, opened with the gateway and closed on shutdown. The containers
and why each has its partition key are described in `cosmos_support.py` (and docs/cosmos.md).
Every query is parameterized; every read-modify-write is guarded by the document's ETag.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, fields
from typing import Any, Callable

from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy

from ..catalog import ModelDocument
from ..config import Settings
from .base import KeyRecord, StoreUnavailable, UsageRecord, Versioned, utcnow
from .cosmos_counters import CosmosCounters
from .cosmos_rollups import CosmosRollups
from .cosmos_sessions import CosmosSessions
from .cosmos_jobs import CosmosJobs
from .concurrency import content_version
from .cosmos_responses import CosmosResponses
from .cosmos_support import (NOT_EXPIRED, clean, conditional_upsert, cosmos_read_modify_write,
                             delete_item_if_present, make_client, open_containers, query,
                             read_item_or_none,
                             replace_if_unchanged, storage_errors, with_expiry)

_KEY_FIELDS = [f.name for f in fields(KeyRecord)]
_USAGE_FIELDS = [f.name for f in fields(UsageRecord)]
_WRITE_CONCURRENCY = 16          # parallel point writes per usage batch


def _key_doc(record: KeyRecord) -> dict[str, Any]:
    return {"id": record.hash, **asdict(record)}


def _key_record(doc: dict[str, Any]) -> KeyRecord:
    return KeyRecord(**{name: doc.get(name) for name in _KEY_FIELDS})


class CosmosStore(CosmosCounters, CosmosJobs, CosmosSessions, CosmosResponses, CosmosRollups):
    def __init__(self, settings: Settings, *, usage_ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.time):
        self._settings = settings
        self._clock = clock
        self._usage_ttl = usage_ttl_seconds or None
        self._client: CosmosClient | None = None
        self._credential: Any = None
        self._database: DatabaseProxy | None = None
        self._containers: dict[str, ContainerProxy] = {}
        self._rollup_etags: dict[str, tuple[dict[str, Any], str]] = {}   # cosmos_rollups.py

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        client, credential = make_client(self._settings)
        try:
            self._database, self._containers = await open_containers(client, self._settings)
        except BaseException:
            await client.close()
            if credential is not None:
                await credential.close()
            raise
        self._client, self._credential = client, credential

    def container(self, name: str) -> ContainerProxy:
        """A container of the design in `cosmos_support.CONTAINERS`, for feature stores."""
        if self._client is None:
            raise StoreUnavailable("the Cosmos store is not open")
        return self._containers[name]

    async def ping(self) -> None:
        with storage_errors("ping"):
            await self.container("models").read()

    async def close(self) -> None:
        client, credential = self._client, self._credential
        self._client = self._credential = self._database = None
        self._containers = {}
        if client is not None:
            await client.close()
        if credential is not None:
            await credential.close()

    # -- models ---------------------------------------------------------------------------
    async def list_models(self) -> list[ModelDocument]:
        docs = await query(self.container("models"), "SELECT * FROM c", {})
        models = [ModelDocument.model_validate(clean(d)) for d in docs]
        return sorted(models, key=lambda m: m.id)

    async def get_model(self, model_id: str) -> ModelDocument | None:
        doc = await read_item_or_none(self.container("models"), model_id, model_id)
        return None if doc is None else ModelDocument.model_validate(clean(doc))

    async def get_model_versioned(self, model_id: str) -> Versioned[ModelDocument] | None:
        doc = await read_item_or_none(self.container("models"), model_id, model_id)
        return None if doc is None else Versioned(ModelDocument.model_validate(clean(doc)),
                                                  content_version(doc["_etag"]))

    async def upsert_model(self, doc: ModelDocument, if_match: str | None = None) -> str:
        return await conditional_upsert(self.container("models"), doc.id, doc.to_json(),
                                        if_match)

    async def delete_model(self, model_id: str) -> bool:
        return await delete_item_if_present(self.container("models"), model_id, model_id,
                                            "delete model")

    # -- keys -----------------------------------------------------------------------------
    async def create_key(self, record: KeyRecord) -> None:
        # key_id is derived from the hash, so a unique hash (the id) means a unique key_id.
        with storage_errors("create key"):
            await self.container("keys").create_item(_key_doc(record))

    async def get_key(self, key_hash: str) -> KeyRecord | None:
        doc = await read_item_or_none(self.container("keys"), key_hash, key_hash)
        return None if doc is None else _key_record(doc)

    async def get_key_versioned(self, key_hash: str) -> Versioned[KeyRecord] | None:
        doc = await read_item_or_none(self.container("keys"), key_hash, key_hash)
        return None if doc is None else Versioned(_key_record(doc), doc["_etag"])

    async def replace_key(self, record: KeyRecord, etag: str) -> str:
        return await replace_if_unchanged(self.container("keys"), record.hash,
                                          _key_doc(record), etag)

    async def list_keys(self, project: str) -> list[KeyRecord]:
        docs = await query(self.container("keys"),
                           "SELECT * FROM c WHERE c.project = @project", {"@project": project})
        return sorted((_key_record(d) for d in docs), key=lambda r: r.created_at)

    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        hashes = await query(self.container("keys"),
                             "SELECT VALUE c.id FROM c WHERE c.key_id = @key_id",
                             {"@key_id": key_id})
        if not hashes:
            return None
        revoked_at = utcnow().isoformat()

        def revoke(doc: dict[str, Any]) -> dict[str, Any] | None:
            if doc.get("revoked_at"):
                return None             # revoked already: keep the first time
            return {**doc, "revoked_at": revoked_at}

        doc = await cosmos_read_modify_write(self.container("keys"), hashes[0], hashes[0], revoke)
        return None if doc is None else _key_record(doc)

    # -- usage ----------------------------------------------------------------------------
    async def record_usage(self, rows: list[UsageRecord]) -> None:
        if not rows:
            return
        container, now = self.container("usage"), self._clock()
        limit = asyncio.Semaphore(_WRITE_CONCURRENCY)

        async def write(row: UsageRecord) -> None:
            # Upsert by the row's own id: writing a batch again after a failure is idempotent.
            async with limit:
                with storage_errors("write usage"):
                    await container.upsert_item(with_expiry(asdict(row), self._usage_ttl, now))
        # Rows and rollups at once: each is idempotent on a retry of the same batch (rows by
        # id, rollups by batch key), so neither has to wait for the other.
        results = await asyncio.gather(self._apply_rollups(rows), *(write(r) for r in rows),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def query_usage(self, project: str, since: str | None = None,
                          until: str | None = None, limit: int = 1000) -> list[UsageRecord]:
        conditions = ["c.project = @project", NOT_EXPIRED]
        params: dict[str, Any] = {"@project": project, "@now": self._clock(), "@limit": limit}
        if since:
            conditions.append("c.created_at >= @since")
            params["@since"] = since
        if until:
            conditions.append("c.created_at < @until")
            params["@until"] = until
        sql = (f"SELECT TOP @limit * FROM c WHERE {' AND '.join(conditions)} "
               f"ORDER BY c.created_at DESC")
        docs = await query(self.container("usage"), sql, params, partition_key=project)
        # Rows written before a field existed lack it: the dataclass default stands in.
        return [UsageRecord(**{name: d[name] for name in _USAGE_FIELDS if name in d})
                for d in docs]
