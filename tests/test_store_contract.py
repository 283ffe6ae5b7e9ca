"""The store contract: every backend (SQLite, Cosmos DB on the local Cosmos test server) must
pass these same tests, so the gateway behaves the same whichever store it runs on."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.catalog import ModelDocument
from shared.config import Settings
from shared.store import (KeyRecord, RealtimeSession, StaleWrite, StoreConflict,
                          StoreUnavailable, UsageRecord)
from shared.store.concurrency import read_modify_write
from shared.store.cosmos import CosmosStore
from shared.store.sqlite import SqliteStore

from .conftest import STORES, cosmos_env, free_port


class Clock:
    """The stores' notion of "now" for expiry, moved by the tests instead of sleeping."""
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_store(request, store_kind, tmp_path, clock):
    """Build an open store of the backend under test, each on fresh, empty storage."""
    opened = []

    async def make(usage_ttl_seconds: float | None = None, *, unreachable: bool = False):
        if store_kind == "sqlite":
            path = tmp_path if unreachable else tmp_path / f"{uuid.uuid4().hex}.sqlite3"
            store = SqliteStore(path, usage_ttl_seconds=usage_ttl_seconds, clock=clock)
        else:
            endpoint = (f"https://127.0.0.1:{free_port()}" if unreachable
                        else request.getfixturevalue("cosmos_server"))
            env = cosmos_env(endpoint, f"contract-{uuid.uuid4().hex[:12]}")
            if unreachable:
                env["COSMOS_CREATE_IF_MISSING"] = "false"
            store = CosmosStore(Settings.from_env(env), usage_ttl_seconds=usage_ttl_seconds,
                                clock=clock)
        if not unreachable:
            await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store):
    return await make_store()


def model(model_id: str, **changes) -> ModelDocument:
    data = {"id": model_id, "code": f"{model_id}-code", "provider": "Azure",
            "model_type": "AzureOpenAI", "operations": ["ChatCompletion"],
            "parameters": {"api_base": "$AZURE_OPENAI_ENDPOINT"},
            "costs": {"cost_input_1Mtokens": 1.5, "cost_output_1Mtokens": 2}}
    return ModelDocument.model_validate({**data, **changes})


def key(project: str, n: int, created_at: str = "2026-01-01T00:00:00+00:00") -> KeyRecord:
    digest = uuid.uuid4().hex + f"{n:032x}"
    return KeyRecord(hash=digest, key_id="key_" + digest[:16], project=project,
                     name=f"key {n}", created_at=created_at)


def usage(project: str, created_at: str, **changes) -> UsageRecord:
    row = dict(id=uuid.uuid4().hex, project=project, model="gpt-4o-mini",
               operation="ChatCompletion", prompt_tokens=10, completion_tokens=5, cost=0.0001,
               latency_ms=12.5, status=200, created_at=created_at, key_id="key_1", stream=False)
    return UsageRecord(**{**row, **changes})


# -- models --------------------------------------------------------------------------------
async def test_models_round_trip_and_list_in_id_order(store):
    assert await store.list_models() == []
    assert await store.get_model("m1") is None
    await store.upsert_model(model("m2"))
    await store.upsert_model(model("m1", private=True, projects=["alpha"]))
    assert [m.id for m in await store.list_models()] == ["m1", "m2"]
    got = await store.get_model("m1")
    assert got == model("m1", private=True, projects=["alpha"])


async def test_upserting_a_model_again_replaces_it(store):
    await store.upsert_model(model("m1"))
    await store.upsert_model(model("m1", name="Renamed", costs={"cost_input_1Mtokens": 9}))
    assert [m.name for m in await store.list_models()] == ["Renamed"]
    assert (await store.get_model("m1")).costs.cost_input_1Mtokens == 9


