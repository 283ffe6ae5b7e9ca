"""Async chat jobs end to end: a real runner process, its local hub, the provider simulator,
httpx over real sockets, a webhook receiver on a real socket."""
from __future__ import annotations

import json

import pytest

from shared.jobs.webhooks import verify

from .conftest import ROOT
from .jobs_support import (ISSUED, Jobs, Receiver, admin, eventually, gw,  # noqa: F401 (fixtures)
                           line, project, provider_calls)

# Faults are injected only for this model, used only by the tests that inject them, so a job
# left over from an earlier test can never consume a fault meant for another.
FAULTY = "gpt-4.1"


@pytest.fixture(scope="module")
def alpha(project) -> Jobs:
    return project("alpha")


@pytest.fixture(scope="module")
def secret(admin) -> str:
    resp = admin.post("/v1/organization/projects/alpha/webhook_secret")
    assert resp.status_code == 201
    assert resp.json()["secret"].startswith("whsec_")
    ISSUED.append(resp.json()["secret"])
    return resp.json()["secret"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_submit_poll_list(alpha, sim):
    resp = alpha.submit("poll me", priority=3, ttl_hours=2, custom_id="c-1")
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["status"] == "queued" and job["execution_id"].startswith("job_")
    assert resp.headers["location"] == f"/v1/chat/completions/async/{job['execution_id']}"
    assert job["estimated_completion_time"] >= job["created_at"]
    done = alpha.wait(job["execution_id"])
    assert done["status"] == "completed", done
    assert done["result"]["object"] == "chat.completion"
    assert done["result"]["choices"][0]["message"]["content"] == "[simulated] poll me"
    assert done["usage"]["prompt_tokens"] > 0 and done["cost"] > 0
    assert done["retry_count"] == 0 and done["custom_id"] == "c-1"
    assert done["started_at"] >= done["created_at"] and done["completed_at"] >= done["started_at"]
    listed = alpha.http.get("", params={"status": "completed"}).json()
    assert job["execution_id"] in [j["execution_id"] for j in listed["data"]]


def test_list_is_newest_first_with_a_cursor(project):
    lister = project("lister")
    ids = [lister.submit(f"list {i}").json()["execution_id"] for i in range(5)]
    page = lister.http.get("", params={"limit": 2}).json()
    assert [j["execution_id"] for j in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = lister.http.get("", params={"limit": 10, "after": page["last_id"]}).json()
    assert [j["execution_id"] for j in rest["data"]] == ids[::-1][2:]
    assert rest["has_more"] is False
    assert lister.http.get("", params={"limit": 0}).json()["error"]["param"] == "limit"
    assert lister.http.get("", params={"status": "nope"}).json()["error"]["param"] == "status"
    assert lister.http.get("", params={"after": "job_x"}).json()["error"]["param"] == "after"


def test_metrics_route_is_not_a_job_id(project):
    metrics_project = project("metrics")
    job = metrics_project.submit("measure").json()
    metrics_project.wait(job["execution_id"])
    resp = metrics_project.http.get("/metrics")
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["counts"]["completed"] == 1 and data["total"] == 1
    assert data["avg_queue_seconds"] >= 0 and data["avg_processing_seconds"] >= 0


def test_another_projects_job_is_404(alpha, project):
    job = alpha.submit("mine").json()["execution_id"]
    other = project("intruder")
    for resp in (other.http.get(f"/{job}"), other.http.delete(f"/{job}")):
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "job_not_found"
    assert job not in [j["execution_id"] for j in other.all()]


@pytest.mark.parametrize("fields, param", [
    ({"priority": 0}, "priority"), ({"priority": 11}, "priority"), ({"priority": "1"}, "priority"),
    ({"ttl_hours": 0}, "ttl_hours"), ({"ttl_hours": 169}, "ttl_hours"),
    ({"api_base": "http://evil"}, "api_base"), ({"stream": True}, "stream"),
    ({"idempotency_key": ""}, "idempotency_key"), ({"model": "no-such-model"}, "model"),
    ({"messages": []}, "messages"), ({"webhook_url": "ftp://x"}, "webhook_url"),
])
def test_submission_is_validated_like_a_synchronous_call(alpha, fields, param):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], **fields}
    resp = alpha.http.post("", json=body)
    assert resp.status_code in (400, 404), resp.text
    assert resp.json()["error"]["param"] == param


