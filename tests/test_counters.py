"""The store's counter operation: atomic, so limits hold with many gateway instances.
Written against the `CounterStore` contract; another backend adds itself to `STORES`."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from shared.config import Settings
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


async def test_limits_documents_round_trip(stores):
    assert await stores[0].get_limits("p") is None
    await stores[0].put_limits("p", {"requests_per_minute": 3})
    assert await stores[1].get_limits("p") == {"requests_per_minute": 3}
    assert await stores[1].delete_limits("p") and not await stores[0].delete_limits("p")
