"""Pools, retries, failover, breakers and timeouts, through the simulator's fault injection.

Each test builds its own deployments (distinct `code`s, so faults and the simulator's request
log tell them apart) and never touches the shared example models' breakers."""
from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

MSG = [{"role": "user", "content": "hello pool"}]


def deployment(model_id: str, cin: float = 1.0, cout: float = 2.0, **params) -> dict:
    return {"id": model_id, "name": model_id, "code": f"{model_id}-dep", "provider": "Azure",
            "model_type": "AzureOpenAI",
            "parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL",
                           "api_key": "$SIMULATOR_AZURE_API_KEY", "api_version": "2024-10-21",
                           **params},
            "costs": {"cost_input_1Mtokens": cin, "cost_output_1Mtokens": cout},
            "operations": ["ChatCompletion"]}


def pool(model_id: str, members: list[dict], **params) -> dict:
    return {**deployment(model_id, **params), "pool": members}


@pytest.fixture
def put(admin):
    made = []

    def put_model(doc: dict) -> None:
        resp = admin.put(f"/v1/organization/models/{doc['id']}", json=doc)
        assert resp.status_code == 200, resp.text
        made.append(doc["id"])
    yield put_model
    for model_id in reversed(made):               # pools before their members
        admin.delete(f"/v1/organization/models/{model_id}")


def upstream_calls(sim) -> list[str]:
    """Which deployments the simulator was asked for, in order."""
    paths = [r["path"] for r in sim.get("/_sim/requests").json()["requests"]]
    return [p.split("/")[3].removesuffix("-dep") for p in paths if p.startswith("/openai/deployments/")]


@pytest.fixture
def project_client(gateway, make_key):
    def make(project: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=gateway + "/v1", api_key=make_key(project), max_retries=0,
                             timeout=60)
    return make


def test_429_with_retry_after_is_waited_out_then_succeeds(put, sim, project_client):
    put(deployment("rz-solo"))
    sim.post("/_sim/faults", json={"match": "rz-solo-dep", "status": 429, "retry_after": 1})
    reply = project_client("rz-p1").chat.completions.create(model="rz-solo", messages=MSG)
    assert reply.choices[0].message.content.startswith("[simulated]")
    assert upstream_calls(sim) == ["rz-solo", "rz-solo"]


def test_a_retry_after_longer_than_the_cap_is_passed_to_the_caller(put, sim, project_client):
    put(deployment("rz-long-wait", retry_after_max=2))
    sim.post("/_sim/faults", json={"match": "rz-long-wait-dep", "status": 429, "retry_after": 9})
    with pytest.raises(openai.RateLimitError) as info:
        project_client("rz-p1").chat.completions.create(model="rz-long-wait", messages=MSG)
    assert info.value.response.headers["retry-after"] == "9"
    assert upstream_calls(sim) == ["rz-long-wait"]