async def test_model_and_limits_writes_can_be_conditional_on_the_version_read(store):
    from shared.store import ABSENT
    assert await store.get_model_versioned("m1") is None
    first = await store.upsert_model(model("m1"), if_match=ABSENT)
    with pytest.raises(StoreConflict):
        await store.upsert_model(model("m1", name="again"), if_match=ABSENT)
    read = await store.get_model_versioned("m1")
    assert read.etag == first and read.value == model("m1")
    second = await store.upsert_model(model("m1", name="B"), if_match=first)
    assert second != first
    with pytest.raises(StoreConflict):
        await store.upsert_model(model("m1", name="C"), if_match=first)
    assert (await store.get_model("m1")).name == "B"
    assert await store.upsert_model(model("m1", name="D")) != second     # unconditional
    with pytest.raises(StoreConflict):
        await store.put_limits("p", {"requests_per_minute": 1}, if_match="0" * 20)
    made = await store.put_limits("p", {"requests_per_minute": 1}, if_match=ABSENT)
    assert (await store.get_limits_versioned("p")).etag == made
    await store.put_limits("p", {"requests_per_minute": 2}, if_match=made)
    with pytest.raises(StoreConflict):
        await store.put_limits("p", {"requests_per_minute": 3}, if_match=made)
    assert await store.get_limits("p") == {"requests_per_minute": 2}


async def test_deleting_a_model_says_whether_it_existed(store):
    await store.upsert_model(model("m1"))
    assert await store.delete_model("m1") is True
    assert await store.delete_model("m1") is False
    assert await store.get_model("m1") is None
    assert await store.list_models() == []


# -- keys ----------------------------------------------------------------------------------
async def test_keys_are_found_by_hash_and_listed_per_project(store):
    first = key("alpha", 1, "2026-01-01T00:00:00+00:00")
    second = key("alpha", 2, "2026-01-02T00:00:00+00:00")
    other = key("beta", 3)
    for record in (second, other, first):
        await store.create_key(record)
    assert await store.get_key(first.hash) == first
    assert await store.get_key("0" * 64) is None
    assert await store.list_keys("alpha") == [first, second]          # oldest first
    assert await store.list_keys("beta") == [other]
    assert await store.list_keys("nobody") == []


async def test_creating_the_same_key_twice_is_a_conflict(store):
    record = key("alpha", 1)
    await store.create_key(record)
    with pytest.raises(StoreConflict):
        await store.create_key(record)


async def test_revoking_a_key_keeps_the_first_revocation(store):
    record = key("alpha", 1)
    await store.create_key(record)
    revoked = await store.revoke_key(record.key_id)
    assert revoked.revoked_at and not revoked.active
    assert (await store.get_key(record.hash)).revoked_at == revoked.revoked_at
    again = await store.revoke_key(record.key_id)
    assert again.revoked_at == revoked.revoked_at
    assert await store.revoke_key("key_unknown") is None


async def test_concurrent_revocations_agree_on_one_time(store):
    record = key("alpha", 1)
    await store.create_key(record)
    results = await asyncio.gather(*(store.revoke_key(record.key_id) for _ in range(4)))
    assert len({r.revoked_at for r in results}) == 1
    assert (await store.get_key(record.hash)).revoked_at == results[0].revoked_at


# -- optimistic concurrency ------------------------------------------------------------------
async def test_a_write_with_a_stale_etag_is_refused_not_lost(store):
    record = key("alpha", 1)
    await store.create_key(record)
    writer_a = await store.get_key_versioned(record.hash)
    writer_b = await store.get_key_versioned(record.hash)
    assert writer_a.etag == writer_b.etag

    new_etag = await store.replace_key(_renamed(writer_a.value, "by A"), writer_a.etag)
    assert new_etag != writer_a.etag
    with pytest.raises(StoreConflict):
        await store.replace_key(_renamed(writer_b.value, "by B"), writer_b.etag)
    assert (await store.get_key(record.hash)).name == "by A"      # B did not overwrite A

    fresh = await store.get_key_versioned(record.hash)            # B re-reads and retries
    assert fresh.etag == new_etag
    await store.replace_key(_renamed(fresh.value, fresh.value.name + ", by B"), fresh.etag)
    assert (await store.get_key(record.hash)).name == "by A, by B"


async def test_replacing_a_key_that_does_not_exist_is_a_conflict(store):
    record = key("alpha", 1)
    with pytest.raises(StoreConflict):
        await store.replace_key(record, "1")
    assert await store.get_key(record.hash) is None


