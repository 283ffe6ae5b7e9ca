"""Store work per request, counted (shared/store/counting.py) on a gateway served over a real
socket with `--store-trace`: a limited project's request makes at most two store round trips
(one to admit, one to release), on both backends; a project without limits makes none for
limits; a realtime voice turn reads its session a few times, not once per audio frame. The
per-scenario table in docs/scale.md comes from bench/store_ops.py, the same way."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter

import httpx
import pytest

from .conftest import (ADMIN_KEY, STORES, cosmos_env, free_port, gateway_env, start, wait_for)
from .realtime_client import Client, silence

LIMITS = {"requests_per_minute": 1000, "tokens_per_minute": 1_000_000,
          "concurrent_requests": 50, "budget": 1000.0}


@pytest.fixture(params=STORES)
def traced_gateway(request, simulator, tmp_path):
    extra = {}
    if request.param == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), "store-ops-tests")
    # Caches outlive a test (a refresh after a TTL is a store read no request caused; the
    # scenarios of one test take longer than the default 30 s).
    extra.update(LLMPROXY_CATALOG_TTL_SECONDS="600", LLMPROXY_KEY_CACHE_TTL_SECONDS="600",
                 LLMPROXY_LIMITS_TTL_SECONDS="600")
    trace = tmp_path / "trace.jsonl"
    port = free_port()
    log = tmp_path / "gateway.log"
    env = gateway_env(simulator, tmp_path / "data", LLMPROXY_REALTIME_CHAT_MODEL="gpt-4o-mini",
                      **extra)
    env.pop("WebPubSubConnectionString", None)           # the runner's local Web PubSub
    proc = start(["-m", "runner", "--port", str(port), "--store-trace", str(trace)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/health", proc, log)
        yield url, trace, request.param
    finally:
        proc.terminate()
        proc.wait(15)


def project_key(admin: httpx.Client, project: str, limits: dict | None = None) -> str:
    """A key of `project`, with `limits` set first (through the management API)."""
    if limits:
        resp = admin.put(f"/v1/organization/projects/{project}/limits", json=limits)
        assert resp.status_code == 200, resp.text
    resp = admin.post(f"/v1/organization/projects/{project}/api_keys", json={"name": "t"})
    assert resp.status_code == 201, resp.text
    return resp.json()["value"]


def records(trace, since: int) -> list[dict]:
    lines = trace.read_text().splitlines()[since:] if trace.exists() else []
    return [json.loads(line) for line in lines]


def settle(trace) -> int:
    """Wait until background writes (usage rows, stream releases) have landed; the line count."""
    count = -1
    while True:
        now = len(trace.read_text().splitlines()) if trace.exists() else 0
        if now == count:
            return now
        count = now
        time.sleep(0.6)


def test_a_limited_projects_request_makes_two_counter_round_trips(traced_gateway):
    url, trace, store = traced_gateway
    # The first request of a minute rolls the counter document over (a read and a replace
    # more, once a minute per scope): start well inside one (setup, not a check).
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    limited = project_key(admin, "ops-lim", LIMITS)
    free = project_key(admin, "ops-free")
    body = {"model": "gpt-4o-mini", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}]}

    def request(key: str, **extra) -> list[dict]:
        for warm in (True, False):            # the first call fills the key and limits caches
            mark = settle(trace)
            resp = httpx.post(url + "/v1/chat/completions", json={**body, **extra}, timeout=30,
                              headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 200, resp.text
            resp.read()
        settle(trace)
        return records(trace, mark)

    for stream in (False, True):
        done = request(limited, stream=stream)
        counter_calls = [r["op"] for r in done if r["layer"] == "store"
                         if "counters" in r["op"]]
        assert counter_calls == ["patch_counters", "patch_counters"], done
        if store == "cosmos":
            cosmos = [(r["container"], r["op"]) for r in done if r["layer"] == "cosmos"]
            # The usage write also adds to the hour's and the day's rollup (docs/costs.md):
            # one ETag-guarded replace each, per usage batch (here a batch of one row).
            assert sorted(cosmos) == [("counters", "patch_item"), ("counters", "patch_item"),
                                      ("usage", "upsert_item"), ("usage_daily", "replace_item"),
                                      ("usage_hourly", "replace_item")], cosmos
    unlimited = request(free)
    assert [r["op"] for r in unlimited if r["layer"] == "store"] == ["record_usage"]


def test_an_approximate_projects_requests_share_one_push_a_second(traced_gateway):
    url, trace, store = traced_gateway
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    key = project_key(admin, "ops-approx", {**LIMITS, "enforcement": "approximate"})
    limits = admin.get("/v1/organization/projects/ops-approx/limits").json()
    assert limits["enforcement"] == "approximate"
    body = {"model": "gpt-4o-mini", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}]}
    mark = settle(trace)
    began = time.monotonic()
    for _ in range(8):
        resp = httpx.post(url + "/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-ratelimit-limit-requests"] == "1000"
    seconds = time.monotonic() - began
    settle(trace)
    calls = [r["op"] for r in records(trace, mark) if r["layer"] == "store"
             if "counters" in r["op"]]
    # A read of the totals when the project is first seen, then at most one push a second
    # (the last one after the burst) whatever the number of requests.
    assert 1 <= calls.count("patch_counters") <= 2 + int(seconds), calls
    assert calls.count("patch_counters") < 8


def test_the_newer_surfaces_read_no_catalog_key_or_limits_per_request(traced_gateway):
    """Responses (translated and native, stored or not, continued), Messages (native Claude,
    translated, count_tokens) and the Azure routes make the store calls of a chat completion
    (a usage row; the project's counters when limited) plus their own response documents, and
    nothing else: the catalog, the key and the limits come from the caches chat uses."""
    url, trace, _ = traced_gateway
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    key = project_key(admin, "ops-surfaces")
    openai_auth = {"Authorization": f"Bearer {key}"}
    anthropic_auth = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    turn = [{"role": "user", "content": "hi"}]
    ids: dict[str, str] = {}

    def post(path: str, body: dict, headers: dict) -> httpx.Response:
        resp = httpx.post(url + path, json=body, headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        resp.read()
        return resp

    def ops(path: str, body: dict, headers: dict = openai_auth) -> list[str]:
        post(path, body, headers)                  # the first call of a kind fills caches
        mark = settle(trace)
        resp = post(path, body, headers)
        settle(trace)
        if path == "/v1/responses" and not body.get("stream") and body.get("store", True):
            ids[body["model"]] = resp.json()["id"]
        return sorted(r["op"] for r in records(trace, mark) if r["layer"] == "store")

    usage, stored = ["record_usage"], ["put_response", "record_usage"]
    for model in ("gpt-4o-mini", "gpt-4.1"):          # translated, native
        assert ops("/v1/responses", {"model": model, "input": "hi"}) == stored
        assert ops("/v1/responses", {"model": model, "input": "hi", "store": False}) == usage
        assert ops("/v1/responses", {"model": model, "input": "hi", "stream": True}) == stored
        assert ops("/v1/responses", {"model": model, "input": "more",
                                     "previous_response_id": ids[model]}) == \
            ["get_response", "put_response", "record_usage"]
    for model in ("claude-sonnet-4", "gpt-4o-mini"):  # native, translated
        body = {"model": model, "max_tokens": 20, "messages": turn}
        assert ops("/v1/messages", body, anthropic_auth) == usage
        assert ops("/v1/messages", {**body, "stream": True}, anthropic_auth) == usage
    assert ops("/v1/messages/count_tokens", {"model": "claude-sonnet-4", "messages": turn},
               anthropic_auth) == usage
    azure_auth = {"api-key": key}
    assert ops("/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
               {"messages": turn}, azure_auth) == usage
    assert ops("/openai/v1/chat/completions", {"model": "gpt-4o-mini", "messages": turn},
               azure_auth) == usage
    assert ops("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": turn}) == usage


def calls(done: list[dict]) -> Counter:
    """Store contract calls, and (Cosmos) container operations, by name."""
    return Counter(r["op"] if r["layer"] == "store" else f"{r['container']}.{r['op']}"
                   + ("" if r["status"] == "ok" else f" {r['status']}") for r in done)


def test_a_realtime_voice_turn_reads_its_session_a_few_times_not_per_frame(traced_gateway):
    """One second of audio in ten appends, a session.update, a commit, a response: the session
    used to be read ~55 times (Cosmos; 40 on SQLite), four times per append. Now an append is
    one conditional write of the session and one audio chunk, with no read (its write checks
    the copy is current, shared/realtime/state.py); the other events read it once each."""
    url, trace, store = traced_gateway
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    key = project_key(admin, "ops-voice")
    resp = httpx.post(url + "/v1/realtime/sessions", json={"turn_detection": None},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert resp.status_code == 201, resp.text
    frames = [base64.b64encode(silence(0.1)).decode() for _ in range(10)]

    async def turns() -> list[tuple[list[dict], list[dict]]]:
        client = await Client.open(resp.json()["websocket_url"])
        await client.until("session.created")
        measured = []
        for _ in range(2):                     # the first one warms caches (key, catalog)
            mark = settle(trace)
            for frame in frames:
                await client.send({"type": "input_audio_buffer.append", "audio": frame})
            await client.send({"type": "session.update", "session": {}})   # after the appends
            await client.until("session.updated")
            appended = records(trace, mark)
            await client.send({"type": "input_audio_buffer.commit"})
            await client.until("conversation.item.input_audio_transcription.completed")
            await client.send({"type": "response.create"})
            done = (await client.until("response.done"))[-1]
            assert done["response"]["status"] == "completed", done
            settle(trace)
            measured.append((appended, records(trace, mark)))
        await client.close()
        return measured
    appended, turn = asyncio.run(turns())[-1]

    # The appends (and the session.update after them): no read but the update's own.
    ops = calls(appended)
    assert ops["get_session"] == 1 and ops["replace_session"] == 11, ops
    assert ops["append_audio"] == 10, ops
    # The whole turn: the update, the commit and the response.create read the session once
    # each (the response's cancel watcher may poll once or twice more); 16 writes: 10 appends,
    # the update, the commit's take, the user item, its transcript, the response's start and
    # its outcome.
    ops = calls(turn)
    assert 3 <= ops["get_session"] <= 5 and ops["replace_session"] == 16, ops
    if store == "cosmos":
        assert ops["rt_sessions.read_item"] == ops["get_session"], ops       # none hidden
        assert ops["rt_sessions.replace_item"] == 16, ops                    # none refused
        assert ops["rt_audio.create_item"] == 10, ops
        assert sum(n for op, n in ops.items() if "." in op) <= 55, ops      # was 102
