"""A gateway that dies mid-batch (SIGKILL): after the restart the local hub redelivers, the
batch completes, every line appears once in one output file. Lines the dead worker finished but
had not yet counted leave the batch's counts short: the sweeper (every 2 s here) finds it
stalled and re-sends its steps, and finalization counts from the line jobs themselves."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from .conftest import ADMIN_KEY, ISSUED_KEYS
from .jobs_support import GatewayProcess, eventually, provider_calls

LINES = 30


@pytest.fixture
def crashing(simulator, tmp_path, logs_dir):
    process = GatewayProcess(simulator, tmp_path, logs_dir / "batches-crash.log",
                             LLMPROXY_JOB_LEASE_SECONDS="1",
                             LLMPROXY_LOCAL_TIMER_SECONDS="2").start()
    yield process
    process.stop()


def client(process: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=process.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_a_batch_survives_a_crash_and_finalizes_once(crashing, sim):
    with httpx.Client(base_url=crashing.url,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        key = admin.post("/v1/organization/projects/crashy-batch/api_keys",
                         json={}).json()["value"]
    ISSUED_KEYS.append(key)
    sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 300, "count": 1000})
    lines = "".join(json.dumps({"custom_id": f"k{i}", "method": "POST",
                                "url": "/v1/chat/completions",
                                "body": {"model": "gpt-4.1", "messages": [
                                    {"role": "user", "content": f"crash-batch-marker {i}"}]}})
                    + "\n" for i in range(LINES))
    api = client(crashing, key)
    file_id = api.files.create(file=("in.jsonl", lines.encode()), purpose="batch").id
    batch = api.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                               completion_window="24h")
    eventually(lambda: api.batches.retrieve(batch.id).request_counts.completed >= 3,
               "a few lines to complete")
    crashing.kill()
    crashing.start()                                   # the same data folder and hub
    api = client(crashing, key)
    done = eventually(lambda: (b := api.batches.retrieve(batch.id)).status == "completed" and b,
                      "the batch to complete after the restart")
    assert (done.request_counts.completed, done.request_counts.failed) == (LINES, 0)
    output = [json.loads(l) for l in api.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in output) == sorted(f"k{i}" for i in range(LINES))
    crashing.wait_hub_drained()
    outputs = [f for f in api.files.list(purpose="batch_output")]
    assert [f.id for f in outputs] == [done.output_file_id]
    # At least once: a line in flight at the kill may have been called twice, never more.
    assert LINES <= provider_calls(sim, "crash-batch-marker") <= LINES + 8