async def test_read_modify_write_retries_until_no_update_is_lost(store):
    record = key("alpha", 1)
    record.name = ""
    await store.create_key(record)
    letters = "abcd"

    async def append(letter: str):
        return await read_modify_write(
            lambda: store.get_key_versioned(record.hash),
            lambda value, etag: store.replace_key(value, etag),
            lambda value: _renamed(value, value.name + letter))

    await asyncio.gather(*(append(letter) for letter in letters))
    assert sorted((await store.get_key(record.hash)).name) == list(letters)


async def test_read_modify_write_reports_a_conflict_when_retries_run_out(store):
    record = key("alpha", 1)
    await store.create_key(record)

    async def write_after_someone_else(value, etag):
        racer = await store.get_key_versioned(record.hash)        # another writer wins first
        await store.replace_key(_renamed(racer.value, racer.value.name + "!"), racer.etag)
        return await store.replace_key(value, etag)

    with pytest.raises(StoreConflict):
        await read_modify_write(lambda: store.get_key_versioned(record.hash),
                                write_after_someone_else, lambda v: _renamed(v, "mine"),
                                attempts=3)
    assert (await store.get_key(record.hash)).name == "key 1!!!"   # every winner's write kept


def _renamed(record: KeyRecord, name: str) -> KeyRecord:
    return KeyRecord(**{**record.__dict__, "name": name})


# -- usage ---------------------------------------------------------------------------------
async def test_usage_is_queried_per_project_newest_first(store):
    rows = [usage("alpha", f"2026-03-0{d}T10:00:00+00:00", prompt_tokens=d) for d in (1, 2, 3)]
    await store.record_usage(rows + [usage("beta", "2026-03-02T00:00:00+00:00")])
    await store.record_usage([])
    got = await store.query_usage("alpha")
    assert got == list(reversed(rows))
    assert [r.project for r in await store.query_usage("beta")] == ["beta"]
    assert await store.query_usage("nobody") == []


async def test_usage_time_range_is_since_inclusive_until_exclusive_and_limited(store):
    rows = [usage("alpha", f"2026-03-0{d}T00:00:00+00:00") for d in (1, 2, 3, 4)]
    await store.record_usage(rows)
    window = await store.query_usage("alpha", since="2026-03-02T00:00:00+00:00",
                                     until="2026-03-04T00:00:00+00:00")
    assert window == [rows[2], rows[1]]
    assert await store.query_usage("alpha", limit=2) == [rows[3], rows[2]]
    assert await store.query_usage("alpha", since="2026-03-03T00:00:00+00:00") == [rows[3], rows[2]]


async def test_writing_a_usage_batch_again_does_not_duplicate_rows(store):
    rows = [usage("alpha", "2026-03-01T00:00:00+00:00", stream=True),
            usage("alpha", "2026-03-02T00:00:00+00:00")]
    await store.record_usage(rows)
    await store.record_usage(rows)                 # a retried batch after a failed write
    got = await store.query_usage("alpha")
    assert got == list(reversed(rows)) and got[1].stream is True


async def test_usage_rows_keep_every_token_class(store):
    row = usage("alpha", "2026-03-01T00:00:00+00:00", prompt_tokens=900, cached_input_tokens=500,
                cache_write_input_tokens=100, reasoning_tokens=40, audio_input_tokens=30,
                audio_output_tokens=20, images=2, characters=11, audio_seconds=1.5)
    await store.record_usage([row])
    assert await store.query_usage("alpha") == [row]


# -- rollups -------------------------------------------------------------------------------
T0 = 1_772_323_200                    # 2026-03-01T00:00:00Z


