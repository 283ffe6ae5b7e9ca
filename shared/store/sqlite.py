"""The embedded store: one SQLite file under the data folder, for local runs and tests.

sqlite3 is synchronous, so every call runs in a worker thread (`asyncio.to_thread`) and never
blocks the event loop. One connection, serialized by a lock: WAL mode lets the CLI read and write
the same file while the gateway runs.

Keys carry a `version` column that serves as their ETag (see `concurrency.py`); usage rows carry
`expires_at` (epoch seconds, NULL = kept) when a retention is configured, and expired rows are
filtered out of reads and purged on the next write.
"""
from __future__ import annotations

import asyncio
import functools
import json
import operator
import sqlite3
import threading
import time
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..catalog import ModelDocument
from .base import (Clause, CounterResult, KeyRecord, StoreConflict, StoreUnavailable, UsageRecord,
                   Versioned, utcnow)
from .concurrency import ABSENT, Versioned, content_version
from .sqlite_rollups import (ROLLUP_SCHEMA, SqliteRollups, apply_rollups, new_rows,
                             usage_record)
from .sqlite_sessions import SESSION_SCHEMA, SqliteSessions
from .sqlite_jobs import JOBS_SCHEMA, SqliteJobs
from .sqlite_responses import RESPONSES_SCHEMA, SqliteResponses

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, project TEXT NOT NULL,
    name TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT,
    version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS usage (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost REAL NOT NULL,
    latency_ms REAL NOT NULL, status INTEGER NOT NULL, created_at TEXT NOT NULL,
    key_id TEXT NOT NULL, stream INTEGER NOT NULL, expires_at REAL,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_input_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0, audio_input_tokens INTEGER NOT NULL DEFAULT 0,
    audio_output_tokens INTEGER NOT NULL DEFAULT 0, images INTEGER NOT NULL DEFAULT 0,
    characters INTEGER NOT NULL DEFAULT 0, audio_seconds REAL NOT NULL DEFAULT 0,
    request_id TEXT NOT NULL DEFAULT '', batch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value REAL NOT NULL,
                                     expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counter_docs (key TEXT PRIMARY KEY, doc TEXT NOT NULL,
                                         version INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS limits (project TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""
# Columns added after the first release, for files created before them.
_MIGRATIONS = [("keys", "version", "INTEGER NOT NULL DEFAULT 1"),
               ("usage", "expires_at", "REAL"),
               *(("usage", column, "INTEGER NOT NULL DEFAULT 0")
                 for column in ("cached_input_tokens", "cache_write_input_tokens",
                                "reasoning_tokens", "audio_input_tokens", "audio_output_tokens",
                                "images", "characters")),
               ("usage", "audio_seconds", "REAL NOT NULL DEFAULT 0"),
               ("usage", "request_id", "TEXT NOT NULL DEFAULT ''"),
               ("usage", "batch", "INTEGER NOT NULL DEFAULT 0")]
_INDEXES = """
CREATE INDEX IF NOT EXISTS keys_project ON keys (project);
CREATE INDEX IF NOT EXISTS usage_project_time ON usage (project, created_at);
CREATE INDEX IF NOT EXISTS usage_expiry ON usage (expires_at);
"""
_KEY_COLS = [f.name for f in fields(KeyRecord)]
_USAGE_COLS = [f.name for f in fields(UsageRecord)]
_USAGE_ROWS_PER_INSERT = 50
_USAGE_COLS_PER_ROW = len(_USAGE_COLS) + 1          # and expires_at
_usage_values = operator.attrgetter(*_USAGE_COLS)


@functools.lru_cache(maxsize=_USAGE_ROWS_PER_INSERT)
def _insert_usage(rows: int) -> str:
    """INSERT of `rows` usage rows (and their expiry), one statement text per row count."""
    row = "(" + ", ".join("?" * (len(_USAGE_COLS) + 1)) + ")"
    return (f"INSERT OR IGNORE INTO usage ({', '.join(_USAGE_COLS)}, expires_at) VALUES "
            + ", ".join([row] * rows))


class SqliteStore(SqliteJobs, SqliteSessions, SqliteResponses, SqliteRollups):
    def __init__(self, path: Path | str, *, usage_ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._usage_ttl = usage_ttl_seconds or None
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                               timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA + JOBS_SCHEMA)
        for table, column, decl in _MIGRATIONS:
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        conn.executescript(_INDEXES)
        conn.executescript(SESSION_SCHEMA)
        conn.executescript(ROLLUP_SCHEMA)
        conn.executescript(RESPONSES_SCHEMA)
        self._conn = conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                if self._conn is None:
                    self._connect()
                return fn(self._conn)
        try:
            return await asyncio.to_thread(call)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    async def open(self) -> None:
        await self._run(lambda c: None)

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        await asyncio.to_thread(close)

    # -- models ---------------------------------------------------------------------------
    async def list_models(self) -> list[ModelDocument]:
        rows = await self._run(lambda c: c.execute("SELECT doc FROM models ORDER BY id").fetchall())
        return [ModelDocument.model_validate_json(r[0]) for r in rows]

    async def get_model(self, model_id: str) -> ModelDocument | None:
        row = await self._run(
            lambda c: c.execute("SELECT doc FROM models WHERE id = ?", (model_id,)).fetchone())
        return ModelDocument.model_validate_json(row[0]) if row else None

    async def get_model_versioned(self, model_id: str) -> Versioned[ModelDocument] | None:
        row = await self._run(
            lambda c: c.execute("SELECT doc FROM models WHERE id = ?", (model_id,)).fetchone())
        return Versioned(ModelDocument.model_validate_json(row[0]),
                         content_version(row[0])) if row else None

    async def upsert_model(self, doc: ModelDocument, if_match: str | None = None) -> str:
        payload = doc.model_dump_json()
        await self._conditional_put("models", "id", doc.id, payload, if_match)
        return content_version(payload)

    async def _conditional_put(self, table: str, key_column: str, key: str, payload: str,
                               if_match: str | None) -> None:
        """Upsert one JSON document row; with `if_match`, only if the stored row's version
        still is that (read and write in one write transaction, so no writer slips between)."""
        upsert = (f"INSERT INTO {table} ({key_column}, doc) VALUES (?, ?) "
                  f"ON CONFLICT({key_column}) DO UPDATE SET doc = excluded.doc")
        if if_match is None:
            await self._run(lambda c: c.execute(upsert, (key, payload)))
            return

        def write(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute(f"SELECT doc FROM {table} WHERE {key_column} = ?",
                                (key,)).fetchone()
                current = content_version(row[0]) if row else ABSENT
                if current != if_match:
                    raise StoreConflict(f"{table} {key} changed since version {if_match}")
                c.execute(upsert, (key, payload))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        await self._run(write)

    async def delete_model(self, model_id: str) -> bool:
        cur = await self._run(lambda c: c.execute("DELETE FROM models WHERE id = ?", (model_id,)))
        return cur.rowcount > 0

    # -- keys -----------------------------------------------------------------------------
    async def create_key(self, record: KeyRecord) -> None:
        sql = f"INSERT INTO keys ({', '.join(_KEY_COLS)}) VALUES ({', '.join('?' * len(_KEY_COLS))})"

        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute(sql, astuple(record))
            except sqlite3.IntegrityError:
                raise StoreConflict("a key with this hash or key_id already exists") from None
        await self._run(insert)

    async def get_key(self, key_hash: str) -> KeyRecord | None:
        row = await self._run(lambda c: c.execute(
            f"SELECT {', '.join(_KEY_COLS)} FROM keys WHERE hash = ?", (key_hash,)).fetchone())
        return KeyRecord(*row) if row else None

    async def get_key_versioned(self, key_hash: str) -> Versioned[KeyRecord] | None:
        row = await self._run(lambda c: c.execute(
            f"SELECT {', '.join(_KEY_COLS)}, version FROM keys WHERE hash = ?",
            (key_hash,)).fetchone())
        return Versioned(KeyRecord(*row[:-1]), str(row[-1])) if row else None

    async def replace_key(self, record: KeyRecord, etag: str) -> str:
        assignments = ", ".join(f"{col} = ?" for col in _KEY_COLS if col != "hash")
        values = [getattr(record, col) for col in _KEY_COLS if col != "hash"]

        def replace(c: sqlite3.Connection) -> str:
            cur = c.execute(f"UPDATE keys SET {assignments}, version = version + 1 "
                            f"WHERE hash = ? AND version = ?", (*values, record.hash, etag))
            if cur.rowcount == 0:
                raise StoreConflict(f"key {record.key_id} changed or no longer exists")
            return str(c.execute("SELECT version FROM keys WHERE hash = ?",
                                 (record.hash,)).fetchone()[0])
        return await self._run(replace)

    async def list_keys(self, project: str) -> list[KeyRecord]:
        rows = await self._run(lambda c: c.execute(
            f"SELECT {', '.join(_KEY_COLS)} FROM keys WHERE project = ? ORDER BY created_at",
            (project,)).fetchall())
        return [KeyRecord(*r) for r in rows]

    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        # One conditional UPDATE is atomic in SQLite: no read-modify-write, so no race.
        def revoke(c: sqlite3.Connection) -> Any:
            c.execute("UPDATE keys SET revoked_at = ?, version = version + 1 "
                      "WHERE key_id = ? AND revoked_at IS NULL", (utcnow().isoformat(), key_id))
            return c.execute(f"SELECT {', '.join(_KEY_COLS)} FROM keys WHERE key_id = ?",
                             (key_id,)).fetchone()
        row = await self._run(revoke)
        return KeyRecord(*row) if row else None

    # -- usage ----------------------------------------------------------------------------
    async def record_usage(self, rows: list[UsageRecord]) -> None:
        """A few statements per batch, each inserting up to 50 rows with their values bound at
        once: the worker thread binds and steps a handful of times instead of re-taking the GIL
        row by row from the serving thread (executemany cost a fifth of the gateway's CPU and
        most of its p99 under load), and SQLite parses no JSON per row (a json_each array,
        unpacked column by column, cost twice as much)."""
        if not rows:
            return
        now = self._clock()
        expires_at = now + self._usage_ttl if self._usage_ttl else None
        columns = _USAGE_COLS_PER_ROW * _USAGE_ROWS_PER_INSERT
        values: list[Any] = []                       # every row's columns, one flat list
        for row in rows:
            values += _usage_values(row)
            values.append(expires_at)

        def insert(c: sqlite3.Connection) -> None:
            c.execute("BEGIN")
            try:
                c.execute("DELETE FROM usage WHERE expires_at <= ?", (now,))
                apply_rollups(c, new_rows(c, rows))
                for start in range(0, len(values), columns):
                    part = values[start:start + columns]
                    c.execute(_insert_usage(len(part) // _USAGE_COLS_PER_ROW), part)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        await self._run(insert)

    async def query_usage(self, project: str, since: str | None = None,
                          until: str | None = None, limit: int = 1000) -> list[UsageRecord]:
        sql = (f"SELECT {', '.join(_USAGE_COLS)} FROM usage WHERE project = ? "
               f"AND (expires_at IS NULL OR expires_at > ?)")
        args: list[Any] = [project, self._clock()]
        if since:
            sql += " AND created_at >= ?"
            args.append(since)
        if until:
            sql += " AND created_at < ?"
            args.append(until)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [usage_record(r) for r in rows]

    # -- counters (limits, budgets) -----------------------------------------------------------
    # Each a JSON object of numbers with a version (its ETag) and an expiry; every step is one
    # IMMEDIATE transaction, which takes the write lock first: another process (a second gateway,
    # the CLI) cannot read the same values between our read and our write.
    def _counter_step(self, key: str, step: Callable[[sqlite3.Connection, dict | None, int, float],
                                                     T]) -> Callable[[sqlite3.Connection], T]:
        def run(c: sqlite3.Connection) -> T:
            c.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                row = c.execute("SELECT doc, version, expires_at FROM counter_docs WHERE key = ?",
                                (key,)).fetchone()
                live = row is not None and row[2] > now
                result = step(c, json.loads(row[0]) if live else None,
                              row[1] if row else 0, now)
                if hash(key) % 200 == 0:          # now and then, drop expired counters
                    c.execute("DELETE FROM counter_docs WHERE expires_at < ?", (now,))
                c.execute("COMMIT")
                return result
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return run

    async def patch_counters(self, key: str, incr: dict[str, float], where: list[Clause]
                             ) -> dict[str, float] | None:
        def patch(c: sqlite3.Connection, doc: dict | None, version: int, now: float):
            if doc is None or not all(clause.holds(doc) for clause in where):
                return None
            for name, value in incr.items():
                doc[name] = doc.get(name, 0) + value
            ttl = doc.pop("ttl", 0)
            c.execute("UPDATE counter_docs SET doc = ?, version = version + 1, expires_at = ? "
                      "WHERE key = ?", (json.dumps({**doc, "ttl": ttl}), now + ttl, key))
            return doc
        return await self._run(self._counter_step(key, patch))

    async def read_counters(self, key: str) -> Versioned[dict[str, float]] | None:
        def read(c: sqlite3.Connection, doc: dict | None, version: int, now: float):
            if doc is None:
                return None
            doc.pop("ttl", None)
            return Versioned(doc, str(version))
        return await self._run(self._counter_step(key, read))

    async def write_counters(self, key: str, fields: dict[str, float], *, etag: str | None,
                             ttl: float) -> bool:
        def write(c: sqlite3.Connection, doc: dict | None, version: int, now: float) -> bool:
            if (etag is None and doc is not None) or \
                    (etag is not None and (doc is None or str(version) != etag)):
                return False
            c.execute("INSERT INTO counter_docs (key, doc, version, expires_at) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET doc = excluded.doc, "
                      "version = excluded.version, expires_at = excluded.expires_at",
                      (key, json.dumps({**fields, "ttl": ttl}), version + 1, now + ttl))
            return True
        return await self._run(self._counter_step(key, write))

    # Single-value counters (batch progress; and what limits used before counter documents).
    async def add_to_counter(self, key: str, delta: float, *, limit: float | None,
                             expires_at: float) -> CounterResult:
        def add(c: sqlite3.Connection) -> CounterResult:
            c.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                row = c.execute("SELECT value, expires_at FROM counters WHERE key = ?",
                                (key,)).fetchone()
                current = row[0] if row and row[1] > now else 0.0
                new = max(0.0, current + delta)
                if limit is not None and delta > 0 and new > limit:
                    c.execute("COMMIT")
                    return CounterResult(False, current)
                c.execute("INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                          "expires_at = max(counters.expires_at, excluded.expires_at)",
                          (key, new, expires_at))
                if hash(key) % 200 == 0:          # now and then, drop expired counters
                    c.execute("DELETE FROM counters WHERE expires_at < ?", (now,))
                c.execute("COMMIT")
                return CounterResult(True, new)
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return await self._run(add)

    async def get_counter(self, key: str) -> float:
        row = await self._run(lambda c: c.execute(
            "SELECT value FROM counters WHERE key = ? AND expires_at > ?",
            (key, self._clock())).fetchone())
        return row[0] if row else 0.0

    async def get_legacy_counter(self, key: str) -> float:
        return await self.get_counter(key)

    # -- limits ---------------------------------------------------------------------------
    async def get_limits(self, project: str) -> dict[str, Any] | None:
        row = await self._run(lambda c: c.execute(
            "SELECT doc FROM limits WHERE project = ?", (project,)).fetchone())
        return json.loads(row[0]) if row else None

    async def get_limits_versioned(self, project: str) -> Versioned[dict[str, Any]] | None:
        row = await self._run(lambda c: c.execute(
            "SELECT doc FROM limits WHERE project = ?", (project,)).fetchone())
        return Versioned(json.loads(row[0]), content_version(row[0])) if row else None

    async def put_limits(self, project: str, doc: dict[str, Any],
                         if_match: str | None = None) -> str:
        payload = json.dumps(doc)
        await self._conditional_put("limits", "project", project, payload, if_match)
        return content_version(payload)

    async def delete_limits(self, project: str) -> bool:
        cur = await self._run(lambda c: c.execute("DELETE FROM limits WHERE project = ?",
                                                  (project,)))
        return cur.rowcount > 0
