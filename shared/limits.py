"""Per-project (and per-key) limits and budgets, counted in the shared store.

A project's limit document (management API `PUT /v1/organization/projects/{project_id}/limits`, CLI `set-limits`):

    {"requests_per_minute": 600, "tokens_per_minute": 100000, "concurrent_requests": 20,
     "budget": 50.0, "budget_period": "day",               # hour | day | month (UTC)
     "keys": {"key_0123abcd": {"requests_per_minute": 60}}, # a key's own limits, on top
     "enforcement": "exact"}                                # or "approximate" (see below)

With "exact" enforcement (the default), how exact each one is, with any number of instances
(every admission is one atomic store step, shared/limit_counters.py):
- requests per minute: never more admitted in one UTC minute window (fixed windows, so up to
  twice the limit can fall into a 60 s span straddling two windows);
- concurrent requests: never more in flight; an instance that dies mid-request frees its slots
  within two 5-minute buckets;
- tokens per minute: a request reserves its prompt estimate plus its `max_tokens` (x `n`) when
  admitted and is refused if that would pass the limit; the reservation is corrected to the
  real count when it ends, so the limit is exact for requests that set `max_tokens`, and others
  can overshoot by what the requests in flight produce beyond their reservation;
- budget: checked at admission against the spend of requests that have finished; requests in
  flight when it is crossed finish and are counted, so spend can pass the budget by what they
  cost. Spend is computed from the catalog's prices of the deployment that answered.

With "approximate" enforcement a request is admitted without a store round trip, and each limit
can additionally be passed by what the other instances admit within about a second
(shared/approx_limits.py states the bounds; docs/scale.md has when to choose it).
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import limit_counters as counters
from .errors import PermissionDenied, RateLimited
from .approx_limits import ApproxCounters
from .limit_counters import CONCURRENCY_BUCKET, MINUTE, Claim, Windows
from .store.base import Clause
from .validation import parse_document
from .keys import Caller

log = logging.getLogger(__name__)



class LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    concurrent_requests: int | None = Field(None, ge=1)
    budget: float | None = Field(None, ge=0)
    budget_period: Literal["hour", "day", "month"] = "day"

    @property
    def empty(self) -> bool:
        return not any(v is not None for v in (self.requests_per_minute, self.tokens_per_minute,
                                                self.concurrent_requests, self.budget))


class ProjectLimits(LimitSpec):
    keys: dict[str, LimitSpec] = Field(default_factory=dict)
    # "exact" (the default): every admission is one atomic store step, the guarantees above.
    # "approximate": admitted against a local view synced once a second (shared/approx_limits.py
    # states how far a limit can be passed), for projects past exact mode's ceiling.
    enforcement: Literal["exact", "approximate"] = "exact"


def validate_limits(data: Any) -> ProjectLimits:
    return parse_document(ProjectLimits, data, "limits")


def _period(period: str, now: float) -> tuple[float, float]:
    """(when the budget period started, when it ends) in UTC, epoch seconds."""
    t = datetime.fromtimestamp(now, timezone.utc)
    if period == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        return start.timestamp(), start.timestamp() + 3600
    if period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start.timestamp(), end.timestamp()
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), start.timestamp() + 86400


@dataclass
class Ticket:
    """An admitted request's claims on the counters, released or corrected when it ends."""
    limiter: "Limiter | None" = None
    claims: list[tuple[str, Claim, Windows, bool]] = field(default_factory=list)  # approx?
    reserved_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    admitted_at: float = 0.0
    _done: bool = False

    async def finish(self, tokens: int, cost: float) -> None:
        if self._done or self.limiter is None:
            return
        self._done = True
        await self.limiter._release(self, tokens, cost)

    def finish_soon(self, tokens: int, cost: float) -> None:
        """For a stream's end, which may run while its task is being cancelled."""
        if self.limiter is not None and not self._done:
            self.limiter._spawn(self.finish(tokens, cost))


NO_LIMITS = Ticket()


