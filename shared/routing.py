"""Routing one call over a model's deployments: retries, failover, circuit breakers, timeouts.

Every endpoint calls `Router.call(model, attempt, stream=...)` with `attempt(member)` performing
one provider call on one deployment (a `ResolvedModel`), e.g.
`lambda m: m.adapter.chat(m.prepared, dict(body), stream, m.secrets)`. The router

- orders the pool: lowest `priority` first, members of one priority in a weighted random order,
  members whose breaker is open skipped while another member can serve;
- retries a member on 429, 5xx, connect errors and timeouts (`policy.retries` times), waiting a
  jittered exponential backoff or the provider's `Retry-After` when that is at most
  `policy.retry_after_max` (a longer one moves on at once), then fails over to the next member;
- never retries what the request caused (400, 413, content filter, and any other upstream 4xx
  but 408/429 and the 401/403/404 below): that answer is final, relayed with its status;
- on a deployment's own misconfiguration (upstream 401/403/404) skips to the next member;
- bounds each attempt by the member's first-byte timeout (streams: until the first event) or
  the time left of the member's share of the named model's total timeout, and a stream's every
  event by the first-byte timeout and the total;
- splits the total timeout so that failover has time left: a member starts with an equal share
  of what remains over it and the members still to try after it (`remaining / (left + 1)`); its
  attempts and retries all end within that share, and what it leaves unused passes on. The last
  member (a single deployment: the only one) has all that remains. With 3 members and 200 s,
  a hung first member costs at most 66.7 s, the second then has up to 66.7 s, the third the rest;
- fails a stream over only before its first event: the router reads that event itself, so a
  stream the client has seen a byte of is never restarted elsewhere.

Breakers are per process (per Function instance): each instance learns a member's health from
its own traffic, which is what the cooldown-and-probe cycle needs and costs no store round trip.
A model with one deployment has nowhere else to go, so it is always tried.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Generic, TypeVar

from .catalog import Member, ResolvedModel
from .errors import (GatewayError, InvalidRequest, PayloadTooLarge, RateLimited,
                     ServiceUnavailable, UpstreamError, UpstreamRefused, UpstreamTimeout)
from .policy import CallTimeouts, current_timeouts

log = logging.getLogger(__name__)
T = TypeVar("T")

FINAL, FAILOVER, RETRY = "final", "failover", "retry"
_BACKOFF_BASE, _BACKOFF_MAX = 0.25, 4.0
_MEMBER_CONFIG_CODES = {"upstream_auth_failed", "upstream_not_found", "model_misconfigured"}


def classify(err: GatewayError) -> str:
    """What an attempt's failure means for the next attempt."""
    if isinstance(err, (InvalidRequest, PayloadTooLarge, UpstreamRefused)):
        return FINAL                                # the request's own fault; nowhere is better
    if isinstance(err, (RateLimited, ServiceUnavailable, UpstreamTimeout)):
        return RETRY
    if err.code in _MEMBER_CONFIG_CODES:
        return FAILOVER                             # this deployment is misconfigured
    if isinstance(err, UpstreamError):
        return RETRY                                # 5xx, unreachable, broken before first byte
    if err.status >= 500:
        return FAILOVER
    return FINAL


def retry_after_seconds(err: GatewayError) -> float | None:
    raw = {k.lower(): v for k, v in err.headers.items()}.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Breaker:
    """closed -> (N consecutive failures) open -> (cooldown over) half-open: one probe ->
    closed on success, open again on failure."""
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False

    def state(self, now: float) -> str:
        if not self.open_until:
            return "closed"
        return "open" if now < self.open_until else "half-open"

    def try_acquire(self, now: float) -> bool:
        state = self.state(now)
        if state == "closed":
            return True
        if state == "open" or self.probing:
            return False
        self.probing = True                         # this caller is the probe
        return True

    def succeeded(self) -> None:
        self.failures, self.open_until, self.probing = 0, 0.0, False

    def failed(self, now: float, threshold: int, cooldown: float) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= threshold or self.open_until:
            self.open_until = now + cooldown

    def trip(self, now: float, seconds: float) -> None:
        self.probing = False
        self.open_until = max(self.open_until, now + seconds)