def test_same_idempotency_key_returns_the_same_job(alpha, sim):
    first = alpha.submit("idem-marker", idempotency_key="order-17")
    second = alpha.submit("idem-marker", idempotency_key="order-17")
    assert first.status_code == second.status_code == 202
    assert first.json()["execution_id"] == second.json()["execution_id"]
    alpha.wait(first.json()["execution_id"])
    third = alpha.submit("idem-marker", idempotency_key="order-17")
    assert third.json()["status"] == "completed"
    assert provider_calls(sim, "idem-marker") == 1


def test_an_idempotency_key_cannot_be_reused_for_another_request(alpha):
    alpha.submit("first request", idempotency_key="order-18")
    resp = alpha.submit("another request", idempotency_key="order-18")
    assert resp.status_code == 409
    assert resp.json()["error"]["param"] == "idempotency_key"


def test_ttl_hours_becomes_the_documents_ttl(alpha):
    job = alpha.submit("ttl", ttl_hours=3).json()
    assert job["expires_at"] > job["created_at"]
    from datetime import datetime
    span = (datetime.fromisoformat(job["expires_at"]) - datetime.fromisoformat(job["created_at"]))
    assert span.total_seconds() == 3 * 3600


def test_cancel_a_queued_job_and_not_a_finished_one(alpha, sim, gw):
    gw.wait_hub_drained()                       # no earlier test's job may take the fault
    sim.post("/_sim/faults", json={"match": FAULTY, "latency_ms": 800})
    slow = alpha.submit("slow-first", model=FAULTY).json()["execution_id"]
    alpha.wait(slow, "processing")               # the worker is busy with this batch
    job = alpha.submit("cancel-queued-marker").json()["execution_id"]   # waits in the hub
    resp = alpha.http.delete(f"/{job}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled" and resp.json()["cancelled_at"]
    gw.wait_hub_drained()
    assert alpha.get(job)["status"] == "cancelled"
    assert provider_calls(sim, "cancel-queued-marker") == 0
    assert alpha.wait(slow)["status"] == "completed"
    again = alpha.http.delete(f"/{slow}")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_already_finished"


def test_cancel_racing_completion_keeps_one_terminal_state(alpha, sim, secret, receiver, gw):
    gw.wait_hub_drained()
    sim.post("/_sim/faults", json={"match": FAULTY, "latency_ms": 1500})
    job = alpha.submit("race-marker", model=FAULTY,
                       webhook_url=receiver.url + "/hook").json()["execution_id"]
    alpha.wait(job, "processing")
    eventually(lambda: provider_calls(sim, "race-marker") == 1, "the provider call to start")
    resp = alpha.http.delete(f"/{job}")
    assert resp.status_code == 200, resp.text
    gw.wait_hub_drained()                           # the worker's batch has finished
    final = alpha.get(job)
    assert final["status"] == "cancelled" and final["result"] is None
    eventually(lambda: receiver.for_job(job), "the cancellation webhook")
    gw.wait_hub_drained()
    kinds = [json.loads(r["body"])["type"] for r in receiver.for_job(job)]
    assert kinds == ["chat.completion.job.cancelled"]
    assert provider_calls(sim, "race-marker") == 1


@pytest.fixture
def one_attempt_per_job_try(admin):
    """The job's own retries are under test: the router's in-call retries are turned off for the
    faulty model (`parameters.retries` = 0), so each job attempt is one provider call."""
    doc = admin.get(f"/v1/organization/models/{FAULTY}").json()
    changed = {**doc, "parameters": {**doc["parameters"], "retries": 0}}
    changed.pop("warnings", None)
    assert admin.put(f"/v1/organization/models/{FAULTY}", json=changed).status_code == 200
    yield
    assert admin.put(f"/v1/organization/models/{FAULTY}", json=doc).status_code == 200


def test_retries_honour_429_then_succeed(alpha, sim, gw, one_attempt_per_job_try):
    gw.wait_hub_drained()
    sim.post("/_sim/faults", json={"match": FAULTY, "status": 429, "retry_after": 1})
    job = alpha.submit("retry-marker", model=FAULTY).json()["execution_id"]
    done = alpha.wait(job)
    assert done["status"] == "completed", done
    assert done["retry_count"] == 1 and done["progress"]["attempts"] == 2
    assert provider_calls(sim, "retry-marker") == 2


def test_persistent_failure_ends_failed_after_max_retries(alpha, sim, gw,
                                                         one_attempt_per_job_try):
    gw.wait_hub_drained()
    sim.post("/_sim/faults", json={"match": FAULTY, "status": 500, "count": 3})
    job = alpha.submit("fail-marker", model=FAULTY).json()["execution_id"]
    done = alpha.wait(job)
    assert done["status"] == "failed"
    assert done["retry_count"] == 2 and done["error"]["status"] == 502
    assert provider_calls(sim, "fail-marker") == 3


def test_duplicate_delivery_sequential_calls_the_provider_once(alpha, gw, sim):
    job = alpha.submit("dup-seq-marker").json()
    alpha.wait(job["execution_id"])
    ref = {"execution_id": job["execution_id"], "project": "alpha", "priority": 5}
    gw.produce([ref, ref])
    gw.wait_hub_drained()
    assert alpha.get(job["execution_id"])["status"] == "completed"
    assert provider_calls(sim, "dup-seq-marker") == 1


def test_duplicate_delivery_concurrent_calls_the_provider_once(alpha, gw, sim):
    gw.wait_hub_drained()
    sim.post("/_sim/faults", json={"match": FAULTY, "latency_ms": 500})
    gw.produce([line("dup-conc", "dup-conc-marker", "alpha", model=FAULTY)] * 4)
    gw.wait_hub_drained()
    jobs = [j for j in alpha.all() if j["custom_id"] == "dup-conc"]
    assert len(jobs) == 1 and jobs[0]["status"] == "completed"
    assert provider_calls(sim, "dup-conc-marker") == 1


def test_direct_producer_batch_lines_and_poison_events(project, gw, sim):
    direct = project("direct")
    gw.produce([
        line("good-1", "direct-good-1"),
        "this is not json",
        {"neither": "a line nor a reference"},
        line("bad-url", "x", url="/v1/embeddings"),
        line("bad-model", "x", body={"model": "no-such-model",
                                     "messages": [{"role": "user", "content": "x"}]}),
        line("routing", "x", body={"model": "gpt-4o-mini", "api_key": "k",
                                   "messages": [{"role": "user", "content": "x"}]}),
        line("good-2", "direct-good-2", priority=1),
    ], project="direct")
    gw.wait_hub_drained()
    by_id = {j["custom_id"]: j for j in direct.all()}
    for good in ("good-1", "good-2"):
        assert by_id[good]["status"] == "completed" and by_id[good]["source"] == "event_hub"
        assert by_id[good]["result"]["choices"][0]["message"]["content"].startswith("[simulated]")
    assert "/v1/chat/completions" in by_id["bad-url"]["error"]["message"]
    assert "no-such-model" in by_id["bad-model"]["error"]["message"]
    assert "api_key" in by_id["routing"]["error"]["message"]
    for bad in ("bad-url", "bad-model", "routing"):
        assert by_id[bad]["status"] == "failed" and by_id[bad]["error"]["code"] == "invalid_event"
    assert provider_calls(sim, "direct-good") == 2
    nameless = [j for j in direct.all(status="failed") if j["custom_id"] is None]
    assert len(nameless) == 1 and "'custom_id'" in nameless[0]["error"]["message"]
    gw.produce([line("orphan", "no project named")])
    gw.wait_hub_drained()
    unroutable = gw.invalid_event_jobs()
    messages = " ".join(j["error"]["message"] for j in unroutable)
    assert "not JSON" in messages and "'project'" in messages


def documented_verify():
    """The verification helper exactly as docs/jobs.md shows it to receivers."""
    text = (ROOT / "docs" / "jobs.md").read_text()
    block = text.split("Verify on the receiving side", 1)[1].split("```python\n", 1)[1]
    namespace: dict = {}
    exec(block.split("```", 1)[0], namespace)
    return namespace["verify"]


def test_webhook_is_signed_and_verifies(alpha, secret, receiver):
    job = alpha.submit("hook-me", webhook_url=receiver.url + "/hook").json()["execution_id"]
    eventually(lambda: receiver.for_job(job), "the webhook")
    hook = receiver.for_job(job)[0]
    assert hook["headers"]["webhook-id"] == f"msg_{job}_completed"
    assert hook["headers"]["webhook-signature"].startswith("v1,")
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY="
    for check in (verify, documented_verify()):
        assert check(secret, hook["headers"], hook["body"])
        assert not check(other, hook["headers"], hook["body"])
        assert not check(secret, hook["headers"], hook["body"].replace(b"hook-me", b"hook-you"))
    payload = json.loads(hook["body"])
    assert payload["type"] == "chat.completion.job.completed"
    assert payload["data"]["result"]["choices"][0]["message"]["content"] == "[simulated] hook-me"
    final = eventually(lambda: (j := alpha.get(job))["webhook"]["state"] == "delivered" and j,
                       "the delivery to be recorded")
    assert len(final["webhook"]["attempts"]) == 1


def test_webhook_retries_are_bounded_and_recorded_and_redirects_not_followed(alpha, secret,
                                                                              receiver):
    receiver.answers = [(500, {}), (302, {"location": receiver.url + "/elsewhere"}), (500, {})]
    job = alpha.submit("hook-retry", webhook_url=receiver.url + "/hook").json()["execution_id"]
    final = eventually(lambda: (j := alpha.get(job))["webhook"]["state"] == "failed" and j,
                       "the webhook to give up")
    attempts = final["webhook"]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 302, 500]
    assert "redirect" in attempts[1]["error"]
    assert [r["path"] for r in receiver.requests] == ["/hook"] * 3