def _legacy_spend(scope: str, period: str, start: float) -> str:
    """The key the release before counted a budget period's spend under."""
    fmt = {"hour": "%Y-%m-%dT%H", "month": "%Y-%m"}.get(period, "%Y-%m-%d")
    return f"{scope}|spend|{datetime.fromtimestamp(start, timezone.utc).strftime(fmt)}"


def _claim(spec: LimitSpec, tokens: int) -> Claim:
    return Claim(spec.requests_per_minute, spec.tokens_per_minute, spec.concurrent_requests,
                 spec.budget, tokens)


class Limiter:
    def __init__(self, store: Any, ttl: float, clock=time.time):
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, ProjectLimits | None]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._approx = ApproxCounters(store, self._spawn)

    async def limits_for(self, project: str) -> ProjectLimits | None:
        now = time.monotonic()
        hit = self._cache.get(project)
        if hit is not None and hit[0] > now:
            return hit[1]
        raw = await self._store.get_limits(project)
        limits = ProjectLimits.model_validate(raw) if raw else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[project] = (now + self._ttl, limits)
        return limits

    def forget(self, project: str) -> None:
        self._cache.pop(project, None)

    async def admit(self, caller: Caller, reserve_tokens: int) -> Ticket:
        """Claim a request slot; 429 over a rate limit, 403 over budget. No limits: no store I/O.
        Exact enforcement: one store round trip per scope with limits (the project's; a key's
        own limits add one). Approximate: none, but when the local view is stale."""
        limits = await self.limits_for(caller.project)
        if limits is None or (limits.empty and not limits.keys):
            return NO_LIMITS
        scopes: list[tuple[str, LimitSpec]] = []
        if not limits.empty:
            scopes.append((f"p:{caller.project}", limits))
        key_spec = limits.keys.get(caller.key_id)
        if key_spec is not None and not key_spec.empty:
            scopes.append((f"k:{caller.key_id}", key_spec))
        if not scopes:
            return NO_LIMITS
        now = self._clock()
        ticket = Ticket(self, reserved_tokens=reserve_tokens, admitted_at=now)
        approx = limits.enforcement == "approximate"
        try:
            for scope, spec in scopes:
                claim = _claim(spec, reserve_tokens)
                start, ends = _period(spec.budget_period, now)
                at = Windows.at(now, start)
                outcome = await (self._approx.admit(scope, claim, at) if approx else
                                 counters.admit(self._store, scope, claim, at,
                                                _legacy_spend(scope, spec.budget_period, start)))
                _headers_for(ticket, claim, outcome.counts, now)
                if not outcome.admitted:
                    raise _refusal(scope, spec, outcome, now, ends, ticket.headers)
                ticket.claims.append((scope, claim, outcome.windows, approx))
        except (RateLimited, PermissionDenied):
            for scope, claim, at, was_approx in ticket.claims:
                if was_approx:
                    self._approx.undo(scope, claim, at)
                else:
                    await self._undo(scope, claim, at)
            raise
        return ticket

    async def _undo(self, scope: str, claim: Claim, at: Windows) -> None:
        incr = {name: -value for name, value in claim.incr().items()}
        where = [Clause(("w",), "=", at.w)]
        if "cc" in incr:
            where.append(Clause(("cb",), "=", at.cb))
        await self._store.patch_counters(scope, incr, where)     # a passed window: nothing to undo

    async def _release(self, ticket: Ticket, tokens: int, cost: float) -> None:
        try:
            for scope, claim, at, approx in ticket.claims:
                change = dict(
                    slot=claim.concurrency is not None,
                    tokens=(tokens - ticket.reserved_tokens) if claim.tpm is not None else 0,
                    spend=cost if claim.budget is not None and cost > 0 else 0)
                if approx:
                    self._approx.release(scope, at, **change)
                else:
                    await counters.release(self._store, scope, at, **change)
        except Exception as exc:      # a lost update must not fail the caller's request
            log.error("limits: releasing a request failed: %s", type(exc).__name__)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        await self._approx.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _headers_for(ticket: Ticket, claim: Claim, counts: dict[str, float], now: float) -> None:
    reset = (int(now // MINUTE) + 1) * MINUTE - now
    if claim.rpm is not None:
        _headers(ticket, "requests", claim.rpm, counts.get("req", 0), reset)
    if claim.tpm is not None:
        _headers(ticket, "tokens", claim.tpm, counts.get("tok", 0), reset)


def _refusal(scope: str, spec: LimitSpec, outcome: counters.Outcome, now: float, ends: float,
             headers: dict[str, str]) -> Exception:
    reset = (int(now // MINUTE) + 1) * MINUTE - now
    if outcome.refused_by == "budget":
        spent = outcome.counts.get("spend", 0)
        return PermissionDenied(
            f"{_who(scope).capitalize()} has used its budget of {spec.budget:g} for this "
            f"{spec.budget_period} (spent {spent:.6g}); it renews at "
            f"{datetime.fromtimestamp(ends, timezone.utc).isoformat()}.", code="budget_exceeded")
    if outcome.refused_by == "concurrency":
        return RateLimited(f"Too many concurrent requests: {_who(scope)} allows "
                           f"{spec.concurrent_requests} at a time.",
                           code="concurrency_limit_exceeded",
                           headers={**headers, "Retry-After": "1"})
    kind = outcome.refused_by or "requests"
    limit = spec.tokens_per_minute if kind == "tokens" else spec.requests_per_minute
    return _too_many(scope, kind, limit, reset, headers)


def _headers(ticket: Ticket, kind: str, limit: int, used: float, reset: float) -> None:
    """OpenAI's x-ratelimit-* headers; with project and key limits, the tighter one shows."""
    remaining = max(0, int(limit - used))
    current = ticket.headers.get(f"x-ratelimit-remaining-{kind}")
    if current is not None and int(current) <= remaining:
        return
    ticket.headers[f"x-ratelimit-limit-{kind}"] = str(limit)
    ticket.headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
    ticket.headers[f"x-ratelimit-reset-{kind}"] = f"{max(1, math.ceil(reset))}s"


def _who(scope: str) -> str:
    return "this API key" if scope.startswith("k:") else "this project"


def _too_many(scope: str, kind: str, limit: int, reset: float,
              headers: dict[str, str]) -> RateLimited:
    return RateLimited(f"Rate limit reached: {_who(scope)} allows {limit} {kind} per minute. "
                       f"Try again in {math.ceil(reset)} s.", code="rate_limit_exceeded",
                       headers={**headers, "Retry-After": str(max(1, math.ceil(reset)))})


async def consumption(store: Any, project: str, limits: LimitSpec,
                      now: float | None = None) -> dict[str, Any]:
    """What a project has used against its limits right now (the console shows it beside the
    limits), read from its counters document (limit_counters.py): this minute's requests and
    tokens, requests in flight, the budget period's spend. A window that has passed counts 0."""
    now = time.time() if now is None else now
    period_start, ends = _period(limits.budget_period, now)
    found = await store.read_counters(f"p:{project}")
    doc = found.value if found is not None else {}
    minute, bucket = int(now // MINUTE), int(now // CONCURRENCY_BUCKET)
    this_minute = doc.get("w") == minute
    in_flight = {bucket: doc.get("cc", 0) + doc.get("cp", 0), bucket - 1: doc.get("cc", 0)}
    return {
        "requests_this_minute": doc.get("req", 0) if this_minute else 0,
        "tokens_this_minute": doc.get("tok", 0) if this_minute else 0,
        "concurrent_requests": in_flight.get(int(doc.get("cb", 0)), 0),
        "budget_spent": doc.get("spend", 0) if int(doc.get("bp", 0)) == int(period_start) else 0,
        "budget_period": datetime.fromtimestamp(period_start, timezone.utc).isoformat(),
        "budget_renews_at": int(ends),
    }
