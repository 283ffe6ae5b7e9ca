"""Batches of `/v1/responses` lines end to end with the official openai SDK over real sockets
(runner process, local hub, provider simulator), on SQLite and on the Cosmos DB test server
with Azurite: output bodies are Response objects, stored lines are retrievable by their
project only, bad lines fail the batch naming the field, cancel stops the lines not started."""
from __future__ import annotations

import json

import openai
import pytest
from openai.types.responses import Response

from .batch_support import batch_gateway, openai_for, usage_rows  # noqa: F401 (fixtures)
from .jobs_support import eventually
from .test_batches import lines_of, upload, wait

ENDPOINT = "/v1/responses"
# gpt-4.1 relays POST /v1/responses natively; a batch line is translated through chat on every
# model, as background responses are.
MODELS = ["gpt-4o-mini", "gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4"]
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture(scope="module")
def alpha(openai_for):
    return openai_for("batchresp-alpha")


@pytest.fixture(scope="module")
def beta(openai_for):
    return openai_for("batchresp-beta")


def line(custom_id: str, model: str = "gpt-4o-mini", **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
            "body": {"model": model, **body}}


def run(client: openai.OpenAI, lines: list, *statuses: str):
    batch = client.batches.create(input_file_id=upload(client, lines), endpoint=ENDPOINT,
                                  completion_window="24h")
    assert batch.endpoint == ENDPOINT and batch.status == "validating"
    return wait(client, batch.id, *statuses)


def bodies(client: openai.OpenAI, file_id: str) -> dict[str, Response]:
    found = {}
    for custom_id, out in lines_of(client, file_id).items():
        assert out["error"] is None and out["response"]["status_code"] == 200
        found[custom_id] = Response.model_validate(out["response"]["body"])
    return found


def test_a_responses_batch_over_several_models(alpha, beta):
    lines = [line(f"r-{m}", m, input=f"batch responses to {m}", instructions="Be brief.",
                  metadata={"model": m}) for m in MODELS]
    done = run(alpha, lines)
    assert done.status == "completed", done
    assert (done.request_counts.completed, done.request_counts.failed) == (len(MODELS), 0)
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    found = bodies(alpha, done.output_file_id)
    assert set(found) == {f"r-{m}" for m in MODELS}
    for m in MODELS:
        resp = found[f"r-{m}"]
        assert resp.object == "response" and resp.id.startswith("resp_")
        assert resp.status == "completed" and resp.model == m and resp.background is False
        assert f"batch responses to {m}" in resp.output_text
        assert resp.instructions == "Be brief." and resp.metadata == {"model": m}
        assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
        assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
        assert resp.store is True
        # Stored: the project reads it back exactly as the output file has it; no one else.
        again = alpha.responses.retrieve(resp.id)
        assert again.model_dump() == resp.model_dump()
        items = alpha.responses.input_items.list(resp.id)
        assert items.data[0].content[0].text == f"batch responses to {m}"
        with pytest.raises(openai.NotFoundError):
            beta.responses.retrieve(resp.id)
    with pytest.raises(openai.BadRequestError):          # not a background response
        alpha.responses.cancel(found["r-gpt-4o-mini"].id)


def test_a_stored_line_is_continued_and_a_line_continues_a_response(alpha, sim):
    first = alpha.responses.create(model="gpt-4o-mini", input="the sky-marker fact")
    done = run(alpha, [line("next", "claude-sonnet-4", input="and then?",
                            previous_response_id=first.id)])
    assert done.status == "completed", done.errors
    resp = bodies(alpha, done.output_file_id)["next"]
    assert resp.previous_response_id == first.id and resp.status == "completed"
    seen = [r for r in sim.get("/_sim/requests").json()["requests"]
            if "and then?" in json.dumps(r["body"])]
    assert seen and "sky-marker" in json.dumps(seen[-1]["body"])      # the history went along
    after = alpha.responses.create(model="gemini-2.5-flash", input="more",
                                   previous_response_id=resp.id)
    assert after.status == "completed"


def test_store_false_lines_are_not_kept(alpha):
    done = run(alpha, [line("unstored", input="forget me", store=False)])
    resp = bodies(alpha, done.output_file_id)["unstored"]
    assert resp.store is False and "forget me" in resp.output_text
    with pytest.raises(openai.NotFoundError):
        alpha.responses.retrieve(resp.id)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4"])
def test_a_function_tool_gives_a_function_call_item(alpha, model):
    done = run(alpha, [line("tool", model, input="weather in Paris?", tools=[WEATHER])])
    resp = bodies(alpha, done.output_file_id)["tool"]
    call = next(item for item in resp.output if item.type == "function_call")
    assert call.name == "get_weather" and call.call_id and json.loads(call.arguments)
    assert resp.tools[0].name == "get_weather"


