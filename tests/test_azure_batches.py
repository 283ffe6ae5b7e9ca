"""Azure OpenAI's Files and Batch routes, called the way Azure's batch quickstart does: the
`AzureOpenAI` client (`/openai/files`, `/openai/batches` with a dated api-version; the endpoint
and each line's `url` written `/chat/completions`, the line's `model` a deployment name) and
`OpenAI(base_url=.../openai/v1)`. Both storage backends (tests/batch_support.py)."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from .batch_support import batch_gateway, openai_for  # noqa: F401 (fixtures)
from .test_batches import chat_line, lines_of, wait

API_VERSION = "2024-10-21"


def azure_line(custom_id: str, content: str, model: str = "gpt-4o-mini") -> dict:
    return {**chat_line(custom_id, content, model), "url": "/chat/completions"}


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@pytest.fixture(scope="module")
def project(batch_gateway, openai_for):
    """(/v1 client, AzureOpenAI client, /openai/v1 client) of one project."""
    v1 = openai_for("azure-batch")
    az = openai.AzureOpenAI(azure_endpoint=batch_gateway.url, api_key=v1.api_key,
                            api_version=API_VERSION, max_retries=0, timeout=60)
    azure_v1 = openai.OpenAI(base_url=batch_gateway.url + "/openai/v1", api_key=v1.api_key,
                             max_retries=0, timeout=60)
    return v1, az, azure_v1


def test_azure_batch_quickstart(project):
    v1, az, _ = project
    lines = [azure_line(f"task-{i}", f"azure batch {i}",
                        ["gpt-4o-mini", "gemini-2.5-flash"][i % 2]) for i in range(6)]
    raw = az.files.with_raw_response.create(file=("test.jsonl", jsonl(lines)), purpose="batch")
    assert raw.http_request.url.path == "/openai/files"
    assert raw.http_request.url.params["api-version"] == API_VERSION
    uploaded = raw.parse()
    assert uploaded.purpose == "batch" and uploaded.status == "processed"
    assert az.files.retrieve(uploaded.id).bytes == uploaded.bytes

    batch = az.batches.create(input_file_id=uploaded.id, endpoint="/chat/completions",
                              completion_window="24h")
    assert batch.endpoint == "/chat/completions"          # the spelling its creator used
    done = wait(az, batch.id)
    assert done.status == "completed", done.errors
    assert (done.request_counts.total, done.request_counts.completed) == (6, 6)
    out = lines_of(az, done.output_file_id)
    assert set(out) == {f"task-{i}" for i in range(6)}
    for i in range(6):
        body = out[f"task-{i}"]["response"]["body"]
        assert out[f"task-{i}"]["response"]["status_code"] == 200
        assert f"azure batch {i}" in body["choices"][0]["message"]["content"]
    assert batch.id in [b.id for b in az.batches.list()]
    # One project, whatever the surface: the /v1 client sees the same batch and files.
    assert v1.batches.retrieve(batch.id).status == "completed"
    assert v1.files.content(done.output_file_id).text == az.files.content(
        done.output_file_id).text
    assert az.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        az.files.retrieve(uploaded.id)


def test_v1_surface_batches_mix_spellings_within_one_endpoint(project):
    _, _, azure_v1 = project
    lines = [{"custom_id": "e1", "method": "POST", "url": "/embeddings",
              "body": {"model": "text-embedding-3-small", "input": "one"}},
             {"custom_id": "e2", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "text-embedding-3-small", "input": "two"}}]
    uploaded = azure_v1.files.create(file=("e.jsonl", jsonl(lines)), purpose="batch")
    batch = azure_v1.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings",
                                    completion_window="24h")
    done = wait(azure_v1, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    body = lines_of(azure_v1, done.output_file_id)["e1"]["response"]["body"]
    assert openai.types.CreateEmbeddingResponse.model_validate(body).data[0].embedding


def test_a_line_for_another_endpoint_fails_the_batch_naming_url(project):
    _, az, _ = project
    lines = [azure_line("ok", "fine"),
             {**azure_line("wrong", "x"), "url": "/embeddings"},
             {**azure_line("not-a-string", "x"), "url": ["/chat/completions"]}]
    uploaded = az.files.create(file=("bad.jsonl", jsonl(lines)), purpose="batch")
    done = wait(az, az.batches.create(input_file_id=uploaded.id, endpoint="/chat/completions",
                                      completion_window="24h").id)
    assert done.status == "failed"
    assert [(e.line, e.code, e.param) for e in done.errors.data] == [
        (2, "invalid_url", "url"), (3, "invalid_url", "url")]


def test_cancel_through_the_azure_route(project, sim):
    _, az, _ = project
    sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 400, "count": 30})
    lines = [azure_line(f"slow-{i}", "slow", "gpt-4.1") for i in range(30)]
    uploaded = az.files.create(file=("slow.jsonl", jsonl(lines)), purpose="batch")
    batch = az.batches.create(input_file_id=uploaded.id, endpoint="/chat/completions",
                              completion_window="24h")
    assert az.batches.cancel(batch.id).status in ("cancelling", "cancelled")
    done = wait(az, batch.id, "cancelled")
    assert done.request_counts.completed < 30


def test_routes_check_api_version_endpoint_and_project(batch_gateway, project, openai_for):
    v1, az, azure_v1 = project
    url, key = batch_gateway.url, v1.api_key
    missing = httpx.get(url + "/openai/files", headers={"api-key": key})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "api-version"
    dated_on_v1 = httpx.get(url + "/openai/v1/batches", params={"api-version": API_VERSION},
                            headers={"api-key": key})
    assert dated_on_v1.status_code == 400
    uploaded = az.files.create(file=("a.jsonl", jsonl([azure_line("a", "b")])), purpose="batch")
    with pytest.raises(openai.BadRequestError) as bad:
        az.batches.create(input_file_id=uploaded.id, endpoint="/completions",
                          completion_window="24h")
    assert bad.value.body["param"] == "endpoint"
    assert "/chat/completions" in bad.value.body["message"]
    for endpoint in (["/chat/completions"], {"/chat/completions": 1}, None, 7):
        resp = httpx.post(url + "/openai/batches", params={"api-version": API_VERSION},
                          headers={"api-key": key}, json={
                              "input_file_id": uploaded.id, "endpoint": endpoint,
                              "completion_window": "24h"})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "endpoint"
    batch = az.batches.create(input_file_id=uploaded.id, endpoint="/chat/completions",
                              completion_window="24h")
    stranger_key = openai_for("azure-batch-stranger").api_key
    stranger = openai.AzureOpenAI(azure_endpoint=url, api_key=stranger_key,
                                  api_version=API_VERSION, max_retries=0)
    for call in (stranger.batches.retrieve, stranger.batches.cancel):
        with pytest.raises(openai.NotFoundError):
            call(batch.id)
    for call in (stranger.files.retrieve, stranger.files.content, stranger.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(uploaded.id)
    assert batch.id not in [b.id for b in stranger.batches.list()]
    assert uploaded.id not in [f.id for f in stranger.files.list()]