async def test_rollups_sum_rows_per_hour_and_day_and_a_retried_batch_counts_once(store):
    rows = [usage("alpha", "2026-03-01T00:10:00+00:00", prompt_tokens=10, cost=0.5),
            usage("alpha", "2026-03-01T00:50:00+00:00", prompt_tokens=20, cost=0.25,
                  cached_input_tokens=5, status=500),
            usage("alpha", "2026-03-01T05:00:00+00:00", prompt_tokens=1, latency_ms=3000.0),
            usage("beta", "2026-03-02T00:00:00+00:00", prompt_tokens=7)]
    await store.record_usage(rows[:2])
    await store.record_usage(rows[:2])                # the same batch again (a retry)
    await store.record_usage(rows[2:])
    hours = sorted(await store.query_rollups("1h", T0, T0 + 86400), key=lambda d: d["start"])
    assert [(d["start"] - T0, d["requests"], d["errors"], d["prompt_tokens"]) for d in hours] == [
        (0, 2, 1, 30), (5 * 3600, 1, 0, 1)]
    assert hours[0]["cost"] == pytest.approx(0.75) and hours[0]["cached_input_tokens"] == 5
    days = await store.query_rollups("1d", T0, T0 + 2 * 86400)
    assert sorted((d["project"], d["requests"], d["prompt_tokens"]) for d in days) == [
        ("alpha", 3, 31), ("beta", 1, 7)]
    (alpha_day,) = await store.query_rollups("1d", T0, T0 + 2 * 86400, ["alpha"])
    assert sum(alpha_day["latency_hist"]) == 3 and alpha_day["latency_ms_sum"] == pytest.approx(
        sum(r.latency_ms for r in rows[:3]))
    assert await store.query_rollups("1d", T0 + 2 * 86400, T0 + 3 * 86400) == []


async def test_rows_are_scanned_across_projects_oldest_first(store):
    rows = [usage(p, f"2026-03-01T00:0{i}:00+00:00") for i, p in enumerate(["b", "a", "b"])]
    await store.record_usage(rows)
    assert await store.scan_usage("2026-03-01T00:00:00+00:00", "2026-03-01T00:02:00+00:00") == \
        rows[:2]
    assert await store.scan_usage("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00",
                                  ["b"]) == [rows[0], rows[2]]


# -- expiry --------------------------------------------------------------------------------
async def test_usage_rows_expire_after_the_retention(make_store, clock):
    store = await make_store(usage_ttl_seconds=60)
    old = usage("alpha", "2026-03-01T00:00:00+00:00")
    await store.record_usage([old])
    clock.now += 30
    young = usage("alpha", "2026-03-01T00:00:30+00:00")
    await store.record_usage([young])
    assert await store.query_usage("alpha") == [young, old]
    clock.now += 31                                # `old` is 61 s old, `young` 31 s
    assert await store.query_usage("alpha") == [young]
    clock.now += 30
    assert await store.query_usage("alpha") == []


async def test_without_a_retention_usage_rows_are_kept(store, clock):
    row = usage("alpha", "2026-03-01T00:00:00+00:00")
    await store.record_usage([row])
    clock.now += 10 * 365 * 86400
    assert await store.query_usage("alpha") == [row]


# -- failures ------------------------------------------------------------------------------
async def test_an_unreachable_store_raises_instead_of_answering_empty(make_store):
    store = await make_store(unreachable=True)
    try:
        await store.open()
    except StoreUnavailable:
        pass
    calls = [store.ping(), store.list_models(), store.get_model("m1"), store.get_key("h"),
             store.list_keys("alpha"), store.revoke_key("key_1"), store.query_usage("alpha"),
             store.record_usage([usage("alpha", "2026-03-01T00:00:00+00:00")]),
             store.upsert_model(model("m1")), store.delete_model("m1"),
             store.create_key(key("alpha", 1))]
    results = await asyncio.gather(*calls, return_exceptions=True)   # concurrently: each waits
    assert [type(r).__name__ for r in results] == ["StoreUnavailable"] * len(calls)  # out retries


# -- realtime sessions ------------------------------------------------------------------------
def session(session_id: str, project: str = "p", **changes) -> RealtimeSession:
    data = dict(id=session_id, project=project, key_id="key_1",
                models={"chat": "m", "transcription": "t", "speech": "s"},
                config={"voice": "alloy"}, expires_at="2027-01-01T00:00:00+00:00")
    return RealtimeSession(**{**data, **changes})


