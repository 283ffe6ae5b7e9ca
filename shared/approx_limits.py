"""Approximate limits (a project's `"enforcement": "approximate"`): admitted locally, counted
globally once a second.

Exact limits cost two writes of one document per request (shared/limit_counters.py), and one
document takes writes one at a time: bench/scale_model.py puts the ceiling of one project near
500 requests/s at 1 ms per write, and its RU at 10 per request. A project that needs more opts
into this mode. Each instance keeps, per scope, the counts it last read from the shared document
plus what it admitted and released since ("pending"), admits against their sum with no store
I/O, and pushes its pending counts with one patch per `SYNC_SECONDS` (reading everyone's totals
back in the same round trip). A view older than `STALE_SECONDS` (an instance that just started,
or a quiet scope) is refreshed before admitting: one round trip, then none while it stays busy.

Exactness (what docs/scale.md states and tests/test_approx_limits.py checks, both backends):
- one instance: as exact as the exact mode (its own admissions are always in its view);
- N instances: a limit can be passed by what the *other* instances admit within one sync
  interval plus one round trip (they are not in this instance's view yet), at most
  (N - 1) x that instance's admissions per second for requests and tokens per minute;
- concurrency: the same bound, over the in-flight requests started in that interval;
- budget: spend is pushed within one interval of a request's end, so it can be passed by what
  the instances admit in one interval, on top of the exact mode's requests-in-flight overshoot;
- what an instance has not pushed when it stops is pushed on shutdown (`flush`); after a crash
  up to one interval of its counts is lost (slots it held are freed with their 5-minute bucket,
  as in exact mode).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .limit_counters import TTL, Claim, Outcome, Windows, rolled
from .store import StoreConflict
from .store.base import Clause

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0
STALE_SECONDS = 2.0
_ATTEMPTS = 8


@dataclass
class Pending:
    """Counts this instance changed since its last push, each with the window it belongs to."""
    w: int = 0
    req: float = 0
    tok: float = 0
    cc: dict[int, float] = field(default_factory=dict)     # concurrency bucket -> slots
    bp: int = 0
    spend: float = 0

    def empty(self) -> bool:
        return not (self.req or self.tok or any(self.cc.values()) or self.spend)

    def incr_for(self, at: Windows) -> dict[str, float]:
        """The fields to add on a document whose windows are `at` (what passed is dropped)."""
        incr: dict[str, float] = {}
        if self.w == at.w:
            incr.update(req=self.req, tok=self.tok)
        cc, cp = self.cc.get(at.cb, 0), self.cc.get(at.cb - 1, 0)
        if cc:
            incr["cc"] = cc
        if cp:
            incr["cp"] = cp
        if self.bp == at.bp and self.spend:
            incr["spend"] = self.spend
        return {k: v for k, v in incr.items() if v}

    def merge(self, other: "Pending") -> None:
        """Put back counts a failed push took out (keeping those of the current windows)."""
        if other.w == self.w:
            self.req += other.req
            self.tok += other.tok
        for bucket, slots in other.cc.items():
            self.cc[bucket] = self.cc.get(bucket, 0) + slots
        if other.bp == self.bp:
            self.spend += other.spend


async def push(store: Any, key: str, pending: Pending, at: Windows) -> tuple[dict, Windows]:
    """Add `pending` to the scope's document in one patch (rolling it over first when a window
    has passed, like `limit_counters.admit`); the document's counts after, and its windows."""
    for _ in range(_ATTEMPTS):
        where = [Clause(("w",), "=", at.w), Clause(("cb",), "=", at.cb),
                 Clause(("bp",), "=", at.bp)]
        got = await store.patch_counters(key, pending.incr_for(at), where)
        if got is not None:
            return got, at
        current = await store.read_counters(key)
        doc = None if current is None else current.value
        at = at.newest(doc or {})
        fresh = rolled(doc, at)
        if fresh == doc:
            continue                          # rolled by another instance meanwhile
        for name, value in pending.incr_for(at).items():
            fresh[name] = fresh.get(name, 0) + value
        if await store.write_counters(key, fresh, etag=current and current.etag, ttl=TTL):
            return fresh, at
    raise StoreConflict(f"limit counters {key}: too many concurrent window changes")


@dataclass
class LocalScope:
    at: Windows | None = None
    synced: dict[str, float] = field(default_factory=dict)
    synced_at: float = float("-inf")          # monotonic
    pending: Pending = field(default_factory=Pending)
    task: asyncio.Task | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)   # ends a push's wait early

    def roll(self, at: Windows) -> None:
        if self.at is not None and at == self.at:
            return
        at = at if self.at is None else at.newest({"w": self.at.w, "cb": self.at.cb,
                                                   "bp": self.at.bp})
        self.synced = rolled(self.synced or None, at) if self.synced else {}
        p = self.pending
        if p.w != at.w:
            p.w, p.req, p.tok = at.w, 0, 0
        p.cc = {b: s for b, s in p.cc.items() if b >= at.cb - 1}
        if p.bp != at.bp:
            p.bp, p.spend = at.bp, 0
        self.at = at

    def view(self) -> dict[str, float]:
        """Everyone's counts as last read, plus this instance's since."""
        s, p, at = self.synced, self.pending, self.at
        return {"req": s.get("req", 0) + p.req, "tok": s.get("tok", 0) + p.tok,
                "cc": s.get("cc", 0) + p.cc.get(at.cb, 0),
                "cp": s.get("cp", 0) + p.cc.get(at.cb - 1, 0),
                "spend": s.get("spend", 0) + p.spend}


