"""SQLite side of the usage rollups (`shared/rollups.py`): one table of JSON documents keyed by
the rollup id, updated in the same transaction as the usage rows of a batch (so, unlike Cosmos,
a batch is applied whole or not at all)."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from typing import Any

from .. import rollups
from .base import UsageRecord

ROLLUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_rollups (
    id TEXT PRIMARY KEY, width TEXT NOT NULL, start INTEGER NOT NULL, project TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS usage_rollups_time ON usage_rollups (width, start, project);
"""
_USAGE_COLS = [f.name for f in fields(UsageRecord)]
_USAGE_COLS_SQL = ", ".join(_USAGE_COLS)
_STREAM_AT = _USAGE_COLS.index("stream")
_BATCH_AT = _USAGE_COLS.index("batch")


def usage_record(row: tuple) -> UsageRecord:
    """A usage row read back in `UsageRecord` field order (SQLite keeps booleans as 0/1)."""
    record = UsageRecord(*row)
    record.stream, record.batch = bool(row[_STREAM_AT]), bool(row[_BATCH_AT])
    return record


def new_rows(c: sqlite3.Connection, rows: list[UsageRecord]) -> list[UsageRecord]:
    """The rows of a batch not stored yet (a batch written again adds to no rollup)."""
    ids = [r.id for r in rows]
    stored: set[str] = set()
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        stored.update(r[0] for r in c.execute(
            f"SELECT id FROM usage WHERE id IN ({', '.join('?' * len(part))})", part))
    return [r for r in rows if r.id not in stored] if stored else rows


def apply_rollups(c: sqlite3.Connection, rows: list[UsageRecord]) -> None:
    """Add a batch's deltas to its rollups (inside the caller's transaction, before the rows
    are inserted: `rows` are those `new_rows` found not stored yet)."""
    if not rows:
        return
    found = rollups.deltas(rows)
    ids = [key.doc_id for key in found]
    current: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        current.update((row[0], json.loads(row[1])) for row in c.execute(
            f"SELECT id, doc FROM usage_rollups WHERE id IN ({', '.join('?' * len(part))})",
            part))
    writes = []
    for key, delta in found.items():
        doc = rollups.merge(current.get(key.doc_id), delta)
        if doc is not None:
            # Rows and rollups commit in one transaction and only new rows are added, so the
            # batch keys Cosmos needs are not kept (nor read back by every query).
            doc.pop("batches", None)
            writes.append((key.doc_id, key.width, key.start, key.project, json.dumps(doc)))
    c.executemany("INSERT OR REPLACE INTO usage_rollups (id, width, start, project, doc) "
                  "VALUES (?, ?, ?, ?, ?)", writes)


class SqliteRollups:
    """Mixed into `SqliteStore` (which provides `_run` and `_clock`)."""

    async def query_rollups(self, width: str, start: int, end: int,
                            projects: list[str] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT doc FROM usage_rollups WHERE width = ? AND start >= ? AND start < ?"
        args: list[Any] = [width, start, end]
        if projects:
            sql += f" AND project IN ({', '.join('?' * len(projects))})"
            args += projects
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [json.loads(r[0]) for r in rows]

    async def scan_usage(self, since: str, until: str, projects: list[str] | None = None,
                         limit: int = 100_000) -> list[UsageRecord]:
        """Rows of any (or the listed) projects in [since, until), oldest first."""
        sql = (f"SELECT {_USAGE_COLS_SQL} FROM usage WHERE created_at >= ? AND created_at < ? "
               f"AND (expires_at IS NULL OR expires_at > ?)")
        args: list[Any] = [since, until, self._clock()]
        if projects:
            sql += f" AND project IN ({', '.join('?' * len(projects))})"
            args += projects
        sql += " ORDER BY created_at LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [usage_record(r) for r in rows]
