"""The router's decisions with a fake clock and fake deployments: breaker cycle, backoff and
Retry-After, what is final. (The same paths run end to end in test_routing.py.)"""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from shared.catalog import Member
from shared.config import Settings
from shared.errors import InvalidRequest, RateLimited, UpstreamError
from shared.policy import build_policy
from shared.routing import Breaker, Router, retry_after_seconds


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fake_model(name: str, **params) -> SimpleNamespace:
    # An adapter that does not bound its own waits: the router's timers are under test.
    m = SimpleNamespace(doc=SimpleNamespace(id=name), problem="", adapter=object(),
                        adapter_ready=None, adapter_enforces_timeouts=False,
                        policy=build_policy(params, Settings()))
    m.members = [Member(m)]
    m.require_configured = lambda: None
    return m


def pooled(*members: SimpleNamespace) -> SimpleNamespace:
    front = fake_model("front")
    front.members = [Member(m, 1, i) for i, m in enumerate(members)]
    return front


def script(outcomes: dict[str, list]):
    """An attempt that answers per deployment from a list: an exception to raise or a value."""
    calls = []

    async def attempt(deployment):
        calls.append(deployment.doc.id)
        outcome = outcomes[deployment.doc.id].pop(0) if outcomes[deployment.doc.id] else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return attempt, calls


async def test_breaker_opens_then_probes_once_and_closes():
    clock = Clock()
    router = Router(clock=clock, sleep=clock.sleep, rng=random.Random(1))
    a = fake_model("a", retries=0, breaker_failures=2, breaker_cooldown=10)
    b = fake_model("b")
    model = pooled(a, b)
    attempt, calls = script({"a": [UpstreamError("boom"), UpstreamError("boom")], "b": []})
    for _ in range(3):
        assert (await router.call(model, attempt)).result == "ok"
    assert calls == ["a", "b", "a", "b", "b"]                 # open after 2 failures
    assert router.breaker("a").state(clock.now) == "open"
    clock.now += 10                                           # cooldown over: one probe
    assert router.breaker("a").state(clock.now) == "half-open"
    routed = await router.call(model, attempt)
    assert routed.member is a and router.breaker("a").state(clock.now) == "closed"


async def test_a_failed_probe_reopens_the_breaker():
    clock = Clock()
    router = Router(clock=clock, sleep=clock.sleep)
    a = fake_model("a", retries=0, breaker_failures=1, breaker_cooldown=10)
    model = pooled(a, fake_model("b"))
    attempt, calls = script({"a": [UpstreamError("x"), UpstreamError("y")], "b": []})
    await router.call(model, attempt)
    clock.now += 11
    await router.call(model, attempt)
    assert calls == ["a", "b", "a", "b"]
    assert router.breaker("a").state(clock.now) == "open"


def test_only_one_caller_probes_a_half_open_member():
    breaker = Breaker(failures=3, open_until=5.0)
    assert not breaker.try_acquire(4.0)
    assert breaker.try_acquire(6.0) and not breaker.try_acquire(6.0)


async def test_retry_after_is_honoured_and_backoff_is_jittered_and_bounded():
    clock = Clock()
    router = Router(clock=clock, sleep=clock.sleep, rng=random.Random(7))
    solo = fake_model("solo", retries=3)
    attempt, calls = script({"solo": [RateLimited("slow", headers={"Retry-After": "2"}),
                                      UpstreamError("x"), UpstreamError("y")]})
    assert (await router.call(solo, attempt)).result == "ok"
    assert len(calls) == 4
    assert clock.slept[0] == 2
    assert 0 <= clock.slept[1] <= 0.5 and 0 <= clock.slept[2] <= 1.0


async def test_no_wait_past_the_deadline():
    clock = Clock()
    router = Router(clock=clock, sleep=clock.sleep)
    solo = fake_model("solo", retries=5, timeout_total=3, retry_after_max=5)
    attempt, calls = script({"solo": [RateLimited("slow", headers={"Retry-After": "4"})]})
    with pytest.raises(RateLimited):
        await router.call(solo, attempt)
    assert calls == ["solo"] and clock.slept == []


async def test_request_errors_are_final():
    router = Router(clock=Clock())
    model = pooled(fake_model("a"), fake_model("b"))
    attempt, calls = script({"a": [InvalidRequest("bad")], "b": []})
    with pytest.raises(InvalidRequest):
        await router.call(model, attempt)
    assert calls == ["a"]


async def test_when_every_member_is_out_they_are_still_tried():
    clock = Clock()
    router = Router(clock=clock, sleep=clock.sleep)
    a = fake_model("a", retries=0, breaker_failures=1)
    b = fake_model("b", retries=0, breaker_failures=1)
    model = pooled(a, b)
    attempt, calls = script({"a": [UpstreamError("x")], "b": [UpstreamError("y")]})
    with pytest.raises(UpstreamError):
        await router.call(model, attempt)
    assert (await router.call(model, attempt)).result == "ok"
    assert calls == ["a", "b", "a"]


def test_weighted_order_follows_weights():
    router = Router(rng=random.Random(3))
    heavy, light = fake_model("heavy"), fake_model("light")
    front = fake_model("front")
    front.members = [Member(heavy, 9, 0), Member(light, 1, 0)]
    firsts = [router.order(front)[0].model.doc.id for _ in range(1000)]
    assert 850 < firsts.count("heavy") < 950


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds(RateLimited("x", headers={"Retry-After": "3"})) == 3
    assert retry_after_seconds(RateLimited("x", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_seconds(RateLimited("x")) is None