async def test_sessions_round_trip_and_list_active_first_per_project(store):
    await store.create_session(session("sess_a", created_at="2026-01-01T00:00:01+00:00",
                                       status="closed"))
    await store.create_session(session("sess_b", created_at="2026-01-01T00:00:02+00:00"))
    await store.create_session(session("sess_c", created_at="2026-01-01T00:00:03+00:00"))
    await store.create_session(session("sess_x", project="q"))
    got = await store.get_session("sess_b")
    assert got == session("sess_b", created_at="2026-01-01T00:00:02+00:00")
    assert await store.get_session("sess_missing") is None
    assert [s.id for s in await store.list_sessions("p")] == ["sess_c", "sess_b", "sess_a"]
    assert [s.id for s in await store.list_sessions("q")] == ["sess_x"]
    with pytest.raises(StoreConflict):
        await store.create_session(session("sess_b"))


async def test_a_session_written_from_a_stale_copy_is_refused(store):
    await store.create_session(session("sess_v"))
    first, second = await store.get_session("sess_v"), await store.get_session("sess_v")
    first.items.append({"id": "item_1"})
    stored = await store.replace_session(first)
    assert stored.version == 1 and (await store.get_session("sess_v")).items == [{"id": "item_1"}]
    second.status = "closed"
    with pytest.raises(StaleWrite):
        await store.replace_session(second)
    assert (await store.get_session("sess_v")).status == "created"


async def test_concurrent_session_writers_each_retry_and_none_is_lost(store):
    await store.create_session(session("sess_r"))

    async def add(n: int) -> None:
        for _ in range(30):
            current = await store.get_session("sess_r")
            current.items.append({"id": f"item_{n}"})
            try:
                await store.replace_session(current)
                return
            except StaleWrite:
                continue
        raise AssertionError("never won the race")
    await asyncio.gather(*(add(n) for n in range(5)))
    final = await store.get_session("sess_r")
    assert sorted(i["id"] for i in final.items) == [f"item_{n}" for n in range(5)]
    assert final.version == 5


async def test_audio_buffers_keep_order_stay_per_session_and_chunk_large_appends(store):
    big = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 7)          # > 2 MB in one append
    await store.append_audio("sess_1", b"first-")
    await store.append_audio("sess_1", big)
    await store.append_audio("sess_1", b"-last")
    await store.append_audio("sess_2", b"other")
    assert await store.read_audio("sess_1") == b"first-" + big + b"-last"
    assert await store.read_audio("sess_2") == b"other"
    await store.clear_audio("sess_1")
    assert await store.read_audio("sess_1") == b""
    assert await store.read_audio("sess_2") == b"other"


# -- stored Responses API responses ----------------------------------------------------------
def response_doc(project: str, response_id: str, expires_at: float, **changes) -> dict:
    doc = {"id": response_id, "project": project, "expires_at": expires_at,
           "response": {"id": response_id, "object": "response", "status": "completed",
                        "output": [{"type": "message", "content": [{"text": "hé ✓"}]}]},
           "input_items": [{"id": "msg_1", "type": "message", "role": "user"}],
           "conversation": [{"type": "message", "role": "user"}]}
    return {**doc, **changes}


async def test_responses_round_trip_replace_and_stay_in_their_project(store, clock):
    doc = response_doc("alpha", "resp_1", clock.now + 3600)
    await store.put_response(doc)
    assert await store.get_response("alpha", "resp_1") == doc
    assert await store.get_response("beta", "resp_1") is None      # another project: absent
    assert await store.delete_response("beta", "resp_1") is False
    changed = response_doc("alpha", "resp_1", clock.now + 7200, background={"job": "job_1"})
    await store.put_response(changed)
    assert await store.get_response("alpha", "resp_1") == changed
    assert await store.get_response("alpha", "resp_2") is None


async def test_deleting_a_response_says_whether_it_existed(store, clock):
    await store.put_response(response_doc("alpha", "resp_1", clock.now + 3600))
    assert await store.delete_response("alpha", "resp_1") is True
    assert await store.delete_response("alpha", "resp_1") is False
    assert await store.get_response("alpha", "resp_1") is None


async def test_an_expired_response_is_never_returned_or_deleted(store, clock):
    await store.put_response(response_doc("alpha", "resp_old", clock.now + 60))
    await store.put_response(response_doc("alpha", "resp_new", clock.now + 3600))
    clock.now += 61
    assert await store.get_response("alpha", "resp_old") is None
    assert await store.delete_response("alpha", "resp_old") is False
    assert (await store.get_response("alpha", "resp_new"))["id"] == "resp_new"