@pytest.mark.parametrize("url", [
    "http://example.com/hook",                  # not https
    "https://127.0.0.2/hook",                   # loopback (only 127.0.0.1 is allow-listed)
    "https://10.1.2.3/hook", "https://192.168.1.10/hook", "https://172.16.0.1/hook",
    "https://169.254.169.254/latest/meta-data", "https://[fd00:ec2::254]/",
    "https://[::1]/hook", "https://0.0.0.0/hook", "https://224.0.0.1/hook",
    "https://[fe80::1]/hook", "https://user:pw@example.com/hook",
])
def test_unsafe_webhook_urls_are_refused(alpha, secret, url):
    resp = alpha.submit("ssrf", webhook_url=url)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "webhook_url"


def test_webhook_needs_a_project_secret(project, receiver):
    nosecret = project("nosecret")
    resp = nosecret.submit("x", webhook_url=receiver.url)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "webhook_secret_missing"


def test_a_thousand_jobs_through_the_local_hub_none_lost(project, gw, admin):
    bulk = project("bulk")
    gw.produce([line(f"bulk-{i}", f"bulk {i}") for i in range(1000)], project="bulk")
    gw.wait_hub_drained()
    jobs = bulk.all(limit=100)
    assert len(jobs) == 1000
    assert {j["custom_id"] for j in jobs} == {f"bulk-{i}" for i in range(1000)}
    assert all(j["status"] == "completed" for j in jobs)
    usage = admin.get("/v1/organization/projects/bulk/usage", params={"limit": 10000}).json()
    assert usage["totals"]["requests"] == 1000            # one provider call per job


def test_zz_no_key_or_webhook_secret_in_the_gateway_log(gw, secret):
    log = gw.log.read_text()
    assert "job" in log and "DEBUG" in log           # the log really is captured
    leaked = [s[:8] + "…" for s in ISSUED if s in log]
    assert not leaked, f"secrets found in the jobs gateway log: {leaked}"
    assert "whsec_" not in log
