"""Reading and changing a session in the store, and this instance's copy of it.

Events of one session run as separate invocations, possibly at the same time (an audio append
while a turn streams, a cancel during a response), and on any instance of the Function App.
Every change is a read-modify-write that the store accepts only if nobody wrote in between
(`StaleWrite`: Cosmos's ETag, SQLite's version), retried on a fresh copy, so the change
function must be a pure function of the session it is given.

Freshness, field by field (why a per-instance copy is safe):
- id, project, key_id, models, created_at, expires_at never change after creation: any copy
  will do, and expiry is a clock comparison.
- Everything else (status, connection, config, protocol, items, vad, buffer, response, usage)
  can be changed by another party: the client's own events handled on another instance
  (session.update, a cancel, a barge-in append), `DELETE /v1/realtime/sessions/{id}` on any
  instance, the connection dropping, the document expiring. A copy is therefore trusted only
  to *write*: the write is conditional on it being the stored one, so a copy another instance
  has since changed is refused and the change is made again on a fresh read. It is never
  trusted to *refuse*: when `guard` or the change raises on a cached copy, the session is read
  fresh and both run again, so "the session has ended", "no active response", "buffer too
  small" are always decided on the store's current state.
- A closed or expired session thus refuses events however stale this instance's copy is: a
  client event's write is guarded by `check_live`, and the guard runs on the copy the store
  accepts. Revoking the key that created a session does not end it (unchanged: a session's
  events were never re-authenticated; its client token lives LLMPROXY_REALTIME_TOKEN_MINUTES).
"""
from __future__ import annotations

import asyncio
import copy
from collections import OrderedDict
from datetime import datetime
from typing import Any, Callable, TypeVar

from ..errors import InvalidRequest, NotFound, ServiceUnavailable
from ..store import RealtimeSession, StaleWrite
from ..store.base import utcnow

T = TypeVar("T")
_ATTEMPTS = 50


class SessionEnded(InvalidRequest):
    """The session is closed or expired: the event is refused and its connection closed."""

    def __init__(self) -> None:
        super().__init__("The realtime session has ended.", code="session_closed")


class NotServed(Exception):
    """The session is gone, or belongs to another connection now: the event is dropped."""


def expired(session: RealtimeSession) -> bool:
    return bool(session.expires_at) and datetime.fromisoformat(session.expires_at) <= utcnow()


def check_live(session: RealtimeSession, connection_id: str) -> None:
    """May `connection_id` act on this session? (Run on the copy a write is made from.)"""
    if session.connection_id not in (None, connection_id):
        raise NotServed(session.id)
    if not session.active or expired(session):
        raise SessionEnded()


