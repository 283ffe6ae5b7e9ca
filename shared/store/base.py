"""What the core needs from storage, whatever backs it (SQLite locally, Cosmos DB in Azure).

Each backend implements `Store`; one contract test suite (`tests/test_store_contract.py`) runs
against every backend. A backend raises `StoreUnavailable` when it cannot answer: callers turn
that into a 503, never into "not found" or an empty list. A write that loses an optimistic
concurrency race raises `StoreConflict` (see `concurrency.py`).

Expiry: a backend may be given a retention for usage rows; expired rows are never returned,
whether or not the backend has physically removed them yet.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from ..catalog import ModelDocument
from .concurrency import ABSENT, StoreConflict, Versioned

__all__ = ["ABSENT", "Clause", "JobStore", "KeyRecord", "ModelStore", "KeyStore", "UsageStore",
           "Store",
           "StoreConflict", "StoredJob", "StoreUnavailable", "UsageRecord", "Versioned", "utcnow"]


class StoreUnavailable(Exception):
    """The backing store failed or could not be reached."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class KeyRecord:
    """A project's API key. Only the keyed hash of the key is stored, never the key."""
    hash: str
    key_id: str            # public, short identifier used to list and revoke
    project: str
    name: str = ""
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("hash")
        return data


@dataclass
class UsageRecord:
    """One metered request."""
    id: str
    project: str
    model: str
    operation: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    status: int
    created_at: str
    key_id: str = ""
    stream: bool = False
    # The parts of prompt/completion tokens priced apart (see providers.base.TOKEN_CLASSES),
    # and the units of operations not priced in tokens.
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    images: int = 0
    characters: int = 0
    audio_seconds: float = 0.0
    request_id: str = ""   # the HTTP request's x-request-id (shared/request_context.py)
    batch: bool = False    # a line of a batch (OpenAI Batch API), not a direct request


@dataclass(frozen=True)
class Clause:
    """A condition on a counter document: the sum of `fields` compared with `bound`."""
    fields: tuple[str, ...]
    op: Literal["=", "<=", "<"]
    bound: float

    def holds(self, values: dict[str, float]) -> bool:
        total = sum(values.get(f, 0.0) for f in self.fields)
        if self.op == "=":
            return total == self.bound
        return total <= self.bound if self.op == "<=" else total < self.bound


@dataclass(frozen=True)
class CounterResult:
    applied: bool          # False: the add would have passed the limit, so nothing changed
    value: float           # the counter after the add (or as it stands, when refused)


class CounterStore(Protocol):
    """Counter documents for limits and budgets, correct across many gateway instances.

    A counter document is a flat object of numbers under a key (field names: lowercase letters).
    `patch_counters` is the hot path, one round trip and atomic where the data lives: Cosmos DB's
    conditional partial update (`patch_item` with `incr` operations and a filter predicate, which
    Cosmos applies or refuses as one step, no ETag and so no retry loop), SQLite's IMMEDIATE
    transaction. Creating a document and rolling its windows over are rare and use ETags.

    `ttl` (seconds) lets the store delete a document nobody wrote for that long (Cosmos: the item's
    `ttl`, counted from its last write); an expired document reads as missing.
    """

    async def patch_counters(self, key: str, incr: dict[str, float], where: list[Clause]
                             ) -> dict[str, float] | None:
        """If the document exists and every clause holds, add `incr` to its fields (a field not
        there yet counts as 0) and return its fields after; else change nothing, return None."""

    async def read_counters(self, key: str) -> Versioned[dict[str, float]] | None: ...

    async def write_counters(self, key: str, fields: dict[str, float], *, etag: str | None,
                             ttl: float) -> bool:
        """Create the document (`etag` None) or replace it if still at `etag`: True when written,
        False when it already exists (create) or changed meanwhile (replace)."""

    async def add_to_counter(self, key: str, delta: float, *, limit: float | None,
                             expires_at: float) -> CounterResult:
        """A single-value counter (batch progress): add `delta` atomically unless `limit` is
        set, `delta` > 0 and the sum would pass it; never below 0. A counter whose `expires_at`
        (epoch seconds) has passed counts as 0. SQLite: one IMMEDIATE transaction; Cosmos: a
        read and an ETag-guarded replace, retried on a race."""

    async def get_counter(self, key: str) -> float: ...

    async def get_legacy_counter(self, key: str) -> float:
        """A single-value counter of the release before counter documents (0 if none or
        expired): read once when a scope's document is created, so the spend of the budget
        period under way when the gateway was upgraded still counts."""


