"""Per-project limits and budgets, end to end: 429 with OpenAI's headers, 403 over budget, and
as exact under 50 concurrent requests as docs/limits-and-routing.md promises."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.handlers.request_checks import estimate_prompt_tokens

from .conftest import ROOT
from .test_routing import deployment

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def limits(admin):
    touched = []

    def set_limits(project: str, **doc) -> None:
        resp = admin.put(f"/v1/organization/projects/{project}/limits", json=doc)
        assert resp.status_code == 200, resp.text
        touched.append(project)
    yield set_limits
    for project in touched:
        admin.delete(f"/v1/organization/projects/{project}/limits")


def avoid_minute_boundary() -> None:
    """Per-minute windows are UTC minutes: start a burst well inside one (setup, not a check)."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def burst(gateway: str, key: str, n: int, body: dict) -> list[httpx.Response]:
    def one(_):
        return httpx.post(gateway + "/v1/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {key}"})
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in responses:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts


@pytest.mark.parametrize("doc, param", [
    ({"requests_per_minute": 0}, "requests_per_minute"),
    ({"rpm": 5}, "rpm"),
    ({"budget": -1}, "budget"),
    ({"budget_period": "week"}, "budget_period"),
    ({"enforcement": "loose"}, "enforcement"),
    ({"keys": {"key_x": {"enforcement": "approximate"}}}, "keys.key_x.enforcement"),
    ({"keys": {"key_x": {"concurrent_requests": "many"}}}, "keys.key_x.concurrent_requests"),
])
def test_invalid_limits_are_400_naming_the_field(admin, doc, param):
    resp = admin.put("/v1/organization/projects/rl-invalid/limits", json=doc)
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == param


def test_limits_crud(admin, key):
    assert admin.get("/v1/organization/projects/rl-crud/limits").json()["requests_per_minute"] is None
    put = admin.put("/v1/organization/projects/rl-crud/limits", json={"requests_per_minute": 7})
    assert put.status_code == 200 and put.json()["requests_per_minute"] == 7
    assert admin.get("/v1/organization/projects/rl-crud/limits").json()["requests_per_minute"] == 7
    as_project = httpx.put(str(admin.base_url) + "/v1/organization/projects/rl-crud/limits", json={},
                           headers={"Authorization": f"Bearer {key}"})
    assert as_project.status_code == 403
    assert admin.delete("/v1/organization/projects/rl-crud/limits").status_code == 200
    assert admin.delete("/v1/organization/projects/rl-crud/limits").status_code == 404