class SessionCache:
    """This instance's latest copy of each session it serves (read or written here), with the
    ETag it was read or written with, so an event's write needs no read first. Copies go in and
    out deep-copied (a change function edits its copy in place). Bounded: the least recently
    used copy is dropped first; a dropped copy only costs the next event one read.

    Writers on this instance also wake whoever `wait`s on the session (a running response
    watching for its cancel flag), so a cancel handled here is seen at once, with no read."""

    def __init__(self, size: int = 512):
        self._size = size
        self._copies: OrderedDict[str, RealtimeSession] = OrderedDict()
        self._changed: dict[str, asyncio.Event] = {}

    def get(self, session_id: str) -> RealtimeSession | None:
        found = self._copies.get(session_id)
        if found is None:
            return None
        self._copies.move_to_end(session_id)
        return copy.deepcopy(found)

    def put(self, session: RealtimeSession) -> None:
        held = self._copies.get(session.id)
        if held is not None and held.version > session.version:
            return                       # a read that raced a newer write here: keep the newer
        self._copies[session.id] = copy.deepcopy(session)
        self._copies.move_to_end(session.id)
        while len(self._copies) > self._size:
            self._copies.popitem(last=False)
        event = self._changed.pop(session.id, None)
        if event is not None:
            event.set()

    def drop(self, session_id: str) -> None:
        self._copies.pop(session_id, None)
        event = self._changed.pop(session_id, None)
        if event is not None:
            event.set()                  # a watcher still waiting reads the store instead

    async def wait(self, session_id: str, timeout: float) -> bool:
        """True when this instance stored a new copy within `timeout` seconds."""
        event = self._changed.setdefault(session_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


async def load(store: Any, session_id: str) -> RealtimeSession:
    session = await store.get_session(session_id)
    if session is None:
        raise NotFound(f"No realtime session '{session_id}'.", param="session_id",
                       code="session_not_found")
    return session


async def read(store: Any, cache: SessionCache | None, session_id: str
               ) -> RealtimeSession | None:
    """A fresh copy from the store (kept in `cache`); None if there is no such session."""
    session = await store.get_session(session_id)
    if cache is not None:
        if session is None:
            cache.drop(session_id)
        else:
            cache.put(session)
    return session


async def mutate(store: Any, session_id: str, change: Callable[[RealtimeSession], T], *,
                 cache: SessionCache | None = None,
                 guard: Callable[[RealtimeSession], None] | None = None
                 ) -> tuple[RealtimeSession, T]:
    """Apply `change` to the current session and store it; returns (stored session, result).

    With `cache`, starts from this instance's copy (no read) and keeps the stored one; see the
    module's docstring for why that is safe. `guard` runs before `change` on every attempt (a
    client event's `check_live`). Without a guard a missing session is NotFound; with one it is
    NotServed."""
    session = cache.get(session_id) if cache is not None else None
    fresh = session is None
    for _ in range(_ATTEMPTS):
        if session is None:
            session = await read(store, cache, session_id)
            if session is None:
                if guard is not None:
                    raise NotServed(session_id)
                raise NotFound(f"No realtime session '{session_id}'.", param="session_id",
                               code="session_not_found")
            fresh = True                 # (the cache holds its own copy of it)
        try:
            if guard is not None:
                guard(session)
            result = change(session)
        except Exception:
            if fresh:
                raise
            session = None               # refused on a cached copy: decide again on a fresh one
            continue
        try:
            stored = await store.replace_session(session)
        except StaleWrite:
            session = None
            continue
        if cache is not None:
            cache.put(stored)
        return stored, result
    raise ServiceUnavailable("The realtime session is too busy to update; try again.")


async def edit(gw: Any, connection_id: str, session_id: str,
               change: Callable[[RealtimeSession], T]) -> tuple[RealtimeSession, T]:
    """A client event's change: from this instance's copy, guarded by `check_live`."""
    return await mutate(gw.store, session_id, change, cache=gw.sessions,
                        guard=lambda s: check_live(s, connection_id))


_RESPONSES_KEPT = 100


def add_usage(totals: dict[str, Any], usage: dict[str, Any], cost: float, response_id: str,
              status: str) -> dict[str, Any]:
    """Session totals (responses, tokens, cost so far) and the latest responses' own usage."""
    out = dict(totals)
    out["responses"] = out.get("responses", 0) + 1
    for name in ("input_tokens", "output_tokens", "total_tokens"):
        out[name] = out.get(name, 0) + int(usage.get(name, 0))
    out["cost"] = round(out.get("cost", 0.0) + cost, 10)
    entry = {"id": response_id, "status": status, "input_tokens": usage.get("input_tokens", 0),
             "output_tokens": usage.get("output_tokens", 0), "cost": round(cost, 10)}
    out["by_response"] = (out.get("by_response", []) + [entry])[-_RESPONSES_KEPT:]
    return out


def add_cost(totals: dict[str, Any], cost: float) -> dict[str, Any]:
    """Cost outside a response (a turn's transcription)."""
    return {**totals, "cost": round(totals.get("cost", 0.0) + cost, 10)}
