"""Realtime sessions on SQLite: one row per session (a JSON document with a version) and the
input audio buffer as ordered chunk rows. Mixed into `SqliteStore`."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from .base import RealtimeSession, StaleWrite, StoreConflict

SESSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS rt_sessions (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, created_at TEXT NOT NULL,
    active INTEGER NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rt_sessions_project ON rt_sessions (project, active, created_at);
CREATE TABLE IF NOT EXISTS rt_audio (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS rt_audio_session ON rt_audio (session_id, seq);
"""


def _doc(session: RealtimeSession) -> str:
    doc = asdict(session)
    doc.pop("etag", None)            # SQLite's own token is `version` (checked in the UPDATE)
    return json.dumps(doc, separators=(",", ":"))


def _load(raw: str) -> RealtimeSession:
    return RealtimeSession(**json.loads(raw))


class SqliteSessions:
    async def _run(self, fn: Any) -> Any:  # provided by SqliteStore
        raise NotImplementedError

    async def create_session(self, session: RealtimeSession) -> None:
        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute("INSERT INTO rt_sessions (id, project, created_at, active, version, doc) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (session.id, session.project, session.created_at,
                           int(session.active), session.version, _doc(session)))
            except sqlite3.IntegrityError:
                raise StoreConflict(f"session {session.id} already exists") from None
        await self._run(insert)

    async def get_session(self, session_id: str) -> RealtimeSession | None:
        row = await self._run(lambda c: c.execute(
            "SELECT doc FROM rt_sessions WHERE id = ?", (session_id,)).fetchone())
        return _load(row[0]) if row else None

    async def list_sessions(self, project: str, limit: int = 100) -> list[RealtimeSession]:
        rows = await self._run(lambda c: c.execute(
            "SELECT doc FROM rt_sessions WHERE project = ? "
            "ORDER BY active DESC, created_at DESC LIMIT ?", (project, limit)).fetchall())
        return [_load(r[0]) for r in rows]

    async def replace_session(self, session: RealtimeSession) -> RealtimeSession:
        expected = session.version
        stored = RealtimeSession(**{**asdict(session), "version": expected + 1})

        def write(c: sqlite3.Connection) -> int:
            return c.execute(
                "UPDATE rt_sessions SET active = ?, version = ?, doc = ? "
                "WHERE id = ? AND version = ?",
                (int(stored.active), stored.version, _doc(stored), stored.id, expected)).rowcount
        if await self._run(write) != 1:
            raise StaleWrite(session.id)
        return stored

    async def append_audio(self, session_id: str, pcm: bytes) -> None:
        await self._run(lambda c: c.execute(
            "INSERT INTO rt_audio (session_id, data) VALUES (?, ?)", (session_id, pcm)))

    async def read_audio(self, session_id: str) -> bytes:
        rows = await self._run(lambda c: c.execute(
            "SELECT data FROM rt_audio WHERE session_id = ? ORDER BY seq",
            (session_id,)).fetchall())
        return b"".join(bytes(r[0]) for r in rows)

    async def clear_audio(self, session_id: str) -> None:
        await self._run(lambda c: c.execute("DELETE FROM rt_audio WHERE session_id = ?",
                                            (session_id,)))