def test_500_twice_then_failover_to_the_next_member(put, sim, admin, project_client):
    put(deployment("rz-fo-a", retries=1))
    put(deployment("rz-fo-b", cin=5.0, cout=7.0))
    put(pool("rz-fo", [{"model": "rz-fo-a"}, {"model": "rz-fo-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "rz-fo-a-dep", "status": 500, "count": 2})
    reply = project_client("rz-fo-project").chat.completions.create(model="rz-fo", messages=MSG)
    assert reply.choices[0].message.content.startswith("[simulated]")
    assert upstream_calls(sim) == ["rz-fo-a", "rz-fo-a", "rz-fo-b"]
    rows = admin.get("/v1/organization/projects/rz-fo-project/usage").json()["data"]
    assert [(r["model"], r["status"]) for r in rows] == [("rz-fo", 200)]
    # Metered at the prices of the deployment that answered.
    expected = (reply.usage.prompt_tokens * 5.0 + reply.usage.completion_tokens * 7.0) / 1e6
    assert rows[0]["cost"] == pytest.approx(expected)


def test_a_request_error_is_never_retried_nor_failed_over(put, sim, project_client):
    put(deployment("rz-bad-a"))
    put(deployment("rz-bad-b"))
    put(pool("rz-bad", [{"model": "rz-bad-a"}, {"model": "rz-bad-b", "priority": 1}]))
    filtered = {"error": {"code": "content_filter", "message": "The response was filtered."}}
    sim.post("/_sim/faults", json={"match": "rz-bad-a-dep", "status": 400, "body": filtered})
    with pytest.raises(openai.BadRequestError):
        project_client("rz-p1").chat.completions.create(model="rz-bad", messages=MSG)
    assert upstream_calls(sim) == ["rz-bad-a"]


def test_a_member_with_broken_credentials_is_skipped_without_retries(put, sim, project_client):
    put(deployment("rz-auth-a"))
    put(deployment("rz-auth-b"))
    put(pool("rz-auth", [{"model": "rz-auth-a"}, {"model": "rz-auth-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "rz-auth-a-dep", "status": 401, "count": 5})
    project_client("rz-p1").chat.completions.create(model="rz-auth", messages=MSG)
    assert upstream_calls(sim) == ["rz-auth-a", "rz-auth-b"]


def test_a_hung_member_times_out_and_its_breaker_opens(put, sim, project_client):
    put(deployment("rz-hang-a", timeout_first_byte=1, retries=0, breaker_failures=1,
                   breaker_cooldown=600))
    put(deployment("rz-hang-b"))
    put(pool("rz-hang", [{"model": "rz-hang-a"}, {"model": "rz-hang-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "rz-hang-a-dep", "hang": True, "count": 5})
    c = project_client("rz-p1")
    for _ in range(3):
        assert c.chat.completions.create(model="rz-hang", messages=MSG).choices
    # The hung member was tried once; then its breaker kept it out.
    assert upstream_calls(sim) == ["rz-hang-a", "rz-hang-b", "rz-hang-b", "rz-hang-b"]


def test_a_hung_single_deployment_becomes_504_within_its_timeout(put, sim, gateway, make_key):
    put(deployment("rz-hang-solo", timeout_total=2, timeout_first_byte=1))
    sim.post("/_sim/faults", json={"match": "rz-hang-solo-dep", "hang": True, "count": 10})
    resp = httpx.post(gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {make_key('rz-p1')}"},
                      json={"model": "rz-hang-solo", "messages": MSG})
    assert resp.status_code == 504
    assert resp.json()["error"]["type"] == "timeout"


def test_a_stream_that_stalls_midway_ends_with_a_timeout_event(put, sim, gateway, make_key):
    """The first event came, then the provider fell silent for longer than timeout_first_byte:
    the client gets the events so far, then an `error` event (504 upstream_timeout), never
    `data: [DONE]`."""
    put(deployment("rz-stall", timeout_first_byte=1, retries=0))
    sim.post("/_sim/faults", json={"match": "rz-stall-dep", "chunk_interval_ms": 3000,
                                   "count": 1})
    key = make_key("rz-stall-p")
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "rz-stall", "messages": MSG, "stream": True}) as resp:
        assert resp.status_code == 200
        events = [line for line in resp.iter_lines() if line.startswith("data:")]
    assert len(events) >= 2 and '"choices"' in events[0]
    assert "data: [DONE]" not in events
    error = json.loads(events[-1][5:])["error"]
    assert error["code"] == "upstream_timeout" and error["type"] == "timeout"


def test_weights_spread_requests_over_healthy_members(put, sim, project_client):
    put(deployment("rz-w-a"))
    put(deployment("rz-w-b"))
    put(pool("rz-w", [{"model": "rz-w-a", "weight": 3}, {"model": "rz-w-b", "weight": 1}]))
    c = project_client("rz-p1")
    for _ in range(40):
        c.chat.completions.create(model="rz-w", messages=MSG)
    calls = upstream_calls(sim)
    assert len(calls) == 40
    assert calls.count("rz-w-a") > 0 and calls.count("rz-w-b") > 0


def stream_text(gateway: str, key: str, model: str, words: int = 30) -> tuple[int, str]:
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "stream": True, "messages": [
                          {"role": "user", "content": f"stream [sim:words={words}]"}]}) as r:
        return r.status_code, "".join(r.iter_text())


def test_a_stream_that_fails_before_its_first_event_fails_over(put, sim, gateway, make_key):
    put(deployment("rz-sfo-a"))
    put(deployment("rz-sfo-b"))
    put(pool("rz-sfo", [{"model": "rz-sfo-a"}, {"model": "rz-sfo-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "rz-sfo-a-dep", "cut_after_chunks": 0, "count": 5})
    status, text = stream_text(gateway, make_key("rz-p1"), "rz-sfo")
    assert status == 200
    assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
    assert upstream_calls(sim)[-1] == "rz-sfo-b"


def test_a_stream_cut_after_3_chunks_ends_with_an_error_event_and_no_failover(
        put, sim, gateway, make_key):
    put(deployment("rz-cut-a"))
    put(deployment("rz-cut-b"))
    put(pool("rz-cut", [{"model": "rz-cut-a"}, {"model": "rz-cut-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "rz-cut-a-dep", "cut_after_chunks": 3})
    status, text = stream_text(gateway, make_key("rz-p1"), "rz-cut")
    events = [e for e in text.split("\n\n") if e.strip()]
    assert status == 200
    assert len(events) == 4                              # 3 relayed, then the error
    assert '"error"' in events[-1] and "[DONE]" not in text
    assert upstream_calls(sim) == ["rz-cut-a"]           # the client had bytes: no restart


def test_a_litellm_stream_cut_after_3_chunks_ends_with_an_error_event(sim, gateway, key):
    sim.post("/_sim/faults", json={"match": "gemini", "cut_after_chunks": 3})
    status, text = stream_text(gateway, key, "gemini-2.5-flash")
    assert status == 200
    assert '"error"' in text and "[DONE]" not in text
    assert '"content"' in text                            # it had started


def test_a_client_that_leaves_mid_stream_cancels_the_upstream(put, sim, gateway, make_key, admin):
    put(deployment("rz-leave"))
    key = make_key("rz-leaver")
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "rz-leave", "stream": True, "messages": [
                          {"role": "user", "content": "long [sim:words=200000]"}]}) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(10)]
    assert any("[simulated]" in line or "content" in line for line in got)
    rows = []
    for _ in range(100):                      # the row is written once the gateway notices
        rows = admin.get("/v1/organization/projects/rz-leaver/usage").json()["data"]
        if rows:
            break
        time.sleep(0.1)
    assert [r["status"] for r in rows] == [499]
    # What was produced is metered (estimated: no usage event came), and it is far from all.
    assert 0 < rows[0]["completion_tokens"] < 200000
    assert rows[0]["cost"] > 0


@pytest.mark.parametrize("change, param", [
    ({"parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL", "timeout_total": 300}},
     "parameters.timeout_total"),
    ({"parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL", "retries": -1}}, "parameters.retries"),
    ({"parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL", "timeout_total": 5,
                     "timeout_first_byte": 9}}, "parameters.timeout_first_byte"),
    ({"pool": [{"model": "no-such-deployment"}]}, "pool.0.model"),
    ({"pool": [{"model": "gpt-4o-mini", "weight": 0}]}, "pool.0.weight"),
    ({"pool": [{"model": "gpt-4o-mini", "region": "x"}]}, "pool.0.region"),
])
def test_invalid_pools_and_policies_are_400_naming_the_field(admin, change, param):
    doc = {**deployment("rz-invalid"), **change}
    resp = admin.put("/v1/organization/models/rz-invalid", json=doc)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_a_pool_member_cannot_be_deleted_while_in_use(put, admin):
    put(deployment("rz-member"))
    put(pool("rz-user", [{"model": "rz-member"}]))
    resp = admin.delete("/v1/organization/models/rz-member")
    assert resp.status_code == 409
    assert "rz-user" in resp.json()["error"]["message"]
