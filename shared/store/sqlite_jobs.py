"""Jobs on the embedded SQLite store (mixed into `SqliteStore`).

A `version` column plays the part of Cosmos DB's ETag: every write bumps it and a conditional
write names the version it read. Expired rows are invisible to reads and deleted by
`purge_expired_jobs` (Cosmos DB does the same with the item's `ttl`).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from .base import StoreConflict, StoredJob, utcnow

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    project TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (project, id));
CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (project, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (project, status);
CREATE TABLE IF NOT EXISTS job_results (
    project TEXT NOT NULL, id TEXT NOT NULL, expires_at TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (project, id));
CREATE TABLE IF NOT EXISTS webhook_secrets (
    project TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at TEXT NOT NULL);
"""

_LIVE = "expires_at > ?"


def _now() -> str:
    return utcnow().isoformat()


class SqliteJobs:
    """Needs `self._run(fn)` from `SqliteStore`."""

    async def create_job(self, doc: dict[str, Any]) -> tuple[StoredJob, bool]:
        payload = json.dumps(doc)

        def create(c: sqlite3.Connection) -> tuple[StoredJob, bool]:
            # An expired row with the same id is gone for readers; make room for the new job.
            c.execute("DELETE FROM jobs WHERE project = ? AND id = ? AND expires_at <= ?",
                      (doc["project"], doc["id"], _now()))
            cur = c.execute(
                "INSERT OR IGNORE INTO jobs (project, id, status, created_at, expires_at, version,"
                " doc) VALUES (?, ?, ?, ?, ?, 1, ?)",
                (doc["project"], doc["id"], doc["status"], doc["created_at"], doc["expires_at"],
                 payload))
            if cur.rowcount == 1:
                return StoredJob(doc, "1"), True
            row = c.execute("SELECT doc, version FROM jobs WHERE project = ? AND id = ?",
                            (doc["project"], doc["id"])).fetchone()
            return StoredJob(json.loads(row[0]), str(row[1])), False
        return await self._run(create)

    async def get_job(self, project: str, job_id: str) -> StoredJob | None:
        row = await self._run(lambda c: c.execute(
            f"SELECT doc, version FROM jobs WHERE project = ? AND id = ? AND {_LIVE}",
            (project, job_id, _now())).fetchone())
        return StoredJob(json.loads(row[0]), str(row[1])) if row else None

    async def list_jobs(self, project: str, status: str | None, limit: int,
                        after: tuple[str, str] | None) -> list[dict[str, Any]]:
        sql = f"SELECT doc FROM jobs WHERE project = ? AND {_LIVE}"
        args: list[Any] = [project, _now()]
        if status:
            sql += " AND status = ?"
            args.append(status)
        if after:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [json.loads(r[0]) for r in rows]

    async def replace_job(self, doc: dict[str, Any], etag: str) -> str:
        payload = json.dumps(doc)

        def replace(c: sqlite3.Connection) -> str:
            cur = c.execute(
                "UPDATE jobs SET status = ?, expires_at = ?, doc = ?, version = version + 1 "
                "WHERE project = ? AND id = ? AND version = ?",
                (doc["status"], doc["expires_at"], payload, doc["project"], doc["id"], int(etag)))
            if cur.rowcount != 1:
                raise StoreConflict(f"job {doc['id']} changed since version {etag}")
            return str(int(etag) + 1)
        return await self._run(replace)

    async def list_stale_jobs(self, sent_before: str, now: str,
                              limit: int) -> list[StoredJob]:
        rows = await self._run(lambda c: c.execute(
            "SELECT doc, version FROM jobs WHERE expires_at > ? "
            "AND json_extract(doc, '$.sent_at') < ? AND (status = 'queued' OR "
            "(status = 'processing' AND json_extract(doc, '$.lease_until') < ?)) LIMIT ?",
            (now, sent_before, now, limit)).fetchall())
        return [StoredJob(json.loads(r[0]), str(r[1])) for r in rows]

    async def count_jobs(self, project: str, status: str) -> int:
        row = await self._run(lambda c: c.execute(
            f"SELECT COUNT(*) FROM jobs WHERE project = ? AND status = ? AND {_LIVE}",
            (project, status, _now())).fetchone())
        return int(row[0])

    async def sum_job_field(self, project: str, status: str, name: str) -> float:
        if not name.isidentifier():
            raise ValueError(f"not a field name: {name!r}")
        row = await self._run(lambda c: c.execute(
            f"SELECT TOTAL(json_extract(doc, '$.{name}')) FROM jobs "
            f"WHERE project = ? AND status = ? AND {_LIVE}", (project, status, _now())).fetchone())
        return float(row[0])

    async def put_job_results(self, docs: list[dict[str, Any]]) -> None:
        rows = [(d["project"], d["id"], d["expires_at"], json.dumps(d)) for d in docs]
        if rows:
            await self._run(lambda c: c.executemany(
                "INSERT INTO job_results (project, id, expires_at, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(project, id) DO UPDATE SET doc = excluded.doc, "
                "expires_at = excluded.expires_at", rows))

    async def get_job_result(self, project: str, job_id: str) -> dict[str, Any] | None:
        row = await self._run(lambda c: c.execute(
            f"SELECT doc FROM job_results WHERE project = ? AND id = ? AND {_LIVE}",
            (project, job_id, _now())).fetchone())
        return json.loads(row[0]) if row else None

    async def purge_expired_jobs(self) -> int:
        def purge(c: sqlite3.Connection) -> int:
            now = _now()
            n = c.execute("DELETE FROM jobs WHERE expires_at <= ?", (now,)).rowcount
            c.execute("DELETE FROM job_results WHERE expires_at <= ?", (now,))
            return n
        return await self._run(purge)

    async def set_webhook_secret(self, project: str, secret: str) -> None:
        await self._run(lambda c: c.execute(
            "INSERT INTO webhook_secrets (project, secret, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(project) DO UPDATE SET secret = excluded.secret, "
            "created_at = excluded.created_at", (project, secret, _now())))

    async def get_webhook_secret(self, project: str) -> str | None:
        row = await self._run(lambda c: c.execute(
            "SELECT secret FROM webhook_secrets WHERE project = ?", (project,)).fetchone())
        return row[0] if row else None
