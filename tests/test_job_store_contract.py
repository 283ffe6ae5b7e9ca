"""The job store contract: every backend (SQLite, Cosmos DB on the local Cosmos test server)
behaves the same."""
from __future__ import annotations

from datetime import timedelta

import pytest

import uuid

from shared.config import Settings
from shared.jobs import model
from shared.store import StoreConflict
from shared.store.cosmos import CosmosStore
from shared.store.sqlite import SqliteStore

from .conftest import STORES, cosmos_env

BODY = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


@pytest.fixture(params=STORES)
async def store(request, tmp_path):
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "contract.sqlite3")
    else:
        env = cosmos_env(request.getfixturevalue("cosmos_server"), f"jobs-{uuid.uuid4().hex[:12]}")
        backend = CosmosStore(Settings.from_env(env))
    await backend.open()
    yield backend
    await backend.close()


def job(project="p1", key=None, created=None, ttl_hours=1, **extra):
    doc = model.new_job(project=project, body=BODY, priority=5, ttl_hours=ttl_hours,
                        idempotency_key=key, created=created)
    doc.update(extra)
    return doc


async def test_create_is_create_if_absent(store):
    first, created = await store.create_job(job(key="k1"))
    again, created_again = await store.create_job(job(key="k1", priority=9))
    assert created and not created_again
    assert again.doc["id"] == first.doc["id"] and again.doc["priority"] == 5


async def test_jobs_are_scoped_to_their_project(store):
    stored, _ = await store.create_job(job())
    assert (await store.get_job("p1", stored.doc["id"])).doc == stored.doc
    assert await store.get_job("p2", stored.doc["id"]) is None
    assert await store.list_jobs("p2", None, 10, None) == []


async def test_conditional_replace(store):
    stored, _ = await store.create_job(job())
    stored.doc["status"] = model.PROCESSING
    etag = await store.replace_job(stored.doc, stored.etag)
    assert etag != stored.etag
    with pytest.raises(StoreConflict):
        await store.replace_job(stored.doc, stored.etag)          # stale version
    assert (await store.get_job("p1", stored.doc["id"])).etag == etag


async def test_list_newest_first_with_cursor_and_status(store):
    base = model.now()
    ids = []
    for i in range(5):
        stored, _ = await store.create_job(job(created=base + timedelta(seconds=i)))
        ids.append(stored.doc["id"])
    newest = ids[::-1]
    page = await store.list_jobs("p1", None, 2, None)
    assert [d["id"] for d in page] == newest[:2]
    after = (page[-1]["created_at"], page[-1]["id"])
    assert [d["id"] for d in await store.list_jobs("p1", None, 10, after)] == newest[2:]
    one = await store.get_job("p1", ids[0])
    one.doc["status"] = model.COMPLETED
    await store.replace_job(one.doc, one.etag)
    assert [d["id"] for d in await store.list_jobs("p1", model.COMPLETED, 10, None)] == [ids[0]]


async def test_counts_and_sums_per_status(store):
    for seconds in (1.5, 2.5):
        stored, _ = await store.create_job(job(status=model.COMPLETED, processing_seconds=seconds))
    await store.create_job(job())
    assert await store.count_jobs("p1", model.COMPLETED) == 2
    assert await store.count_jobs("p1", model.QUEUED) == 1
    assert await store.sum_job_field("p1", model.COMPLETED, "processing_seconds") == 4.0
    assert await store.sum_job_field("p1", model.FAILED, "processing_seconds") == 0.0


async def test_expired_jobs_are_gone(store):
    old = job(key="old", created=model.now() - timedelta(hours=2), ttl_hours=1)
    stored, _ = await store.create_job(old)
    assert await store.get_job("p1", stored.doc["id"]) is None
    assert await store.list_jobs("p1", None, 10, None) == []
    assert await store.count_jobs("p1", model.QUEUED) == 0
    fresh, created = await store.create_job(job(key="old"))      # the id is free again
    assert created and fresh.doc["id"] == stored.doc["id"]
    await store.create_job(job(key="older", created=model.now() - timedelta(hours=3)))
    # SQLite deletes expired rows when asked; Cosmos DB deletes them itself (item `ttl`).
    assert await store.purge_expired_jobs() == (1 if isinstance(store, SqliteStore) else 0)
    assert await store.list_jobs("p1", None, 10, None) == [fresh.doc]


async def test_results_and_webhook_secrets(store):
    stored, _ = await store.create_job(job())
    doc = stored.doc
    model.finish(doc, model.COMPLETED, model.now())
    result = model.result_document(doc)
    await store.put_job_results([result])
    await store.put_job_results([result])                           # an idempotent upsert
    assert (await store.get_job_result("p1", doc["id"]))["custom_id"] == doc["custom_id"]
    assert await store.get_job_result("p2", doc["id"]) is None
    assert await store.get_webhook_secret("p1") is None
    await store.set_webhook_secret("p1", "whsec_a")
    await store.set_webhook_secret("p1", "whsec_b")
    assert await store.get_webhook_secret("p1") == "whsec_b"


async def test_stale_jobs_are_found_across_projects(store):
    now = model.now()
    old = now - timedelta(minutes=30)
    stale_queued, _ = await store.create_job(job(project="a", created=old))
    await store.create_job(job(project="b"))                          # fresh: not stale
    held, _ = await store.create_job(job(project="c", created=old))
    held.doc.update(status=model.PROCESSING, lease_until=model.iso(now + timedelta(minutes=5)))
    await store.replace_job(held.doc, held.etag)                      # a live lease: not stale
    dead, _ = await store.create_job(job(project="d", created=old))
    dead.doc.update(status=model.PROCESSING, lease_until=model.iso(now - timedelta(minutes=1)))
    await store.replace_job(dead.doc, dead.etag)
    done, _ = await store.create_job(job(project="e", created=old, status=model.COMPLETED))
    found = await store.list_stale_jobs(model.iso(now - timedelta(minutes=15)),
                                        model.iso(now), 10)
    assert sorted(j.doc["id"] for j in found) == sorted([stale_queued.doc["id"], dead.doc["id"]])
    first = next(j for j in found if j.doc["project"] == "a")
    first.doc["sent_at"] = model.iso(now)
    await store.replace_job(first.doc, first.etag)                    # the etag came along
    again = await store.list_stale_jobs(model.iso(now - timedelta(minutes=15)),
                                        model.iso(now), 10)
    assert [j.doc["id"] for j in again] == [dead.doc["id"]]
