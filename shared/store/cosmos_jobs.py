"""Jobs on Cosmos DB (mixed into `CosmosStore`).

Containers (see `cosmos_support.CONTAINERS`):

    jobs             /project  a project's jobs: point reads by (project, id), lists and counts
                               inside one logical partition; per-item `ttl` from `ttl_hours`
    job_results      /project  finished jobs as OpenAI Batch output lines, written by the
                               worker function's `cosmos_db_output` binding (and locally here)
    webhook_secrets  /id       one document per project (id = project): the signing secret

State changes are `replace_item` with the ETag the writer read (`IfNotModified`), so a lost race
raises `StoreConflict`. Cosmos counts `ttl` from an item's last write, so every write sets it to
the seconds left until the job's `expires_at`; reads also check `expires_at` (deletion may lag,
and the local test server does not implement TTL).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..jobs.model import seconds_left
from .base import StoreConflict, StoredJob
from .cosmos_support import query, read_item_or_none, replace_if_unchanged, storage_errors

_LIVE = "c.project = @project AND c.expires_at > @now"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


_STORAGE_ONLY = ("ttl", "sort_key")
_SUMMABLE = {"queue_seconds": "c.queue_seconds", "processing_seconds": "c.processing_seconds"}


def _prepared(doc: dict[str, Any]) -> dict[str, Any]:
    """The item as written: `ttl` = seconds left; `sort_key` orders newest-first lists with one
    single-property ORDER BY (several properties would need a composite index)."""
    body = {k: v for k, v in doc.items() if not k.startswith("_")}
    body["ttl"] = seconds_left(doc)
    body["sort_key"] = f"{doc['created_at']}|{doc['id']}"
    return body


def _job(doc: dict[str, Any]) -> StoredJob:
    return StoredJob({k: v for k, v in doc.items()
                      if not k.startswith("_") and k not in _STORAGE_ONLY}, doc["_etag"])


def _live(doc: dict[str, Any] | None) -> bool:
    return doc is not None and doc["expires_at"] > _now_iso()


class CosmosJobs:
    """Needs `self.container(name)` from `CosmosStore`."""

    async def create_job(self, doc: dict[str, Any]) -> tuple[StoredJob, bool]:
        jobs = self.container("jobs")
        try:
            with storage_errors("create job"):
                written = await jobs.create_item(_prepared(doc))
            return _job(written), True
        except StoreConflict:
            pass
        existing = await read_item_or_none(jobs, doc["id"], doc["project"])
        if existing is None:                  # deleted between the two calls: try once more
            with storage_errors("create job"):
                return _job(await jobs.create_item(_prepared(doc))), True
        if _live(existing):
            return _job(existing), False
        etag = await replace_if_unchanged(jobs, doc["id"], _prepared(doc), existing["_etag"])
        return StoredJob(dict(doc), etag), True     # the expired job's id is free again

    async def get_job(self, project: str, job_id: str) -> StoredJob | None:
        doc = await read_item_or_none(self.container("jobs"), job_id, project)
        return _job(doc) if _live(doc) else None

    async def list_jobs(self, project: str, status: str | None, limit: int,
                        after: tuple[str, str] | None) -> list[dict[str, Any]]:
        sql = f"SELECT TOP @limit * FROM c WHERE {_LIVE}"
        params: dict[str, Any] = {"@project": project, "@now": _now_iso(), "@limit": int(limit)}
        if status:
            sql += " AND c.status = @status"
            params["@status"] = status
        if after:
            sql += " AND c.sort_key < @after"
            params["@after"] = f"{after[0]}|{after[1]}"
        sql += " ORDER BY c.sort_key DESC"
        docs = await query(self.container("jobs"), sql, params, partition_key=project)
        return [_job(d).doc for d in docs]

    async def replace_job(self, doc: dict[str, Any], etag: str) -> str:
        return await replace_if_unchanged(self.container("jobs"), doc["id"], _prepared(doc), etag)

    async def list_stale_jobs(self, sent_before: str, now: str,
                              limit: int) -> list[StoredJob]:
        # Across partitions, on purpose: the sweeper looks at every project, rarely.
        docs = await query(self.container("jobs"),
                           "SELECT TOP @limit * FROM c WHERE c.expires_at > @now "
                           "AND c.sent_at < @before AND (c.status = @queued OR "
                           "(c.status = @processing AND c.lease_until < @now))",
                           {"@limit": int(limit), "@now": now, "@before": sent_before,
                            "@queued": "queued", "@processing": "processing"})
        return [_job(d) for d in docs]

    async def count_jobs(self, project: str, status: str) -> int:
        rows = await query(self.container("jobs"),
                           f"SELECT VALUE COUNT(1) FROM c WHERE {_LIVE} AND c.status = @status",
                           {"@project": project, "@now": _now_iso(), "@status": status},
                           partition_key=project)
        return int(rows[0]) if rows else 0

    async def sum_job_field(self, project: str, status: str, name: str) -> float:
        field = _SUMMABLE[name]               # a fixed property path, never caller text
        rows = await query(self.container("jobs"),
                           f"SELECT VALUE SUM({field}) FROM c WHERE {_LIVE} "
                           f"AND c.status = @status AND IS_NUMBER({field})",
                           {"@project": project, "@now": _now_iso(), "@status": status},
                           partition_key=project)
        return float(rows[0]) if rows and rows[0] is not None else 0.0

    async def put_job_results(self, docs: list[dict[str, Any]]) -> None:
        results = self.container("job_results")
        for doc in docs:
            with storage_errors("upsert job result"):
                await results.upsert_item({**doc, "ttl": seconds_left(doc)})

    async def get_job_result(self, project: str, job_id: str) -> dict[str, Any] | None:
        doc = await read_item_or_none(self.container("job_results"), job_id, project)
        return {k: v for k, v in doc.items() if not k.startswith("_")} if _live(doc) else None

    async def purge_expired_jobs(self) -> int:
        return 0                              # Cosmos DB deletes expired items itself (ttl)

    async def set_webhook_secret(self, project: str, secret: str) -> None:
        with storage_errors("store webhook secret"):
            await self.container("webhook_secrets").upsert_item(
                {"id": project, "secret": secret, "created_at": _now_iso()})

    async def get_webhook_secret(self, project: str) -> str | None:
        doc = await read_item_or_none(self.container("webhook_secrets"), project, project)
        return None if doc is None else doc["secret"]