def test_bad_lines_fail_the_batch_naming_the_field(alpha, beta, sim):
    theirs = beta.responses.create(model="gpt-4o-mini", input="beta's own")
    lines = [line("ok", input="fine-responses-marker"),
             line("streams", input="x", stream=True),
             line("background", input="x", background=True),
             line("search", input="x", tools=[{"type": "web_search"}]),
             line("native-search", "gpt-4.1", input="x", tools=[{"type": "web_search"}]),
             line("shape", input=5),
             line("role", input=[{"type": "message", "role": "robot", "content": "x"}]),
             line("stranger", input="x", previous_response_id=theirs.id),
             line("chat-body", messages=[{"role": "user", "content": "x"}]),
             {**line("wrong-url", input="x"), "url": "/v1/chat/completions"}]
    done = run(alpha, lines)
    assert done.status == "failed" and done.output_file_id is None
    by_line = {e.line: e for e in done.errors.data}
    assert sorted(by_line) == list(range(2, 11))
    assert by_line[2].param == "body.stream"
    assert by_line[3].param == "body.background"
    assert (by_line[4].param, by_line[4].code) == ("body.tools[0].type", "unsupported_tool_type")
    assert by_line[5].param == "body.tools[0].type"
    assert by_line[6].param == "body.input"
    assert by_line[7].param == "body.input[0].role"
    assert (by_line[8].param, by_line[8].code) == ("body.previous_response_id",
                                                   "response_not_found")
    assert by_line[9].param == "body.messages"
    assert by_line[10].param == "url"
    assert not any("fine-responses-marker" in json.dumps(r["body"])
                   for r in sim.get("/_sim/requests").json()["requests"])


def test_cancel_stops_the_lines_not_yet_started(alpha, sim):
    sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 400, "count": 60})
    lines = [line(f"slow-{i}", "gpt-4.1", input=f"cancel-resp-marker {i}") for i in range(60)]
    batch = alpha.batches.create(input_file_id=upload(alpha, lines), endpoint=ENDPOINT,
                                 completion_window="24h")
    eventually(lambda: alpha.batches.retrieve(batch.id).request_counts.completed >= 1,
               "the first line to complete")
    assert alpha.batches.cancel(batch.id).status == "cancelling"
    done = wait(alpha, batch.id, "cancelled")
    counts = done.request_counts
    assert counts.total == 60 and 1 <= counts.completed < 60
    assert counts.completed + counts.failed == 60
    assert len(bodies(alpha, done.output_file_id)) == counts.completed
    skipped = lines_of(alpha, done.error_file_id).values()
    assert skipped and all(s["response"] is None and s["error"]["code"] == "batch_cancelled"
                           for s in skipped)
    ran = sum("cancel-resp-marker" in json.dumps(r["body"])
              for r in sim.get("/_sim/requests").json()["requests"])
    assert ran == counts.completed


def test_usage_rows_say_batch_and_responses(batch_gateway, openai_for):
    client = openai_for("batchresp-metered")
    done = run(client, [line("m1", input="meter me [sim:words=7]"),
                        line("m2", "gemini-2.5-flash", input="meter me too")])
    assert done.status == "completed"
    rows = eventually(lambda: len(r := usage_rows(batch_gateway, "batchresp-metered")) == 2
                      and r, "both lines' usage rows")
    assert all(r.batch and r.operation == "Responses" and r.status == 200 for r in rows)
    assert sorted(r.model for r in rows) == ["gemini-2.5-flash", "gpt-4o-mini"]
    assert 7 in [r.completion_tokens for r in rows]


def test_on_azure_openai_routes(batch_gateway, alpha):
    """`AzureOpenAI(...).batches` (/openai/batches?api-version=) takes the same endpoint, and
    `AzureOpenAI(...).responses` reads a stored line back (/openai/responses/{id})."""
    az = openai.AzureOpenAI(azure_endpoint=batch_gateway.url, api_key=alpha.api_key,
                            api_version="2025-04-01-preview", max_retries=0, timeout=60)
    uploaded = az.files.create(file=("r.jsonl", json.dumps(line("az", input="azure line"))
                                     .encode() + b"\n"), purpose="batch")
    batch = az.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                              completion_window="24h")
    done = wait(az, batch.id)
    assert done.status == "completed", done.errors
    resp = bodies(az, done.output_file_id)["az"]
    assert az.responses.retrieve(resp.id).output_text == resp.output_text
