"""Stored Responses API responses on SQLite (mixed into `SqliteStore`): one row per response,
keyed by (project, id), whose document holds the response object, its input items and the
conversation a `previous_response_id` continues. `expires_at` (epoch seconds, by the store's
clock) hides a row from reads once the retention has passed; expired rows are purged on the
next write."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

RESPONSES_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    project TEXT NOT NULL, id TEXT NOT NULL, expires_at REAL NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (project, id));
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
"""


class SqliteResponses:
    _clock: Any                            # provided by SqliteStore

    async def _run(self, fn: Any) -> Any:  # provided by SqliteStore
        raise NotImplementedError

    async def put_response(self, doc: dict[str, Any]) -> None:
        payload = json.dumps(doc, separators=(",", ":"))

        def put(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM responses WHERE expires_at <= ?", (self._clock(),))
            c.execute("INSERT INTO responses (project, id, expires_at, doc) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT(project, id) DO UPDATE SET expires_at = excluded.expires_at, "
                      "doc = excluded.doc", (doc["project"], doc["id"], doc["expires_at"], payload))
        await self._run(put)

    async def get_response(self, project: str, response_id: str) -> dict[str, Any] | None:
        row = await self._run(lambda c: c.execute(
            "SELECT doc FROM responses WHERE project = ? AND id = ? AND expires_at > ?",
            (project, response_id, self._clock())).fetchone())
        return json.loads(row[0]) if row else None

    async def delete_response(self, project: str, response_id: str) -> bool:
        cur = await self._run(lambda c: c.execute(
            "DELETE FROM responses WHERE project = ? AND id = ? AND expires_at > ?",
            (project, response_id, self._clock())))
        return cur.rowcount > 0