class LimitsStore(Protocol):
    """Per-project limit documents (JSON objects validated by `shared.limits`)."""
    async def get_limits(self, project: str) -> dict[str, Any] | None: ...
    async def get_limits_versioned(self, project: str) -> Versioned[dict[str, Any]] | None: ...
    async def put_limits(self, project: str, doc: dict[str, Any],
                         if_match: str | None = None) -> str:
        """Store the limits; return their new version. With `if_match` only if the stored
        version is still that (`ABSENT`: only if there are none), else `StoreConflict`."""
    async def delete_limits(self, project: str) -> bool: ...


class ModelStore(Protocol):
    async def list_models(self) -> list[ModelDocument]: ...
    async def get_model(self, model_id: str) -> ModelDocument | None: ...
    async def get_model_versioned(self, model_id: str) -> Versioned[ModelDocument] | None: ...
    async def upsert_model(self, doc: ModelDocument, if_match: str | None = None) -> str:
        """Store the document; return its new version. `if_match` as in `put_limits`."""
    async def delete_model(self, model_id: str) -> bool: ...


class KeyStore(Protocol):
    async def create_key(self, record: KeyRecord) -> None:
        """Store a new key; `StoreConflict` if one with the same hash exists."""
    async def get_key(self, key_hash: str) -> KeyRecord | None: ...
    async def get_key_versioned(self, key_hash: str) -> Versioned[KeyRecord] | None: ...
    async def replace_key(self, record: KeyRecord, etag: str) -> str:
        """Overwrite the key if its ETag is still `etag`; return the new ETag, else raise
        `StoreConflict` (also when the key no longer exists)."""
    async def list_keys(self, project: str) -> list[KeyRecord]: ...
    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        """Mark the key revoked (once: a second revoke keeps the first time); None if unknown."""


class UsageStore(Protocol):
    async def record_usage(self, rows: list[UsageRecord]) -> None: ...
    async def query_usage(self, project: str, since: str | None = None,
                          until: str | None = None, limit: int = 1000) -> list[UsageRecord]:
        """Newest first; `since` inclusive, `until` exclusive (ISO-8601 timestamps)."""
    async def scan_usage(self, since: str, until: str, projects: list[str] | None = None,
                         limit: int = 100_000) -> list[UsageRecord]:
        """Rows of every project (or those listed) in [since, until), oldest first."""
    async def query_rollups(self, width: str, start: int, end: int,
                            projects: list[str] | None = None) -> list[dict[str, Any]]:
        """Rollup documents (`shared/rollups.py`) of `width` ("1h"/"1d") whose bucket starts in
        [start, end) (epoch seconds), of every project or those listed. `record_usage` keeps
        them up to date with the rows it writes."""


@dataclass
class StoredJob:
    """A job document as stored, with the version token a conditional write must present."""
    doc: dict[str, Any]
    etag: str


