"""Issue 20 items 5 and 6: async jobs are checked like synchronous calls before a job exists,
and one bad event in an Event Hub batch stays with that event."""
from __future__ import annotations

import json

import httpx
import pytest

from runner.local_hub import LocalHub

from .jobs_support import (GatewayProcess, Jobs, admin, eventually, gw,  # noqa: F401 (fixtures)
                           line, project, provider_calls)
from .test_routing import deployment

BOUNDED = "rel-bounded"


@pytest.fixture(scope="module")
def bounded(admin):
    """A model whose policy bounds the number of messages, n and output tokens."""
    doc = deployment(BOUNDED, max_messages=2, max_n=1, max_output_tokens=50)
    assert admin.put(f"/v1/organization/models/{BOUNDED}", json=doc).status_code == 200


MSG = {"role": "user", "content": "x"}
OVER_LIMITS = [({"messages": [MSG] * 3}, "messages"), ({"n": 2}, "n"),
               ({"max_tokens": 51}, "max_tokens"), ({"max_completion_tokens": 99},
                                                    "max_completion_tokens"),
               ({"temperature": 9}, "temperature")]


@pytest.mark.parametrize("fields, param", OVER_LIMITS)
def test_an_async_submission_over_the_models_limits_is_400_and_no_job(project, bounded, sim,
                                                                        fields, param):
    jobs = project("limits-http")
    body = {"model": BOUNDED, "messages": [MSG], **fields}
    resp = jobs.http.post("", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    assert jobs.all() == []
    assert sim.get("/_sim/requests").json()["requests"] == []


def test_a_producer_event_over_the_models_limits_is_a_failed_job_without_a_provider_call(
        project, bounded, gw, sim):
    jobs = project("limits-hub")
    gw.produce([line(f"over-{param}", "limits-hub-marker", body={
                    "model": BOUNDED, "messages": [{"role": "user", "content": "limits-hub-marker"}],
                    **fields}) for fields, param in OVER_LIMITS], project="limits-hub")
    gw.wait_hub_drained()
    by_id = eventually(lambda: (js := {j["custom_id"]: j for j in jobs.all()})
                       and len(js) == len(OVER_LIMITS) and js, "the failed jobs")
    for fields, param in OVER_LIMITS:
        job = by_id[f"over-{param}"]
        assert job["status"] == "failed" and job["error"]["code"] == "invalid_event", job
        assert f"'{param}'" in job["error"]["message"]
    assert provider_calls(sim, "limits-hub-marker") == 0


def test_one_deeply_nested_event_does_not_sink_its_batch(project, gw, sim):
    jobs = project("deep-batch")
    deep = (b'{"custom_id":"deep","project":"deep-batch","method":"POST",'
            b'"url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":'
            + b"[" * 100_000 + b"]" * 100_000 + b"}}")
    good = [json.dumps(line(f"good-{i}", f"deep-batch-good-{i}", "deep-batch")).encode()
            for i in range(3)]
    LocalHub(gw.data_dir / "llmproxy.sqlite3").send_now([good[0], deep, good[1], good[2]])
    done = eventually(lambda: (js := {j["custom_id"]: j for j in jobs.all()})
                      and len(js) == 4 and all(j["status"] in ("completed", "failed")
                                               for j in js.values()) and js,
                      "the batch's four jobs to end")
    for i in range(3):
        assert done[f"good-{i}"]["status"] == "completed", done[f"good-{i}"]
    assert done["deep"]["status"] == "failed"
    assert done["deep"]["error"]["code"] == "invalid_event"
    assert "nested deeper" in done["deep"]["error"]["message"]
    assert provider_calls(sim, "deep-batch-good") == 3


def test_a_job_cut_short_by_a_graceful_stop_is_taken_over_at_once(simulator, sim, tmp_path,
                                                                   logs_dir):
    """Stopping the runner (SIGTERM) cancels the job in flight: it must give up its lease, so
    the redelivered event takes it over at once, not after the 5-minute lease."""
    from .conftest import ADMIN_KEY as ADMIN
    process = GatewayProcess(simulator, tmp_path, logs_dir / "rel-graceful-stop.log",
                             LLMPROXY_JOB_LEASE_SECONDS="300")
    process.env["LLMPROXY_REQUEST_TIMEOUT_SECONDS"] = "30"     # the slow call is not timed out
    process.start()
    try:
        with httpx.Client(base_url=process.url, timeout=30,
                          headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
            key = admin.post("/v1/organization/projects/graceful/api_keys",
                             json={"name": "g"}).json()["value"]
        sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 20000, "count": 1})
        jobs = Jobs(process.url, key)
        job = jobs.submit("graceful-stop-marker", model="gpt-4.1").json()
        jobs.wait(job["execution_id"], "processing")
        eventually(lambda: provider_calls(sim, "graceful-stop-marker") == 1, "the provider call")
        process.stop()                      # SIGTERM mid-call
        process.start()                     # same data folder: the hub redelivers the event
        done = Jobs(process.url, key).wait(job["execution_id"], "completed", "failed")
        assert done["status"] == "completed", done
    finally:
        process.stop()