def test_two_projects_hammering_one_model_only_the_over_limit_one_gets_429(
        gateway, make_key, limits, admin):
    limits("rl-hot", requests_per_minute=5)
    hot, calm = make_key("rl-hot"), make_key("rl-calm")
    body = {"model": "gpt-4o-mini", "messages": MSG}
    avoid_minute_boundary()
    with ThreadPoolExecutor(max_workers=2) as pool:
        hot_f = pool.submit(burst, gateway, hot, 25, body)
        calm_f = pool.submit(burst, gateway, calm, 25, body)
        hot_r, calm_r = hot_f.result(), calm_f.result()
    assert statuses(hot_r) == {200: 5, 429: 20}
    assert statuses(calm_r) == {200: 25}
    refused = next(r for r in hot_r if r.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["x-ratelimit-limit-requests"] == "5"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"].endswith("s")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    rows = admin.get("/v1/organization/projects/rl-hot/usage").json()["data"]
    assert sorted(r["status"] for r in rows) == [200] * 5 + [429] * 20


def test_success_responses_carry_the_rate_limit_headers(gateway, make_key, limits):
    limits("rl-headers", requests_per_minute=50, tokens_per_minute=100000)
    key = make_key("rl-headers")
    avoid_minute_boundary()
    first, second = burst(gateway, key, 1, {"model": "gpt-4o-mini", "messages": MSG}) + \
        burst(gateway, key, 1, {"model": "gpt-4o-mini", "messages": MSG})
    assert first.headers["x-ratelimit-limit-requests"] == "50"
    assert int(second.headers["x-ratelimit-remaining-requests"]) == \
        int(first.headers["x-ratelimit-remaining-requests"]) - 1
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"


def test_requests_per_minute_is_exact_under_50_concurrent_requests(gateway, make_key, limits):
    limits("rl-rpm", requests_per_minute=20)
    avoid_minute_boundary()
    responses = burst(gateway, make_key("rl-rpm"), 50, {"model": "gpt-4o-mini", "messages": MSG})
    assert statuses(responses) == {200: 20, 429: 30}


def test_a_keys_own_limit_applies_on_top_of_the_projects(gateway, admin, make_key, limits):
    tight, free = make_key("rl-keys"), make_key("rl-keys")
    key_id = admin.get("/v1/organization/projects/rl-keys/api_keys").json()["data"][0]["id"]
    limits("rl-keys", requests_per_minute=100, keys={key_id: {"requests_per_minute": 3}})
    avoid_minute_boundary()
    body = {"model": "gpt-4o-mini", "messages": MSG}
    assert statuses(burst(gateway, tight, 10, body)) == {200: 3, 429: 7}
    assert statuses(burst(gateway, free, 10, body)) == {200: 10}


def test_tokens_per_minute_is_exact_under_50_concurrent_requests(gateway, make_key, limits):
    body = {"model": "gpt-4o-mini", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi [sim:words=10]"}]}
    reserve = estimate_prompt_tokens(body) + 10
    tpm = reserve * 6 + reserve // 2
    limits("rl-tpm", tokens_per_minute=tpm)
    key = make_key("rl-tpm")
    avoid_minute_boundary()
    responses = burst(gateway, key, 50, body)
    ok = [r for r in responses if r.status_code == 200]
    counts = statuses(responses)
    assert set(counts) == {200, 429} and len(ok) >= 6
    # What the admitted requests really used never passes the limit (reservations are
    # corrected down to the real count as requests finish, which lets a few more in).
    used = sum(r.json()["usage"]["total_tokens"] for r in ok)
    assert used <= tpm
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["x-ratelimit-limit-tokens"] == str(tpm)
    assert int(refused.headers["x-ratelimit-remaining-tokens"]) < reserve


def test_concurrent_requests_are_exact_under_50_concurrent_requests(
        gateway, admin, make_key, limits, sim):
    resp = admin.put("/v1/organization/models/rl-slow", json=deployment("rl-slow", timeout_total=30))
    assert resp.status_code == 200
    limits("rl-conc", concurrent_requests=4)
    key = make_key("rl-conc")
    # Long enough that no call ends while the burst is still being sent on a loaded machine.
    sim.post("/_sim/faults", json={"match": "rl-slow-dep", "latency_ms": 8000, "count": 50})
    responses = burst(gateway, key, 50, {"model": "rl-slow", "messages": MSG})
    assert statuses(responses) == {200: 4, 429: 46}
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "concurrency_limit_exceeded"
    sim.delete("/_sim/faults")
    # Every slot was given back.
    assert statuses(burst(gateway, key, 4, {"model": "rl-slow", "messages": MSG})) == {200: 4}
    admin.delete("/v1/organization/models/rl-slow")


def test_a_budget_crossed_mid_period_turns_requests_into_403(gateway, make_key, limits, admin):
    # gpt-4.1 costs 2 / 8 per 1M tokens; each call below costs (2*2 + 20*8) / 1e6 = 0.000164.
    limits("rl-budget", budget=0.0005, budget_period="day")
    key = make_key("rl-budget")
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "go [sim:words=20]"}]}
    spent, results = 0.0, []
    for _ in range(6):
        resp = burst(gateway, key, 1, body)[0]
        results.append((resp.status_code, spent >= 0.0005))
        if resp.status_code == 200:
            usage = resp.json()["usage"]
            spent += (usage["prompt_tokens"] * 2 + usage["completion_tokens"] * 8) / 1e6
    # Allowed exactly while the spend so far was under the budget.
    assert [s for s, _ in results] == [200, 200, 200, 200, 403, 403]
    assert all((status == 403) == over for status, over in results)
    refused = burst(gateway, key, 1, body)[0]
    err = refused.json()["error"]
    assert err["type"] == "permission_error" and err["code"] == "budget_exceeded"
    assert "budget" in err["message"] and "renews" in err["message"]
    assert statuses(burst(gateway, make_key("rl-budget-other"), 2, body)) == {200: 2}


def test_a_budget_under_50_concurrent_requests_is_overshot_only_by_requests_in_flight(
        gateway, make_key, limits, admin):
    limits("rl-budget-burst", budget=0.0005)
    key = make_key("rl-budget-burst")
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "go [sim:words=20]"}]}
    responses = burst(gateway, key, 50, body)
    ok = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} <= {200, 403}
    assert len(ok) >= 4                    # never refused before the budget was used
    assert burst(gateway, key, 1, body)[0].status_code == 403


def test_the_cli_manages_limits(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPROXY_")}
    env.update(LLMPROXY_DATA_DIR=str(tmp_path), LLMPROXY_KEY_PEPPER="p", LLMPROXY_ADMIN_KEY="a")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    done = cli("set-limits", "cli-project", "--rpm", "30", "--budget", "12.5")
    assert done.returncode == 0, done.stderr
    done = cli("set-limits", "cli-project", "--key", "key_abc", "--concurrent", "2")
    assert cli("set-limits", "cli-project", "--enforcement", "approximate").returncode == 0
    shown = json.loads(cli("show-limits", "cli-project").stdout)
    assert shown["requests_per_minute"] == 30 and shown["budget"] == 12.5
    assert shown["enforcement"] == "approximate"
    assert shown["keys"]["key_abc"]["concurrent_requests"] == 2
    assert cli("set-limits", "cli-project", "--rpm", "-3").returncode == 1
    assert cli("clear-limits", "cli-project").returncode == 0
    assert json.loads(cli("show-limits", "cli-project").stdout)["requests_per_minute"] is None
