"""The store's counter documents: atomic, so limits hold with many gateway instances.
Written against the `CounterStore` contract; both backends run every test, two store objects
on one database standing for two gateway instances."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from shared import limit_counters as lc
from shared.config import Settings
from shared.store.base import Clause
from shared.store.cosmos import CosmosStore
from shared.store.sqlite import SqliteStore

from .conftest import cosmos_env


def sqlite_pair(request, tmp_path):
    """Two stores on one file: two gateway instances sharing state."""
    path = tmp_path / "shared.sqlite3"
    return SqliteStore(path), SqliteStore(path)


def cosmos_pair(request, tmp_path):
    """Two clients on one database of the local Cosmos test server: two instances."""
    env = cosmos_env(request.getfixturevalue("cosmos_server"), f"counters-{uuid.uuid4().hex[:10]}")
    return CosmosStore(Settings.from_env(env)), CosmosStore(Settings.from_env(env))


@pytest.fixture(params=[sqlite_pair, cosmos_pair], ids=["sqlite", "cosmos"])
async def stores(request, tmp_path):
    pair = request.param(request, tmp_path)
    for s in pair:
        await s.open()
    yield pair
    for s in pair:
        await s.close()


async def test_a_patch_adds_only_when_every_clause_holds(stores):
    a, b = stores
    assert await a.patch_counters("c:x", {"req": 1}, []) is None       # no document yet
    assert await a.write_counters("c:x", {"w": 7, "req": 0}, etag=None, ttl=60)
    assert not await b.write_counters("c:x", {"w": 7, "req": 5}, etag=None, ttl=60)
    got = await b.patch_counters("c:x", {"req": 1, "tok": 2.5}, [Clause(("w",), "=", 7)])
    assert got == {"w": 7, "req": 1, "tok": 2.5}                       # a new field starts at 0
    assert await a.patch_counters("c:x", {"req": 1}, [Clause(("w",), "=", 8)]) is None
    assert await a.patch_counters("c:x", {"req": 1},
                                  [Clause(("req", "tok"), "<", 3.5)]) is None
    assert (await a.patch_counters("c:x", {"req": 1},
                                   [Clause(("req", "tok"), "<=", 3.5)]))["req"] == 2
    assert (await b.read_counters("c:x")).value == {"w": 7, "req": 2, "tok": 2.5}


async def test_a_replace_needs_the_etag_it_read(stores):
    a, b = stores
    await a.write_counters("c:y", {"n": 1}, etag=None, ttl=60)
    seen = await a.read_counters("c:y")
    await b.patch_counters("c:y", {"n": 1}, [])
    assert not await a.write_counters("c:y", {"n": 10}, etag=seen.etag, ttl=60)
    fresh = await a.read_counters("c:y")
    assert fresh.value == {"n": 2}
    assert await a.write_counters("c:y", {"n": 10}, etag=fresh.etag, ttl=60)
    assert (await b.read_counters("c:y")).value == {"n": 10}


async def test_50_concurrent_admissions_from_two_instances_never_pass_the_limit(stores):
    claim = lc.Claim(rpm=20, tpm=None, concurrency=None, budget=None, tokens=0)
    at = lc.Windows(w=1000, cb=200, bp=0)
    outcomes = await asyncio.gather(*[lc.admit(stores[i % 2], "p:burst", claim, at)
                                      for i in range(50)])
    assert sum(o.admitted for o in outcomes) == 20
    assert {o.refused_by for o in outcomes if not o.admitted} == {"requests"}
    assert (await stores[0].read_counters("p:burst")).value["req"] == 20


async def test_concurrency_slots_are_exact_and_given_back(stores):
    claim = lc.Claim(rpm=None, tpm=None, concurrency=4, budget=None, tokens=0)
    at = lc.Windows(w=1000, cb=200, bp=0)
    outcomes = await asyncio.gather(*[lc.admit(stores[i % 2], "p:conc", claim, at)
                                      for i in range(30)])
    assert sum(o.admitted for o in outcomes) == 4
    await asyncio.gather(*[lc.release(stores[i % 2], "p:conc", at, slot=True, tokens=0, spend=0)
                           for i in range(4)])
    assert (await lc.admit(stores[0], "p:conc", claim, at)).admitted


async def test_windows_roll_over_and_slots_of_the_bucket_before_still_count(stores):
    a, b = stores
    claim = lc.Claim(rpm=2, tpm=100, concurrency=2, budget=1.0, tokens=40)
    first = lc.Windows(w=1000, cb=200, bp=86400)
    assert (await lc.admit(a, "p:roll", claim, first)).admitted
    await lc.release(a, "p:roll", first, slot=False, tokens=-30, spend=0.75)   # used 10
    assert (await lc.admit(b, "p:roll", claim, first)).admitted
    over = await lc.admit(a, "p:roll", claim, first)
    assert not over.admitted and over.refused_by == "requests"
    # A minute later, in the next concurrency bucket: requests and tokens start again; the two
    # requests still in flight count against concurrency (in `cp`) until they end.
    later = lc.Windows(w=1005, cb=201, bp=86400)
    full = await lc.admit(b, "p:roll", claim, later)
    assert not full.admitted and full.refused_by == "concurrency"
    assert full.counts["req"] == 0 and full.counts["cp"] == 2
    await lc.release(a, "p:roll", first, slot=True, tokens=0, spend=0.2)      # ends in `cp`
    got = await lc.admit(b, "p:roll", claim, later)
    assert got.admitted and got.counts["cp"] == 1 and got.counts["cc"] == 1
    await lc.release(b, "p:roll", later, slot=True, tokens=0, spend=0.1)
    # The period's spend is 0.75 + 0.2 + 0.1: past the budget, so the next one is refused.
    spent = await lc.admit(a, "p:roll", claim, later)
    assert not spent.admitted and spent.refused_by == "budget"
    # Two buckets on, whatever a crashed instance never gave back is forgotten.
    again = lc.Windows(w=1020, cb=203, bp=2 * 86400)
    assert (await lc.admit(b, "p:roll", claim, again)).admitted


async def test_an_instance_whose_clock_is_behind_counts_in_the_newest_window(stores):
    claim = lc.Claim(rpm=1, tpm=None, concurrency=None, budget=None, tokens=0)
    assert (await lc.admit(stores[0], "p:skew", claim, lc.Windows(1001, 200, 0))).admitted
    behind = await lc.admit(stores[1], "p:skew", claim, lc.Windows(1000, 200, 0))
    assert not behind.admitted and behind.windows.w == 1001


async def test_limits_documents_round_trip(stores):
    assert await stores[0].get_limits("p") is None
    await stores[0].put_limits("p", {"requests_per_minute": 3})
    assert await stores[1].get_limits("p") == {"requests_per_minute": 3}
    assert await stores[1].delete_limits("p") and not await stores[0].delete_limits("p")


async def test_the_spend_counted_before_the_upgrade_still_counts(stores):
    """The release before kept one single-value counter per key; a budget period under way at
    the upgrade carries its spend into the scope's new document."""
    import time
    from shared.limits import _legacy_spend, _period
    a, _ = stores
    start, _ = _period("day", time.time())
    legacy = _legacy_spend("p:old", "day", start)
    assert legacy.startswith("p:old|spend|") and legacy.count("-") == 2
    if isinstance(a, SqliteStore):
        await a._run(lambda c: c.execute("INSERT INTO counters VALUES (?, ?, ?)",
                                         (legacy, 0.9, time.time() + 3600)))
    else:
        await a.container("counters").create_item(
            {"id": legacy, "value": 0.9, "expires_at": time.time() + 3600, "ttl": 3600})
    claim = lc.Claim(rpm=None, tpm=None, concurrency=None, budget=1.0, tokens=0)
    at = lc.Windows.at(time.time(), start)
    got = await lc.admit(a, "p:old", claim, at, legacy)
    assert got.admitted and got.counts["spend"] == 0.9
    await lc.release(a, "p:old", at, slot=False, tokens=0, spend=0.2)
    refused = await lc.admit(a, "p:old", claim, at, legacy)
    assert not refused.admitted and refused.refused_by == "budget"


# -- single-value counters (batch progress uses them) -------------------------------------
async def test_50_concurrent_adds_from_two_instances_never_pass_the_limit(stores):
    later = time.time() + 60
    results = await asyncio.gather(*[
        stores[i % 2].add_to_counter("c:rpm", 1, limit=20, expires_at=later) for i in range(50)])
    assert sum(r.applied for r in results) == 20
    assert await stores[0].get_counter("c:rpm") == 20
    assert {r.value for r in results if not r.applied} == {20}


async def test_decrements_apply_and_stop_at_zero(stores):
    later = time.time() + 60
    await stores[0].add_to_counter("c:conc", 2, limit=None, expires_at=later)
    got = await stores[1].add_to_counter("c:conc", -5, limit=1, expires_at=later)
    assert got.applied and got.value == 0


async def test_an_expired_counter_starts_again_from_zero(stores):
    await stores[0].add_to_counter("c:old", 5, limit=None, expires_at=time.time() - 1)
    assert await stores[1].get_counter("c:old") == 0
    got = await stores[1].add_to_counter("c:old", 1, limit=1, expires_at=time.time() + 60)
    assert got.applied and got.value == 1

