"""`/v1/responses` batch lines where a direct call says more than an HTTP round trip: a line
whose `previous_response_id` passed validation but was deleted before its expansion. The
worker, steps and storage are the real ones (an in-process gateway on SQLite)."""
from __future__ import annotations

import json

from shared.batches import model, state, steps
from shared.files import files
from shared.files.storage import BATCH_OUTPUT, one_chunk
from shared.jobs import model as jobs_model

from .test_batch_units import drain, gw  # noqa: F401 (fixture)

LINES = 3


async def test_a_line_whose_earlier_response_is_gone_at_expansion_fails_alone(gw):
    body = b"".join(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/responses",
                                "body": {"model": "m", "input": "more",
                                         "previous_response_id": "resp_deleted"}}
                               ).encode() + b"\n" for i in range(LINES))
    info = await files.store(gw.objects, "p", one_chunk(body), filename="in.jsonl",
                             purpose="batch", limit=None)
    doc = model.new_batch(project="p", key_id="k", endpoint="/v1/responses",
                          input_file_id=info.name.split("/")[1], metadata=None)
    doc.update({"status": model.IN_PROGRESS, "total": LINES, "in_progress_at": doc["created_at"]})
    await state.create(gw.objects, doc)

    await drain(gw, [steps.event(doc, "expand", index=0, line=1, offset=0)])
    done = (await state.load(gw.objects, "p", doc["id"]))[0]
    # Born failed, counted at once: the batch finalizes without waiting for the sweeper.
    assert done["status"] == model.COMPLETED
    assert done["final_counts"] == {"completed": 0, "failed": LINES, "skipped": 0}
    job = (await gw.store.get_job("p", model.line_job_id("p", doc["id"], 0))).doc
    assert job["status"] == jobs_model.FAILED and job["attempts"] == 0
    stream = await gw.objects.read(BATCH_OUTPUT, files.object_name("p", done["error_file_id"]))
    text = b"".join([chunk async for chunk in stream]).decode()
    lines = [json.loads(l) for l in text.splitlines()]
    assert [l["custom_id"] for l in lines] == [f"c{i}" for i in range(LINES)]
    for l in lines:
        assert l["response"]["status_code"] == 404
        error = l["response"]["body"]["error"]
        assert (error["code"], error["param"]) == ("response_not_found", "previous_response_id")

    # A redelivered expand finds the jobs and counts nothing twice.
    await drain(gw, [steps.event(doc, "expand", index=0, line=1, offset=0)])
    assert await state.counts(gw.store, done) == done["final_counts"]
    assert int(await gw.store.get_counter(model.counter_key(doc, "failed"))) == LINES

