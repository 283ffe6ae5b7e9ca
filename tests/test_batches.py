"""The Batch API end to end with the official openai SDK over real sockets: a runner process,
its local hub, the provider simulator; on SQLite with files in the data folder and on the
Cosmos DB test server with files in Azurite."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from .batch_support import (batch_gateway, openai_for, put_limits,  # noqa: F401 (fixtures)
                            usage_rows)
from .conftest import ADMIN_KEY
from .jobs_support import eventually
from .test_endpoint_access import private
from .test_limits import avoid_minute_boundary

SLOW = "gpt-4.1"          # latency is injected only for this model, used only by the cancel test


@pytest.fixture(scope="module")
def alpha(openai_for):
    return openai_for("batch-alpha")


@pytest.fixture(scope="module")
def beta(openai_for):
    return openai_for("batch-beta")


def chat_line(custom_id: str, content: str, model: str = "gpt-4o-mini", **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": content}], **body}}


def upload(client: openai.OpenAI, lines: list) -> str:
    data = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    return client.files.create(file=("input.jsonl", data.encode()), purpose="batch").id


def wait(client: openai.OpenAI, batch_id: str, *statuses: str):
    statuses = statuses or ("completed", "failed", "cancelled", "expired")
    return eventually(lambda: (b := client.batches.retrieve(batch_id)).status in statuses and b,
                      f"batch {batch_id} to reach {statuses}")


def lines_of(client: openai.OpenAI, file_id: str) -> dict[str, dict]:
    text = client.files.content(file_id).text
    parsed = [json.loads(l) for l in text.splitlines()]
    return {p["custom_id"]: p for p in parsed}


def test_a_chat_batch_runs_and_its_output_is_keyed_by_custom_id(alpha):
    lines = [chat_line(f"req-{i}", f"batch line {i}") for i in range(25)]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines), endpoint="/v1/chat/completions",
                                 completion_window="24h", metadata={"run": "one"})
    assert batch.object == "batch" and batch.id.startswith("batch_")
    assert batch.status == "validating" and batch.metadata == {"run": "one"}
    assert batch.expires_at - batch.created_at == 24 * 3600
    done = wait(alpha, batch.id)
    assert done.status == "completed", done
    assert (done.request_counts.total, done.request_counts.completed,
            done.request_counts.failed) == (25, 25, 0)
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert done.error_file_id is None and done.output_file_id
    assert done.usage.total_tokens > 0 and done.model == "gpt-4o-mini"
    out = alpha.files.retrieve(done.output_file_id)
    assert out.purpose == "batch_output" and out.filename == f"{batch.id}_output.jsonl"
    results = lines_of(alpha, done.output_file_id)
    assert set(results) == {f"req-{i}" for i in range(25)}
    first = results["req-0"]
    assert first["id"].startswith("batch_req_") and first["error"] is None
    assert first["response"]["status_code"] == 200
    completion = openai.types.chat.ChatCompletion.model_validate(first["response"]["body"])
    assert completion.choices[0].message.content
    assert batch.id in [b.id for b in alpha.batches.list()]


def test_usage_rows_of_batch_lines_say_batch(batch_gateway, alpha):
    alpha.chat.completions.create(model="gpt-4o-mini",
                                  messages=[{"role": "user", "content": "direct"}])
    batch = alpha.batches.create(input_file_id=upload(alpha, [chat_line("u1", "metered")]),
                                 endpoint="/v1/chat/completions", completion_window="24h")
    assert wait(alpha, batch.id).status == "completed"
    rows = eventually(lambda: (r := usage_rows(batch_gateway, "batch-alpha"))
                      and any(not x.batch for x in r) and r, "the direct request's usage row")
    assert any(r.batch and r.status == 200 for r in rows)
    assert any(not r.batch and r.status == 200 for r in rows)


def test_batch_lines_count_against_the_projects_rate_limit(batch_gateway, openai_for):
    limited = openai_for("batch-limited")
    put_limits(batch_gateway, "batch-limited", {"requests_per_minute": 5})
    lines = [chat_line(f"l{i}", f"limited {i}") for i in range(8)]
    avoid_minute_boundary()
    batch = limited.batches.create(input_file_id=upload(limited, lines),
                                   endpoint="/v1/chat/completions", completion_window="24h")
    done = wait(limited, batch.id)
    assert (done.request_counts.completed, done.request_counts.failed) == (5, 3)
    refused = lines_of(limited, done.error_file_id).values()
    assert {r["response"]["status_code"] for r in refused} == {429}


def test_an_embeddings_batch(alpha):
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "text-embedding-3-small", "input": f"text {i}"}}
             for i in range(5)]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines), endpoint="/v1/embeddings",
                                 completion_window="24h")
    done = wait(alpha, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 5
    body = lines_of(alpha, done.output_file_id)["e3"]["response"]["body"]
    assert openai.types.CreateEmbeddingResponse.model_validate(body).data[0].embedding


def test_bad_lines_fail_the_batch_before_anything_runs(alpha, sim):
    lines = [chat_line("ok-1", "fine-marker"),
             "{not json",
             chat_line("ok-1", "a duplicate custom_id"),
             chat_line("ghost", "x", model="no-such-model"),
             chat_line("embedder", "x", model="text-embedding-3-small"),
             {**chat_line("wrong-url", "x"), "url": "/v1/embeddings"},
             {"custom_id": "no-messages", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini"}},
             chat_line("routing", "x", api_base="https://evil.example")]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines),
                                 endpoint="/v1/chat/completions", completion_window="24h")
    done = wait(alpha, batch.id)
    assert done.status == "failed" and done.failed_at and done.output_file_id is None
    by_line = {e.line: e for e in done.errors.data}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8]
    assert by_line[2].code == "invalid_json"
    assert by_line[3].code == "duplicate_custom_id"
    assert by_line[4].code == "model_not_found"
    assert by_line[5].code == "operation_not_supported"
    assert by_line[6].code == "invalid_url" and by_line[6].param == "url"
    assert by_line[7].param == "body.messages"
    assert by_line[8].param and "api_base" in by_line[8].param
    errors = [json.loads(l) for l in alpha.files.content(done.error_file_id).text.splitlines()]
    assert [e["error"]["line"] for e in errors] == [2, 3, 4, 5, 6, 7, 8]
    assert errors[1]["custom_id"] == "ok-1" and "Line 3" in errors[1]["error"]["message"]
    assert not any("fine-marker" in json.dumps(r["body"])
                   for r in sim.get("/_sim/requests").json()["requests"])


def test_a_private_model_is_a_bad_line_for_other_projects(batch_gateway, openai_for):
    doc = {**private("batch-priv-embed", "text-embedding-3-small", "embeddings"),
           "projects": ["batch-owner"]}
    with httpx.Client(base_url=batch_gateway.url, timeout=30,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        assert admin.put(f"/v1/organization/models/{doc['id']}", json=doc).status_code == 200
    line = {"custom_id": "p1", "method": "POST", "url": "/v1/embeddings",
            "body": {"model": doc["id"], "input": "private"}}
    results = {}
    for project in ("batch-owner", "batch-stranger"):
        api = openai_for(project)
        batch = api.batches.create(input_file_id=upload(api, [line]), endpoint="/v1/embeddings",
                                   completion_window="24h")
        results[project] = wait(api, batch.id)
    assert results["batch-owner"].status == "completed"
    stranger = results["batch-stranger"]
    assert stranger.status == "failed"
    assert [(e.line, e.code) for e in stranger.errors.data] == [(1, "model_not_found")]


def test_provider_errors_land_in_the_error_file(alpha, sim):
    sim.post("/_sim/faults", json={"match": "claude-sonnet-4", "status": 400, "count": 1})
    lines = [chat_line("good", "fine"), chat_line("refused", "x", model="claude-sonnet-4")]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines),
                                 endpoint="/v1/chat/completions", completion_window="24h")
    done = wait(alpha, batch.id)
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    assert set(lines_of(alpha, done.output_file_id)) == {"good"}
    refused = lines_of(alpha, done.error_file_id)["refused"]
    assert refused["response"]["status_code"] == 400 and refused["error"] is None
    assert refused["response"]["body"]["error"]["message"]


def test_cancel_midway_stops_the_lines_not_yet_started(alpha, sim):
    sim.post("/_sim/faults", json={"match": SLOW, "latency_ms": 400, "count": 60})
    lines = [chat_line(f"slow-{i}", f"cancel-marker {i}", model=SLOW) for i in range(60)]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines),
                                 endpoint="/v1/chat/completions", completion_window="24h")
    eventually(lambda: alpha.batches.retrieve(batch.id).request_counts.completed >= 1,
               "the first line to complete")
    cancelling = alpha.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    done = wait(alpha, batch.id, "cancelled")
    counts = done.request_counts
    assert counts.total == 60 and counts.completed + counts.failed == 60
    assert 1 <= counts.completed < 60
    ran = sum("cancel-marker" in json.dumps(r["body"])
              for r in sim.get("/_sim/requests").json()["requests"])
    assert ran == counts.completed
    skipped = [l for l in lines_of(alpha, done.error_file_id).values() if l["response"] is None]
    assert skipped and all(l["error"]["code"] == "batch_cancelled" for l in skipped)
    assert len(skipped) == counts.failed
    with pytest.raises(openai.ConflictError):
        alpha.batches.cancel(batch.id)


def test_another_projects_batch_and_files_are_not_found(alpha, beta):
    file_id = upload(alpha, [chat_line("a", "mine")])
    with pytest.raises(openai.NotFoundError):
        beta.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                            completion_window="24h")
    batch = alpha.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                 completion_window="24h")
    for call in (beta.batches.retrieve, beta.batches.cancel):
        with pytest.raises(openai.NotFoundError) as err:
            call(batch.id)
        assert err.value.body["code"] == "batch_not_found"
    assert batch.id not in [b.id for b in beta.batches.list()]
    done = wait(alpha, batch.id)
    with pytest.raises(openai.NotFoundError):
        beta.files.content(done.output_file_id)


@pytest.mark.parametrize("changes, param", [
    ({"endpoint": "/v1/completions"}, "endpoint"),
    ({"completion_window": "1h"}, "completion_window"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"input_file_id": None}, "input_file_id"),
    ({"output_expires_after": {"anchor": "created_at", "seconds": 3600, "x": 1}},
     "output_expires_after"),
])
def test_bad_creates_are_400s_naming_the_field(batch_gateway, alpha, changes, param):
    body = {"input_file_id": upload(alpha, [chat_line("a", "b")]),
            "endpoint": "/v1/chat/completions", "completion_window": "24h", **changes}
    body = {k: v for k, v in body.items() if v is not None}
    resp = httpx.post(batch_gateway.url + "/v1/batches", json=body,
                      headers={"Authorization": f"Bearer {alpha.api_key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_a_user_data_file_is_not_a_batch_input(alpha):
    file_id = alpha.files.create(file=("x.jsonl", b"{}\n"), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as err:
        alpha.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                             completion_window="24h")
    assert err.value.body["code"] == "invalid_file_purpose"
