"""Per-project (and per-key) limits and budgets, counted in the shared store.

A project's limit document (management API `PUT /v1/organization/projects/{project_id}/limits`, CLI `set-limits`):

    {"requests_per_minute": 600, "tokens_per_minute": 100000, "concurrent_requests": 20,
     "budget": 50.0, "budget_period": "day",               # hour | day | month (UTC)
     "keys": {"key_0123abcd": {"requests_per_minute": 60}}} # a key's own limits, on top

How exact each one is, with any number of instances (every count is one atomic store step):
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

from .errors import PermissionDenied, RateLimited
from .validation import parse_document
from .keys import Caller

log = logging.getLogger(__name__)

MINUTE = 60
CONCURRENCY_BUCKET = 300          # longer than any request may run (230 s Functions limit)


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


def validate_limits(data: Any) -> ProjectLimits:
    return parse_document(ProjectLimits, data, "limits")


def _period_key(period: str, now: float) -> tuple[str, float]:
    """(the budget period's name, when it ends) in UTC."""
    t = datetime.fromtimestamp(now, timezone.utc)
    if period == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%dT%H"), start.timestamp() + 3600
    if period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start.strftime("%Y-%m"), end.timestamp()
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%d"), start.timestamp() + 86400


@dataclass
class Ticket:
    """An admitted request's claims on the counters, released or corrected when it ends."""
    limiter: "Limiter | None" = None
    scopes: list[tuple[str, LimitSpec]] = field(default_factory=list)
    reserved_tokens: int = 0
    tpm_keys: list[str] = field(default_factory=list)
    concurrency_keys: list[str] = field(default_factory=list)
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


class Limiter:
    def __init__(self, store: Any, ttl: float, clock=time.time):
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, ProjectLimits | None]] = {}
        self._tasks: set[asyncio.Task] = set()

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
        """Claim a request slot; 429 over a rate limit, 403 over budget. No limits: no store I/O."""
        limits = await self.limits_for(caller.project)
        if limits is None:
            return NO_LIMITS
        scopes = [(f"p:{caller.project}", limits)]
        key_spec = limits.keys.get(caller.key_id)
        if key_spec is not None and not key_spec.empty:
            scopes.append((f"k:{caller.key_id}", key_spec))
        ticket = Ticket(self, scopes, reserve_tokens, admitted_at=self._clock())
        undo: list[tuple[str, float]] = []
        try:
            for scope, spec in scopes:
                await self._check_budget(scope, spec, ticket.admitted_at)
            for scope, spec in scopes:
                await self._claim(scope, spec, ticket, undo)
        except (RateLimited, PermissionDenied):
            for key, delta in undo:
                await self._store.add_to_counter(key, -delta, limit=None, expires_at=0)
            raise
        return ticket

    async def _check_budget(self, scope: str, spec: LimitSpec, now: float) -> None:
        if spec.budget is None:
            return
        period, ends = _period_key(spec.budget_period, now)
        spent = await self._store.get_counter(f"{scope}|spend|{period}")
        if spent >= spec.budget:
            raise PermissionDenied(
                f"{_who(scope).capitalize()} has used its budget of {spec.budget:g} for this {spec.budget_period} "
                f"(spent {spent:.6g}); it renews at "
                f"{datetime.fromtimestamp(ends, timezone.utc).isoformat()}.",
                code="budget_exceeded")

    async def _claim(self, scope: str, spec: LimitSpec, ticket: Ticket,
                     undo: list[tuple[str, float]]) -> None:
        now = ticket.admitted_at
        window = int(now // MINUTE)
        reset = (window + 1) * MINUTE - now
        expires = (window + 2) * MINUTE
        if spec.requests_per_minute:
            key = f"{scope}|rpm|{window}"
            got = await self._store.add_to_counter(key, 1, limit=spec.requests_per_minute,
                                                   expires_at=expires)
            _headers(ticket, "requests", spec.requests_per_minute, got.value, reset)
            if not got.applied:
                raise _too_many(scope, "requests", spec.requests_per_minute, reset, ticket.headers)
            undo.append((key, 1))
        if spec.tokens_per_minute:
            key = f"{scope}|tpm|{window}"
            got = await self._store.add_to_counter(key, ticket.reserved_tokens,
                                                   limit=spec.tokens_per_minute, expires_at=expires)
            _headers(ticket, "tokens", spec.tokens_per_minute, got.value, reset)
            if not got.applied:
                raise _too_many(scope, "tokens", spec.tokens_per_minute, reset, ticket.headers)
            undo.append((key, ticket.reserved_tokens))
            ticket.tpm_keys.append(key)
        if spec.concurrent_requests:
            await self._claim_slot(scope, spec.concurrent_requests, ticket, undo)

    async def _claim_slot(self, scope: str, limit: int, ticket: Ticket,
                          undo: list[tuple[str, float]]) -> None:
        # Slots are counted in 5-minute buckets: a request started in the previous bucket may
        # still run, so it counts too; it only ever goes down, so the check stays conservative.
        bucket = int(ticket.admitted_at // CONCURRENCY_BUCKET)
        previous = await self._store.get_counter(f"{scope}|conc|{bucket - 1}")
        key = f"{scope}|conc|{bucket}"
        got = await self._store.add_to_counter(key, 1, limit=limit - previous,
                                               expires_at=(bucket + 3) * CONCURRENCY_BUCKET)
        if not got.applied:
            raise RateLimited(f"Too many concurrent requests: {_who(scope)} allows {limit} at a "
                              "time.", code="concurrency_limit_exceeded",
                              headers={**ticket.headers, "Retry-After": "1"})
        undo.append((key, 1))
        ticket.concurrency_keys.append(key)

    async def _release(self, ticket: Ticket, tokens: int, cost: float) -> None:
        try:
            for key in ticket.concurrency_keys:
                await self._store.add_to_counter(key, -1, limit=None, expires_at=0)
            extra = tokens - ticket.reserved_tokens
            for key in ticket.tpm_keys:
                if extra:
                    await self._store.add_to_counter(key, extra, limit=None,
                                                     expires_at=self._clock() + 2 * MINUTE)
            for scope, spec in ticket.scopes:
                if spec.budget is not None and cost > 0:
                    period, ends = _period_key(spec.budget_period, ticket.admitted_at)
                    await self._store.add_to_counter(f"{scope}|spend|{period}", cost, limit=None,
                                                     expires_at=ends + 86400)
        except Exception as exc:      # a lost update must not fail the caller's request
            log.error("limits: releasing a request failed: %s", type(exc).__name__)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


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