@dataclass
class Routed(Generic[T]):
    member: ResolvedModel          # the deployment that answered (its costs apply)
    result: T
    attempts: int = 1


@dataclass
class _Call:
    model: ResolvedModel
    deadline: float                 # the named model's total timeout
    attempts: int = 0
    last_error: GatewayError | None = None
    share_end: float = 0.0          # the end of the current member's share of it


class Router:
    def __init__(self, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 rng: random.Random | None = None):
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._breakers: dict[str, Breaker] = {}

    def now(self) -> float:
        # The monotonic clock, as asyncio's loop reads it: deadlines here are only compared with
        # each other and turned into durations. (`get_running_loop()` makes a getpid system call
        # each time on Python 3.11.)
        return self._clock() if self._clock else time.monotonic()

    def breaker(self, member_id: str) -> Breaker:
        breaker = self._breakers.get(member_id)
        if breaker is None:
            breaker = self._breakers[member_id] = Breaker()
        return breaker

    def order(self, model: ResolvedModel) -> list[Member]:
        """Priority groups in order; inside one, a weighted random permutation."""
        if len(model.members) == 1:
            return model.members                    # read, never changed, by the caller
        keyed = [(m.priority, -self._rng.random() ** (1.0 / m.weight), i, m)
                 for i, m in enumerate(model.members)]
        return [entry[-1] for entry in sorted(keyed)]

    async def call(self, model: ResolvedModel, attempt: Callable[[ResolvedModel], Awaitable[T]],
                   *, stream: bool = False) -> Routed[T]:
        model.require_configured()
        call = _Call(model, self.now() + model.policy.total_timeout)
        members = self.order(model)
        use_breakers = len(members) > 1
        skipped = []
        for index, member in enumerate(members):
            if use_breakers and not self.breaker(member.model.doc.id).try_acquire(self.now()):
                skipped.append(member)
                continue
            self._share(call, len(members) - index - 1)
            routed = await self._try_member(call, member, attempt, stream, use_breakers)
            if routed is not None:
                return routed
        for index, member in enumerate(skipped):  # every member is out: better a try than none
            self._share(call, len(skipped) - index - 1)
            routed = await self._try_member(call, member, attempt, stream, False)
            if routed is not None:
                return routed
        raise call.last_error or UpstreamTimeout(
            f"No deployment of '{model.doc.id}' answered within {model.policy.total_timeout:g} s.")

    def _share(self, call: _Call, left: int) -> None:
        """The next member's share of the time that remains: `left` members may follow it."""
        now = self.now()
        call.share_end = now + max(0.0, call.deadline - now) / (left + 1)

    async def _try_member(self, call: _Call, member: Member, attempt: Callable, stream: bool,
                          use_breaker: bool) -> Routed | None:
        target = member.model
        policy = target.policy
        # A member alone has no breaker to keep (it is always tried): none is looked up.
        breaker: Any = self.breaker(target.doc.id) if use_breaker else None
        for retry in range(policy.retries + 1):
            if self.now() >= call.share_end:
                call.last_error = call.last_error or _timeout(call.model)
                return None
            call.attempts += 1
            try:
                result = await self._attempt(call, target, attempt, stream)
            except GatewayError as err:
                kind = classify(err)
                if kind == FINAL:
                    if use_breaker:
                        breaker.succeeded()          # the deployment answered; it is healthy
                    raise
                call.last_error = err
                wait = self._next_wait(err, retry, policy)
                log.warning("model %s: deployment %s failed (%s, %s); %s", call.model.doc.id,
                            target.doc.id, err.status, err.code,
                            "retrying" if kind == RETRY and wait is not None else "moving on")
                if use_breaker:
                    self._count_failure(breaker, err, policy)
                if kind != RETRY or wait is None or retry == policy.retries \
                        or self.now() + wait >= call.share_end:
                    return None
                await self._sleep(wait)
                continue
            except BaseException:
                if use_breaker and breaker.probing:
                    breaker.probing = False          # cancelled mid-probe: let another probe
                raise
            if use_breaker:
                breaker.succeeded()
            return Routed(target, result, call.attempts)
        return None

    async def _attempt(self, call: _Call, target: ResolvedModel, attempt: Callable,
                       stream: bool) -> Any:
        if target.problem:
            raise GatewayError(f"Deployment '{target.doc.id}' is not configured correctly.",
                               code="model_misconfigured")
        policy = target.policy
        ready = target.adapter_ready
        # An attempt may say a deployment needs no setup for it (Claude's native Messages
        # calls never touch LiteLLM, so they must not wait for its import).
        needs_setup = getattr(attempt, "needs_setup", None)
        if ready is not None and (needs_setup is None or needs_setup(target)):
            # one-time adapter setup (LiteLLM's import) is not provider time
            began = self.now()
            await ready()
            call.deadline += self.now() - began
            call.share_end += self.now() - began
        remaining = call.share_end - self.now()
        bound = min(policy.first_byte_timeout, remaining) if stream else remaining
        # A stream must start within the member's share; once started it may run to the total.
        whole = call.deadline - self.now() if stream else remaining
        token = current_timeouts.set(CallTimeouts(min(policy.connect_timeout, remaining),
                                                  min(policy.first_byte_timeout, remaining),
                                                  whole))
        try:
            if not stream and target.adapter_enforces_timeouts:
                # The adapter bounds every wait by these timeouts itself (its HTTP client's
                # deadlines): a second timer around the call would only cost time.
                return await attempt(target)
            async with asyncio.timeout(bound):
                result = await attempt(target)
                if stream:
                    return await self._start_stream(call, target, result)
                return result
        except TimeoutError:
            raise UpstreamTimeout(f"The provider of '{call.model.doc.id}' did not answer "
                                  f"within {bound:.3g} s.") from None
        finally:
            current_timeouts.reset(token)

    async def _start_stream(self, call: _Call, target: ResolvedModel, result: Any) -> Any:
        """Read the first event before the client sees anything, so a stream that fails at
        once can still go elsewhere; then bound every later event by the deadlines."""
        iterator = result.chunks.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = None
        except BaseException:
            await result.close()
            raise
        if target.adapter_enforces_timeouts:      # each read is bounded by the adapter
            result.chunks = _prepended(first, iterator)
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (call.deadline - self.now())
        result.chunks = _bounded(first, iterator, deadline, target.policy.first_byte_timeout,
                                 call.model.doc.id)
        return result

    def _next_wait(self, err: GatewayError, retry: int, policy: Any) -> float | None:
        """Seconds to wait before retrying; None when the provider asks for longer than we wait."""
        asked = retry_after_seconds(err)
        if asked is not None:
            return asked if asked <= policy.retry_after_max else None
        return self._rng.uniform(0, min(_BACKOFF_MAX, _BACKOFF_BASE * 2 ** retry))

    def _count_failure(self, breaker: Breaker, err: GatewayError, policy: Any) -> None:
        now = self.now()
        breaker.failed(now, policy.breaker_failures, policy.breaker_cooldown)
        asked = retry_after_seconds(err)
        if asked is not None and asked > policy.retry_after_max:
            breaker.trip(now, min(asked, policy.breaker_cooldown * 10))


def _timeout(model: ResolvedModel) -> UpstreamTimeout:
    return UpstreamTimeout(f"No deployment of '{model.doc.id}' answered within "
                           f"{model.policy.total_timeout:g} s.")


async def _prepended(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


async def _bounded(first: bytes | None, rest: AsyncIterator[bytes], deadline: float,
                   idle: float, model_id: str) -> AsyncIterator[bytes]:
    """The stream as relayed: the event already read, then the rest, each within both the
    call's deadline and the idle (first-byte) timeout."""
    if first is None:
        return
    yield first
    loop = asyncio.get_running_loop()
    while True:
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + idle)):
                chunk = await rest.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UpstreamTimeout(f"The stream of '{model_id}' stalled or ran past the "
                                  "model's total timeout.") from None
        yield chunk
