"""Batch life where a direct call says more than an HTTP round trip: expiry, a lost event, two
finalizers at once, and the streaming pieces (multipart, line reading). The worker, steps and
storage are the real ones (an in-process gateway on SQLite and the embedded file storage);
these batches never reach a provider (their lines are settled before they run)."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from shared.batches import model, state, steps, sweep
from shared.batches.lines import read_lines
from shared.config import Settings
from shared.errors import InvalidRequest
from shared.files import files
from shared.files.multipart import read_parts
from shared.files.storage import BATCH_OUTPUT, one_chunk
from shared.gateway import Gateway
from shared.jobs import model as jobs_model
from shared.jobs.events import HubEvent
from shared.jobs.worker import process_events

LINES = 7


@pytest.fixture
async def gw(tmp_path):
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests"}
    gateway = await Gateway(Settings.from_env(env)).ready()
    yield gateway
    await gateway.close()


async def drain(gw, events: list[str]) -> int:
    """Deliver events, and the events they send, until none are left; how many rounds."""
    rounds = 0
    while events:
        _finished, events = await process_events(gw, [HubEvent(e.encode()) for e in events])
        rounds += 1
    return rounds


async def running_batch(gw, **changes) -> dict:
    """A batch past validation (in progress, LINES lines) whose lines are not jobs yet."""
    body = b"".join(json.dumps({"custom_id": f"c{i}", "method": "POST",
                                "url": "/v1/chat/completions",
                                "body": {"model": "m", "messages": [{"role": "user",
                                                                     "content": "x"}]}}
                               ).encode() + b"\n" for i in range(LINES))
    info = await files.store(gw.objects, "p", one_chunk(body), filename="in.jsonl",
                             purpose="batch", limit=None)
    doc = model.new_batch(project="p", key_id="k", endpoint="/v1/chat/completions",
                          input_file_id=info.name.split("/")[1], metadata=None)
    doc.update({"status": model.IN_PROGRESS, "total": LINES,
                "in_progress_at": doc["created_at"], **changes})
    await state.create(gw.objects, doc)
    return doc


async def current(gw, doc) -> dict:
    return (await state.load(gw.objects, "p", doc["id"]))[0]


async def error_lines(gw, doc) -> list[dict]:
    stream = await gw.objects.read(BATCH_OUTPUT, files.object_name("p", doc["error_file_id"]))
    return [json.loads(line) for line in b"".join([c async for c in stream]).splitlines()]


async def test_lines_of_a_batch_past_its_window_expire_instead_of_running(gw):
    doc = await running_batch(gw, expires_at=int(time.time()) - 1)
    await drain(gw, [steps.event(doc, "expand", index=0, line=1, offset=0)])
    final = await current(gw, doc)
    assert final["status"] == model.EXPIRED and final["expired_at"]
    assert final["final_counts"]["completed"] == 0 and final["final_counts"]["failed"] == LINES
    lines = await error_lines(gw, final)
    assert [l["custom_id"] for l in lines] == [f"c{i}" for i in range(LINES)]
    assert {l["error"]["code"] for l in lines} == {"batch_expired"}
    assert all(l["response"] is None for l in lines)


async def test_the_sweeper_expires_a_batch_with_nothing_running(gw):
    doc = await running_batch(gw, expires_at=int(time.time()) - 1)
    sent = await sweep.sweep_batches(gw)
    assert [json.loads(e)["step"] for e in sent] == ["stop"]
    assert await sweep.sweep_batches(gw) == []          # the stop is under way: not again
    await drain(gw, sent)
    final = await current(gw, doc)
    assert final["status"] == model.EXPIRED and final["final_counts"]["failed"] == LINES
    # Lines never expanded got settled jobs, so a late expand event cannot start them.
    await drain(gw, [steps.event(doc, "expand", index=0, line=1, offset=0)])
    for i in range(LINES):
        job = await gw.store.get_job("p", model.line_job_id("p", doc["id"], i))
        assert job.doc["status"] == jobs_model.CANCELLED


async def test_a_lost_stop_event_is_sent_again_once_the_batch_stalls(gw):
    doc = await running_batch(gw, status=model.CANCELLING, stop="cancel",
                              cancelling_at=int(time.time()))
    assert await sweep.sweep_batches(gw) == []          # first sight: maybe just slow
    sent = await sweep.sweep_batches(gw)                # nothing moved since: nudged
    assert [json.loads(e)["step"] for e in sent] == ["stop"]
    await drain(gw, sent)
    final = await current(gw, doc)
    assert final["status"] == model.CANCELLED and final["final_counts"]["failed"] == LINES
    assert {l["error"]["code"] for l in await error_lines(gw, final)} == {"batch_cancelled"}


async def test_a_cancel_that_read_validating_but_wrote_in_progress_stops_the_lines(
        gw, monkeypatch):
    # Validation finished between the cancel's read and its write (the write retries on the
    # newer document): the batch becomes `cancelling` and its lines must get the stop event
    # now, not after the sweeper notices a stalled batch minutes later.
    from shared.handlers import batches as handler
    from shared.handlers.jobs import EVENTS
    from shared.http_types import ApiRequest
    doc = await running_batch(gw)

    async def read_before_validation_ended(_gw, _req):
        return {**doc, "status": model.VALIDATING}
    monkeypatch.setattr(handler, "_own_batch", read_before_validation_ended)
    resp = await handler.cancel_batch(gw, ApiRequest("POST", "/v1/batches/x/cancel", {}))
    assert json.loads(resp.body)["status"] == model.CANCELLING
    assert json.loads(resp.outputs[EVENTS])["step"] == "stop"


async def test_two_finalizers_at_once_write_one_file_and_one_final_state(gw):
    doc = await running_batch(gw, status=model.CANCELLING, stop="cancel")
    await asyncio.gather(*(steps.settle_line(gw, doc, i) for i in range(LINES)))
    await asyncio.gather(steps.finalize(gw, doc), steps.finalize(gw, doc))
    await steps.finalize(gw, await current(gw, doc))          # a redelivery afterwards
    final = await current(gw, doc)
    assert final["status"] == model.CANCELLED
    outputs = await gw.objects.list(BATCH_OUTPUT, "p/")
    assert [o.name for o in outputs] == [f"p/{final['error_file_id']}"]
    assert len(await error_lines(gw, final)) == LINES


async def test_a_batch_whose_input_file_was_deleted_fails(gw):
    doc = await running_batch(gw)
    await gw.objects.delete("batch", files.object_name("p", doc["input_file_id"]))
    await drain(gw, [steps.event(doc, "expand", index=0, line=1, offset=0)])
    final = await current(gw, doc)
    assert final["status"] == model.FAILED
    assert final["errors"]["data"][0]["code"] == "input_file_missing"


async def _chunked(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
async def test_lines_are_read_whatever_the_chunking(size):
    data = b'{"a": 1}\n\n{"b": 2}\r\n{"c": 3}'
    lines = [l async for l in read_lines(_chunked(data, size))]
    assert [(l.number, json.loads(l.raw)) for l in lines] == \
        [(1, {"a": 1}), (3, {"b": 2}), (4, {"c": 3})]
    resumed = [l async for l in read_lines(_chunked(data[lines[0].end:], size), 2,
                                           lines[0].end)]
    assert [(l.number, l.end) for l in resumed] == [(l.number, l.end) for l in lines[1:]]


@pytest.mark.parametrize("size", [1, 2, 5, 17, 4096])
async def test_multipart_parts_stream_whatever_the_chunking(size):
    content = b"x\r\n--notquite\r\n" * 50                 # looks like a boundary, is not one
    body = (b"preamble\r\n--bnd\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            b"batch\r\n--bnd\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"f.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n" + content +
            b"\r\n--bnd--\r\nepilogue")
    seen = []
    async for part in read_parts(_chunked(body, size), "multipart/form-data; boundary=bnd"):
        if part.filename is None:
            seen.append((part.name, await part.text()))
        else:
            seen.append((part.name, part.filename, b"".join([c async for c in part.chunks()])))
    assert seen == [("purpose", "batch"), ("file", "f.jsonl", content)]


async def test_a_multipart_body_cut_short_is_a_400():
    body = b"--bnd\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nabc"
    with pytest.raises(InvalidRequest, match="incomplete"):
        async for part in read_parts(_chunked(body, 4), "multipart/form-data; boundary=bnd"):
            await part.drain()


@pytest.fixture
async def small_gw(tmp_path):
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests",
           "LLMPROXY_BATCH_MAX_LINES": "3"}
    gateway = await Gateway(Settings.from_env(env)).ready()
    yield gateway
    await gateway.close()


@pytest.mark.parametrize("content, code, line", [
    (b"", "empty_file", None),
    (b"\n\n", "empty_file", None),
    (b"{}\n" * 5, "too_many_requests", 4),
])
async def test_validation_refuses_empty_and_oversized_files(small_gw, content, code, line):
    info = await files.store(small_gw.objects, "p", one_chunk(content), filename="in.jsonl",
                             purpose="batch", limit=None)
    doc = model.new_batch(project="p", key_id="k", endpoint="/v1/chat/completions",
                          input_file_id=info.name.split("/")[1], metadata=None)
    await state.create(small_gw.objects, doc)
    await drain(small_gw, [steps.event(doc, "validate")])
    final = await current(small_gw, doc)
    assert final["status"] == model.FAILED
    assert (final["errors"]["data"][-1]["code"], final["errors"]["data"][-1]["line"]) == \
        (code, line)