class ApproxCounters:
    def __init__(self, store: Any, spawn: Callable[[Any], None],
                 monotonic: Callable[[], float] = time.monotonic):
        self._store = store
        self._spawn = spawn
        self._monotonic = monotonic
        self._scopes: dict[str, LocalScope] = {}

    async def admit(self, key: str, claim: Claim, at: Windows) -> Outcome:
        if len(self._scopes) > 10_000:          # forget idle scopes (they re-read when seen)
            self._scopes = {k: s for k, s in self._scopes.items()
                            if not s.pending.empty() or (s.task and not s.task.done())}
        scope = self._scopes.setdefault(key, LocalScope())
        scope.roll(at)
        if self._monotonic() - scope.synced_at > STALE_SECONDS:
            await self.sync(key)                   # a cold or quiet scope: read the totals once
        view = scope.view()
        refused_by = claim.refusal(view)
        if refused_by is not None:
            return Outcome(False, view, refused_by, scope.at)
        p = scope.pending
        p.req += 1
        p.tok += claim.tokens
        if claim.concurrency is not None:
            p.cc[scope.at.cb] = p.cc.get(scope.at.cb, 0) + 1
        self._schedule(key, scope)
        return Outcome(True, scope.view(), windows=scope.at)

    def undo(self, key: str, claim: Claim, at: Windows) -> None:
        """Take back an admission (another scope of the same request refused it)."""
        scope = self._scopes.get(key)
        if scope is None or scope.at is None:
            return
        p = scope.pending
        if at.w == p.w:
            p.req -= 1
            p.tok -= claim.tokens
        if claim.concurrency is not None:
            p.cc[at.cb] = p.cc.get(at.cb, 0) - 1

    def release(self, key: str, at: Windows, *, slot: bool, tokens: float, spend: float) -> None:
        scope = self._scopes.get(key)
        if scope is None or scope.at is None:
            return
        p = scope.pending
        if slot and at.cb >= scope.at.cb - 1:
            p.cc[at.cb] = p.cc.get(at.cb, 0) - 1
        if tokens and at.w == p.w:
            p.tok += tokens
        if spend and at.bp == p.bp:
            p.spend += spend
        self._schedule(key, scope)

    def _schedule(self, key: str, scope: LocalScope) -> None:
        """A push within `SYNC_SECONDS` of the last one, unless one is already on its way."""
        if scope.task is None or scope.task.done():
            wait = max(0.0, scope.synced_at + SYNC_SECONDS - self._monotonic())
            scope.wake = asyncio.Event()
            scope.task = asyncio.ensure_future(self._sync_later(key, wait, scope.wake))
            self._spawn(scope.task)

    async def _sync_later(self, key: str, wait: float, wake: asyncio.Event) -> None:
        for attempt in range(_ATTEMPTS):
            if wait and not wake.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
            try:
                await self.sync(key)
                return
            except Exception as exc:      # the counts stay pending: try again a little later
                log.warning("limits: pushing approximate counts failed: %s",
                            type(exc).__name__)
                wait = SYNC_SECONDS * (attempt + 1)

    async def sync(self, key: str) -> None:
        scope = self._scopes[key]
        taken, scope.pending = scope.pending, Pending(scope.pending.w, bp=scope.pending.bp)
        try:
            doc, at = await push(self._store, key, taken, scope.at)
        except BaseException:
            scope.pending.merge(taken)
            raise
        scope.synced_at = self._monotonic()
        if scope.at is not None and at != scope.at:
            scope.roll(at)
        # What was admitted while the push was on its way stays pending on top of the totals.
        scope.synced = {k: doc.get(k, 0) for k in ("w", "cb", "bp", "req", "tok", "cc", "cp",
                                                   "spend")}
        if doc.get("w") != scope.at.w or doc.get("cb") != scope.at.cb or \
                doc.get("bp") != scope.at.bp:
            scope.synced = rolled(scope.synced, scope.at)

    async def flush(self) -> None:
        """Push every scope's pending counts now (shutdown). A push on its way is let finish,
        never cancelled: Cosmos may have applied it, and pushing its counts again would count
        them twice."""
        for key, scope in list(self._scopes.items()):
            scope.wake.set()
            if scope.task is not None:
                await asyncio.gather(scope.task, return_exceptions=True)
            if not scope.pending.empty():
                try:
                    await self.sync(key)
                except Exception as exc:
                    log.error("limits: pushing approximate counts at shutdown failed: %s",
                              type(exc).__name__)
