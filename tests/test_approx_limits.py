"""Approximate limits (a project's `"enforcement": "approximate"`, shared/approx_limits.py):
admitted against a local view with no store round trip, counts pushed once a second. Checked
on both backends, two `Limiter`s on one database standing for two gateway instances, with the
store calls counted (shared/store/counting.py)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.config import Settings
from shared.errors import PermissionDenied, RateLimited
from shared.keys import Caller
from shared.limits import Limiter
from shared.store.cosmos import CosmosStore
from shared.store.counting import counting
from shared.store.sqlite import SqliteStore

from .conftest import cosmos_env

CALLER = Caller(project="ap", key_id="key_1")


@pytest.fixture(params=["sqlite", "cosmos"])
async def stores(request, tmp_path):
    if request.param == "sqlite":
        pair = [counting(SqliteStore(tmp_path / "shared.sqlite3")) for _ in range(2)]
    else:
        env = cosmos_env(request.getfixturevalue("cosmos_server"),
                         f"approx-{uuid.uuid4().hex[:10]}")
        pair = [counting(CosmosStore(Settings.from_env(env))) for _ in range(2)]
    for s in pair:
        await s.open()
    yield pair
    for s in pair:
        await s.close()


async def instances(stores, **limits) -> tuple[Limiter, Limiter]:
    await stores[0].put_limits("ap", {**limits, "enforcement": "approximate"})
    return Limiter(stores[0], 60), Limiter(stores[1], 60)


async def admitted(limiter: Limiter, n: int, tokens: int = 0) -> list:
    async def one():
        try:
            return await limiter.admit(CALLER, tokens)
        except (RateLimited, PermissionDenied):
            return None
    return [t for t in await asyncio.gather(*[one() for _ in range(n)]) if t is not None]


def counter_calls(store, mark: int) -> list[str]:
    return [r["op"] for r in store.recorder.since(mark, "store") if "counters" in r["op"]]


async def test_one_instance_is_exact_and_admits_without_store_round_trips(stores):
    a, _ = await instances(stores, requests_per_minute=20)
    await admitted(a, 1)                           # the first admission reads the totals once
    mark = stores[0].recorder.mark()
    got = await admitted(a, 49)
    assert len(got) == 19
    assert counter_calls(stores[0], mark) == []    # the rest: no store I/O on the request path
    await a.drain()                                # shutdown pushes what is pending
    assert (await stores[1].read_counters("p:ap")).value["req"] == 20


async def test_instances_that_have_synced_share_the_limit(stores):
    a, b = await instances(stores, requests_per_minute=20)
    assert len(await admitted(a, 15)) == 15
    await a.drain()
    assert len(await admitted(b, 20)) == 5         # b's first admission read a's 15
    await b.drain()
    assert (await stores[0].read_counters("p:ap")).value["req"] == 20


async def test_between_syncs_a_limit_is_passed_by_at_most_the_other_instances_admissions(stores):
    a, b = await instances(stores, requests_per_minute=20)
    await admitted(a, 1)
    await admitted(b, 1)                           # both have read the totals (1 and 2)
    from_a, from_b = await admitted(a, 30), await admitted(b, 30)
    # Neither sees the other's admissions until the next push: each fills the limit alone.
    # The documented bound: the limit plus what the other instance admitted in the interval.
    total = 2 + len(from_a) + len(from_b)
    assert total <= 20 + len(from_b) + 1 and total > 20
    await a.drain()
    await b.drain()
    assert (await stores[0].read_counters("p:ap")).value["req"] == total
    assert await admitted(a, 1) == [] and await admitted(b, 1) == []    # once synced: refused


async def test_concurrency_slots_come_back_and_are_pushed(stores):
    a, b = await instances(stores, concurrent_requests=4)
    tickets = await admitted(a, 10)
    assert len(tickets) == 4
    for t in tickets:
        await t.finish(0, 0.0)
    assert len(await admitted(a, 10)) == 4
    await a.drain()
    doc = (await stores[1].read_counters("p:ap")).value
    assert doc["cc"] + doc["cp"] == 4


async def test_a_budget_spent_on_one_instance_refuses_on_the_other_once_pushed(stores):
    a, b = await instances(stores, budget=1.0)
    [ticket] = await admitted(a, 1)
    await ticket.finish(10, 1.5)
    await a.drain()
    with pytest.raises(PermissionDenied, match="budget"):
        await b.admit(CALLER, 0)


class Gate:
    """The store, with its counter patches held until `open` is set (a push on its way)."""

    def __init__(self, inner):
        self._inner, self.open, self.held = inner, asyncio.Event(), asyncio.Event()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def patch_counters(self, *args, **kwargs):
        self.held.set()
        await self.open.wait()
        return await self._inner.patch_counters(*args, **kwargs)


async def test_shutdown_lets_a_push_on_its_way_finish_and_counts_everything_once(stores):
    a, _ = await instances(stores, requests_per_minute=100)
    assert len(await admitted(a, 3)) == 3
    gate = Gate(stores[0])
    a._approx._store = gate
    a._approx._scopes["p:ap"].wake.set()           # the scheduled push goes now, and is held
    await asyncio.wait_for(gate.held.wait(), 5)
    assert len(await admitted(a, 2)) == 2          # admitted while the push is on its way
    draining = asyncio.ensure_future(a.drain())
    await asyncio.sleep(0.05)
    gate.open.set()
    await asyncio.wait_for(draining, 10)
    assert (await stores[1].read_counters("p:ap")).value["req"] == 5
