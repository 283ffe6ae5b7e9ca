"""Gateways of their own: one that dies mid-job (the local hub redelivers, the job finishes
once, one webhook), one with a single lane to watch priorities."""
from __future__ import annotations

import json

import httpx
import pytest

from .conftest import ADMIN_KEY
from .jobs_support import GatewayProcess, Jobs, Receiver, eventually, line, provider_calls


@pytest.fixture
def crashing(simulator, tmp_path, logs_dir):
    # A short lease so that the restarted worker may take over the dead one's claim quickly.
    process = GatewayProcess(simulator, tmp_path, logs_dir / "jobs-crash.log",
                             LLMPROXY_JOB_LEASE_SECONDS="1").start()
    yield process
    process.stop()


def test_crash_between_provider_call_and_result_write(crashing, sim):
    admin = httpx.Client(base_url=crashing.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    key = admin.post("/v1/organization/projects/crashy/api_keys", json={}).json()["value"]
    secret = admin.post("/v1/organization/projects/crashy/webhook_secret").json()["secret"]
    receiver = Receiver()
    try:
        jobs = Jobs(crashing.url, key)
        sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 3000})
        first = jobs.submit("crash-marker", model="gpt-4.1",
                            webhook_url=receiver.url + "/hook").json()
        eventually(lambda: provider_calls(sim, "crash-marker") == 1, "the provider call")
        behind = jobs.submit("queued-behind-marker").json()     # accepted, not yet processed
        crashing.kill()                          # the provider answered nobody; nothing written
        assert crashing.pending_hub_events() >= 2

        crashing.start()                         # same data folder
        jobs = Jobs(crashing.url, key)
        done = jobs.wait(first["execution_id"])
        assert done["status"] == "completed", done
        assert done["progress"]["attempts"] == 2          # the dead worker's and the new one's
        assert jobs.wait(behind["execution_id"])["status"] == "completed"
        crashing.wait_hub_drained()
        hooks = receiver.for_job(first["execution_id"])
        assert len(hooks) == 1
        assert json.loads(hooks[0]["body"])["type"] == "chat.completion.job.completed"
        from shared.jobs.webhooks import verify
        assert verify(secret, hooks[0]["headers"], hooks[0]["body"])
        assert provider_calls(sim, "queued-behind-marker") == 1
    finally:
        receiver.close()
        admin.close()


def test_higher_priority_runs_first_within_a_batch(simulator, tmp_path, logs_dir, sim):
    process = GatewayProcess(simulator, tmp_path, logs_dir / "jobs-serial.log",
                             LLMPROXY_JOB_CONCURRENCY="1").start()
    try:
        admin = httpx.Client(base_url=process.url,
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        admin.post("/v1/organization/projects/serial/api_keys", json={})
        priorities = [5, 9, 1, 10, 3, 7]
        process.produce([line(f"p{p}", f"prio-marker-{p}", priority=p) for p in priorities],
                        project="serial")               # one send: one batch
        process.wait_hub_drained()
        order = [json.dumps(r["body"]) for r in sim.get("/_sim/requests").json()["requests"]]
        seen = [p for text in order for p in priorities if f"prio-marker-{p}\"" in text]
        assert seen == sorted(priorities)
        admin.close()
    finally:
        process.stop()


def test_a_lost_event_is_sent_again_by_the_sweeper(simulator, tmp_path, logs_dir, sim):
    process = GatewayProcess(simulator, tmp_path, logs_dir / "jobs-sweeper.log",
                             LLMPROXY_LOCAL_TIMER_SECONDS="1",
                             LLMPROXY_JOB_REQUEUE_AFTER_SECONDS="2").start()
    try:
        admin = httpx.Client(base_url=process.url,
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        jobs = Jobs(process.url, admin.post("/v1/organization/projects/sweep/api_keys", json={}).json()["value"])
        sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 2000})
        busy = jobs.submit("busy", model="gpt-4.1").json()["execution_id"]
        jobs.wait(busy, "processing")                   # the next event waits in the hub
        lost = jobs.submit("lost-event-marker").json()["execution_id"]
        assert process.drop_hub_events(lost) == 1       # the event never reaches the worker
        done = jobs.wait(lost)
        assert done["status"] == "completed"
        assert provider_calls(sim, "lost-event-marker") == 1
        admin.close()
    finally:
        process.stop()


def test_at_most_job_concurrency_provider_calls_at_once(simulator, tmp_path, logs_dir, sim):
    process = GatewayProcess(simulator, tmp_path, logs_dir / "jobs-lanes.log",
                             LLMPROXY_JOB_CONCURRENCY="2", LLMPROXY_JOB_MAX_RETRIES="0").start()
    try:
        admin = httpx.Client(base_url=process.url,
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        jobs = Jobs(process.url, admin.post("/v1/organization/projects/lanes/api_keys", json={}).json()["value"])
        # Each call hangs until the gateway's provider timeout: the lanes stay taken meanwhile.
        sim.post("/_sim/faults", json={"match": "gpt-4.1", "hang": True, "count": 3})
        process.produce([line(f"lane-{i}", f"lane-marker-{i}", model="gpt-4.1")
                         for i in range(3)], project="lanes")
        eventually(lambda: provider_calls(sim, "lane-marker") == 2, "two calls in flight")
        # A lane takes up a line (creates and claims its job) only when it is free.
        assert [j["status"] for j in jobs.all()] == ["processing", "processing"]
        process.wait_hub_drained()
        assert provider_calls(sim, "lane-marker") == 3
        assert [j["error"]["code"] for j in jobs.all()] == ["upstream_timeout"] * 3
        admin.close()
    finally:
        process.stop()