class JobStore(Protocol):
    """Async chat jobs (documents partitioned by `project`) and what hangs off them.

    Expired jobs (`expires_at` in the past; Cosmos: the item's `ttl`) are never returned.
    """
    async def create_job(self, doc: dict[str, Any]) -> tuple[StoredJob, bool]:
        """Insert unless a job with this `id` exists in the project; (job, created)."""
    async def get_job(self, project: str, job_id: str) -> StoredJob | None: ...
    async def list_jobs(self, project: str, status: str | None, limit: int,
                        after: tuple[str, str] | None) -> list[dict[str, Any]]:
        """Newest first by (created_at, id); `after` is the last (created_at, id) seen."""
    async def replace_job(self, doc: dict[str, Any], etag: str) -> str:
        """Write if still at `etag`, else StoreConflict; returns the new etag."""
    async def list_stale_jobs(self, sent_before: str, now: str,
                              limit: int) -> list[StoredJob]:
        """Live jobs of any project whose event was last sent before `sent_before` and that
        are still `queued`, or `processing` under a lease that ran out by `now` (the sweeper
        sends their events again: one may have been lost)."""
    async def count_jobs(self, project: str, status: str) -> int: ...
    async def sum_job_field(self, project: str, status: str, name: str) -> float:
        """Sum of a numeric field over a project's jobs in one status (metrics without GROUP BY)."""
    async def put_job_results(self, docs: list[dict[str, Any]]) -> None:
        """Upsert finished-job output documents (the Cosmos output binding's local twin)."""
    async def get_job_result(self, project: str, job_id: str) -> dict[str, Any] | None: ...
    async def purge_expired_jobs(self) -> int: ...
    async def set_webhook_secret(self, project: str, secret: str) -> None: ...
    async def get_webhook_secret(self, project: str) -> str | None: ...


@dataclass
class RealtimeSession:
    """A realtime voice session: its configuration, conversation and turn state.

    Every Web PubSub event is its own stateless invocation, so everything a later event needs
    lives here. `version` is bumped by every write; `replace_session` refuses a write made from a
    stale copy (`StaleWrite`) so two invocations never silently overwrite each other.
    The input audio buffer is stored apart, in chunks (see `SessionStore.append_audio`).
    """
    id: str
    project: str
    key_id: str
    models: dict[str, str]                      # chat, transcription, speech -> catalog id
    config: dict[str, Any]                      # the OpenAI session object (voice, formats, ...)
    status: str = "created"                     # created | connected | closed
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    expires_at: str = ""
    closed_at: str | None = None
    connection_id: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    vad: dict[str, Any] = field(default_factory=dict)           # speaking, offsets, item id
    buffer_ms: int = 0                          # audio in the input buffer
    response: dict[str, Any] | None = None      # the response in progress (id, cancelled)
    usage: dict[str, Any] = field(default_factory=dict)         # totals for the session
    # The Realtime protocol its client speaks: "beta" or "ga" (shared/realtime/dialect.py).
    protocol: str = "beta"
    version: int = 0
    # The backend's concurrency token of the copy that was read or written (Cosmos: `_etag`),
    # never stored in the document. With it a replace is one conditional write, no read first.
    etag: str | None = field(default=None, compare=False, repr=False)

    @property
    def active(self) -> bool:
        return self.status != "closed"


class StaleWrite(StoreConflict):
    """The session changed since it was read; read it again and retry."""


class SessionStore(Protocol):
    async def create_session(self, session: RealtimeSession) -> None: ...
    async def get_session(self, session_id: str) -> RealtimeSession | None: ...
    async def list_sessions(self, project: str, limit: int = 100) -> list[RealtimeSession]: ...
    async def replace_session(self, session: RealtimeSession) -> RealtimeSession:
        """Write `session` if the stored version still equals `session.version`; returns the
        stored copy (version bumped). Raises StaleWrite otherwise."""
    # The input audio buffer (pcm16 24 kHz mono), kept as ordered chunks so no single record
    # grows past a backend's item limit (Cosmos: 2 MB).
    async def append_audio(self, session_id: str, pcm: bytes) -> None: ...
    async def read_audio(self, session_id: str) -> bytes: ...
    async def clear_audio(self, session_id: str) -> None: ...


class ResponseStore(Protocol):
    """Stored Responses API responses, one document per (project, id): `id`, `project`,
    `expires_at` (epoch seconds; expired documents are never returned) and whatever the
    Responses surface keeps (see shared/responses.py)."""
    async def put_response(self, doc: dict[str, Any]) -> None:
        """Insert or replace the document."""
    async def get_response(self, project: str, response_id: str) -> dict[str, Any] | None: ...
    async def delete_response(self, project: str, response_id: str) -> bool:
        """True if a live document was deleted; False if there was none."""


class Store(ModelStore, KeyStore, UsageStore, JobStore, SessionStore, CounterStore, LimitsStore,
            ResponseStore, Protocol):
    async def open(self) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...
