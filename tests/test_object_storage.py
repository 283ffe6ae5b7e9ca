"""The object storage contract, run against every backend: the embedded folder and Azure Blob
Storage (Azurite, a real Blob server, started by the suite)."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

from shared.files import expiry, files
from shared.files.blob_storage import BLOCK, BlobStorage
from shared.files.local_storage import LocalStorage
from shared.files.storage import (BATCH_INPUT, BATCH_OUTPUT, BATCH_STATE, USER_DATA,
                                  ObjectTooLarge, one_chunk, read_json, write_json)
from shared.store import StoreConflict


@pytest.fixture(params=["local", "blob"])
def storage(request, tmp_path):
    if request.param == "local":
        backend = LocalStorage(tmp_path / "files")
    else:
        backend = BlobStorage(connection_string=request.getfixturevalue("azurite"),
                              create_containers=True)
    yield backend
    asyncio.run(backend.close())


def run(coro):
    return asyncio.run(coro)


async def _chunks(parts):
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def _read(storage, container, name, offset=0):
    stream = await storage.read(container, name, offset)
    return None if stream is None else b"".join([c async for c in stream])


def test_a_streamed_write_reads_back_whole_and_from_an_offset(storage):
    # Bigger than one Blob block, so the block staging and the commit are both exercised.
    parts = [os.urandom(1024 * 1024) for _ in range(BLOCK // (1024 * 1024) + 2)]
    data = b"".join(parts)

    async def go():
        info = await storage.write(BATCH_INPUT, "p1/file-a", _chunks(parts),
                                   metadata={"filename": "données.jsonl", "purpose": "batch"})
        assert info.size == len(data)
        assert await _read(storage, BATCH_INPUT, "p1/file-a") == data
        assert await _read(storage, BATCH_INPUT, "p1/file-a", 12345) == data[12345:]
        found = await storage.info(BATCH_INPUT, "p1/file-a")
        assert (found.size, found.etag) == (len(data), info.etag)
        assert found.metadata == {"filename": "données.jsonl", "purpose": "batch"}
        await storage.close()
    run(go())


def test_missing_objects_are_none_and_deletes_say_whether_they_found_one(storage):
    async def go():
        assert await storage.read(USER_DATA, "p1/nothing") is None
        assert await storage.info(USER_DATA, "p1/nothing") is None
        assert await storage.delete(USER_DATA, "p1/nothing") is False
        await storage.write(USER_DATA, "p1/x", one_chunk(b"x"))
        assert await storage.delete(USER_DATA, "p1/x") is True
        assert await storage.info(USER_DATA, "p1/x") is None
        await storage.close()
    run(go())


def test_listing_is_by_prefix_with_metadata(storage):
    async def go():
        for name in ("lp-a/2", "lp-a/1", "lp-b/1"):
            await storage.write(USER_DATA, name, one_chunk(name.encode()),
                                metadata={"n": name})
        found = await storage.list(USER_DATA, "lp-a/")
        assert [(i.name, i.size, i.metadata["n"]) for i in found] == \
            [("lp-a/1", 6, "lp-a/1"), ("lp-a/2", 6, "lp-a/2")]
        await storage.close()
    run(go())


def test_a_write_past_the_limit_stores_nothing(storage):
    async def go():
        with pytest.raises(ObjectTooLarge):
            await storage.write(USER_DATA, "p1/big", _chunks([b"a" * 600, b"b" * 600]),
                                limit=1000)
        assert await storage.info(USER_DATA, "p1/big") is None
        await storage.write(USER_DATA, "p1/big", _chunks([b"a" * 1000]), limit=1000)
        assert (await storage.info(USER_DATA, "p1/big")).size == 1000
        await storage.close()
    run(go())


def test_a_failed_stream_leaves_the_previous_object(storage):
    async def broken():
        yield b"new"
        raise RuntimeError("client went away")

    async def go():
        await storage.write(USER_DATA, "p1/keep", one_chunk(b"old"))
        with pytest.raises(RuntimeError):
            await storage.write(USER_DATA, "p1/keep", broken())
        assert await _read(storage, USER_DATA, "p1/keep") == b"old"
        await storage.close()
    run(go())


def test_conditional_writes_let_exactly_one_writer_win(storage):
    async def go():
        etag = await write_json(storage, BATCH_STATE, "p1/batch_1", {"v": 1}, if_absent=True)
        with pytest.raises(StoreConflict):
            await write_json(storage, BATCH_STATE, "p1/batch_1", {"v": 9}, if_absent=True)
        doc, read_etag = await read_json(storage, BATCH_STATE, "p1/batch_1")
        assert (doc, read_etag) == ({"v": 1}, etag)
        second = await write_json(storage, BATCH_STATE, "p1/batch_1", {"v": 2}, if_match=etag)
        with pytest.raises(StoreConflict):          # written from a stale copy
            await write_json(storage, BATCH_STATE, "p1/batch_1", {"v": 3}, if_match=etag)
        assert await read_json(storage, BATCH_STATE, "p1/batch_1") == ({"v": 2}, second)
        await storage.delete(BATCH_STATE, "p1/batch_1")
        with pytest.raises(StoreConflict):          # gone
            await write_json(storage, BATCH_STATE, "p1/batch_1", {"v": 4}, if_match=second)
        await storage.close()
    run(go())


def test_a_listing_can_stop_after_the_first_few_by_name(storage):
    async def go():
        for name in ("lim/c", "lim/a", "lim/b", "lin/a"):
            await storage.write(USER_DATA, name, one_chunk(b""))
        assert [i.name for i in await storage.list(USER_DATA, "lim/", limit=2)] == \
            ["lim/a", "lim/b"]
        assert len(await storage.list(USER_DATA, "lim/", limit=10)) == 3
        await storage.close()
    run(go())


def test_metadata_is_taken_when_the_stream_ends(storage):
    """An upload's form may send `expires_after[...]` after the file: the writer completes the
    metadata from inside the stream, and the object carries it."""
    metadata = {"filename": "late.jsonl"}

    async def stream():
        yield b"data"
        metadata["expires_at"] = "1767225600"

    async def go():
        info = await storage.write(BATCH_INPUT, "late/f", stream(), metadata=metadata)
        assert info.metadata["expires_at"] == "1767225600"
        found = await storage.info(BATCH_INPUT, "late/f")
        assert found.metadata == {"filename": "late.jsonl", "expires_at": "1767225600"}
        assert (await storage.list(BATCH_INPUT, "late/"))[0].metadata["expires_at"] == \
            "1767225600"
        await storage.close()
    run(go())


def test_expiring_files_are_deleted_by_the_sweep_when_due_and_not_before(storage):
    # Azurite is shared by the whole suite: a sweep may also meet other tests' due files, so
    # only this test's own objects are asserted on.
    async def go():
        async def put(purpose, seconds):
            return await files.store(storage, "sw", one_chunk(b"x"), filename="f",
                                     purpose=purpose, limit=None, expires_after=seconds)

        async def markers(container):
            return {m.name.split("/", 2)[2] for m in
                    await storage.list(container, expiry.MARKERS)}
        soon, later = await put("user_data", 3600), await put("batch", 7200)
        output, forever = await put("batch_output", 3600), await put("user_data", None)
        created = int(soon.metadata["created_at"])
        assert int(soon.metadata["expires_at"]) - created == 3600
        assert "expires_at" not in forever.metadata
        assert soon.name in await markers(USER_DATA) and later.name in await markers(BATCH_INPUT)
        # Markers never show in a project's listing.
        assert {i.name for i in await files.list_files(storage, "sw", None)} == \
            {soon.name, later.name, output.name, forever.name}
        await expiry.sweep(storage, now=created + 3599)
        assert await storage.info(USER_DATA, soon.name) is not None
        assert await expiry.sweep(storage, now=created + 3600 + 2) >= 2
        assert await storage.info(USER_DATA, soon.name) is None
        assert await storage.info(BATCH_OUTPUT, output.name) is None
        assert await storage.info(BATCH_INPUT, later.name) is not None
        assert await storage.info(USER_DATA, forever.name) is not None
        assert soon.name not in await markers(USER_DATA)                  # markers gone too
        assert output.name not in await markers(BATCH_OUTPUT)
        assert later.name in await markers(BATCH_INPUT)
        await expiry.sweep(storage, now=created + 7200 + 2)
        assert await storage.info(BATCH_INPUT, later.name) is None
        assert later.name not in await markers(BATCH_INPUT)
        await storage.close()
    run(go())


def test_the_sweep_trusts_the_file_not_a_stray_marker(storage):
    """A marker whose file was deleted, or whose file has no (or a later) expiry, deletes
    nothing but itself."""
    async def go():
        now = int(time.time())
        kept = await files.store(storage, "st", one_chunk(b"x"), filename="f",
                                 purpose="user_data", limit=None)
        await expiry.schedule(storage, USER_DATA, kept.name, now - 5)
        await expiry.schedule(storage, USER_DATA, "st/file-deleted", now - 5)
        await expiry.sweep(storage, now=now)
        assert await storage.info(USER_DATA, kept.name) is not None
        assert [m.name for m in await storage.list(USER_DATA, expiry.MARKERS)
                if m.name.endswith(("/st/file-deleted", kept.name))] == []
        await storage.close()
    run(go())


def test_a_lookup_that_meets_an_expired_file_deletes_it(storage):
    async def go():
        info = await files.store(storage, "lz", one_chunk(b"x"), filename="f",
                                 purpose="user_data", limit=None, expires_after=3600)
        file_id = info.name.split("/", 1)[1]
        assert (await files.find(storage, "lz", file_id))[1].name == info.name
        past = int(time.time()) - 1                 # as an hour's wait would leave it
        await expiry.schedule(storage, USER_DATA, info.name, past)
        await storage.write(USER_DATA, info.name, one_chunk(b"x"),
                            metadata={**info.metadata, "expires_at": str(past)})
        assert await files.list_files(storage, "lz", None) == []
        assert await storage.info(USER_DATA, info.name) is not None     # listing only hides
        assert await files.find(storage, "lz", file_id) is None
        assert await storage.info(USER_DATA, info.name) is None
        assert await storage.info(USER_DATA, expiry.marker(info.name, past)) is None
        await storage.close()
    run(go())
