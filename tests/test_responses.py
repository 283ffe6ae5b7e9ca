"""The Responses API through the gateway with the official openai SDK, over real sockets,
against the simulator's Azure, Gemini, Claude and Llama models (translated through chat)."""
from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from pydantic import BaseModel

from .test_limits import avoid_minute_boundary
from .test_routing import deployment, pool, put, upstream_calls  # noqa: F401 (put: fixture)


# gpt-4.1 lists the `Responses` operation: relayed to the simulated Azure /openai/v1/responses
# (native); the others are translated through chat.
NATIVE = "gpt-4.1"
MODELS = ["gpt-4o-mini", NATIVE, "gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
               "required": ["city"], "additionalProperties": False}}


@pytest.mark.parametrize("model", MODELS)
def test_create_retrieve_list_input_items_and_delete(client, model):
    resp = client.responses.create(model=model, input="hello responses",
                                   instructions="Be brief.", metadata={"case": "crud"})
    assert resp.object == "response" and resp.id.startswith("resp_")
    assert resp.status == "completed" and resp.model == model
    assert resp.output_text.startswith("[simulated]") and "hello responses" in resp.output_text
    message = resp.output[-1]
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.usage.input_tokens_details.cached_tokens == 0
    assert resp.usage.output_tokens_details.reasoning_tokens == 0
    assert resp.instructions == "Be brief." and resp.metadata == {"case": "crud"}

    again = client.responses.retrieve(resp.id)
    assert again.id == resp.id and again.output_text == resp.output_text
    items = client.responses.input_items.list(resp.id)
    assert [(i.type, i.role) for i in items.data] == [("message", "user")]
    assert items.data[0].content[0].text == "hello responses"
    assert items.data[0].id

    client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(resp.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(resp.id)


@pytest.mark.parametrize("model", MODELS)
def test_stream_sends_the_documented_event_sequence(client, model):
    events = list(client.responses.create(model=model, input="stream these words", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[2:5] == ["response.output_item.added", "response.content_part.added",
                          "response.output_text.delta"]
    assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done",
                            "response.output_item.done"]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == text and "stream these words" in text
    final = events[-1].response
    assert final.status == "completed" and final.output_text == text
    assert final.usage.output_tokens > 0
    assert client.responses.retrieve(final.id).output_text == text


@pytest.mark.parametrize("model", ["gpt-4o-mini", NATIVE, "claude-sonnet-4"])
def test_stream_helper_accumulates_the_final_response(client, model):
    with client.responses.stream(model=model, input="helper stream") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas) and "helper stream" in final.output_text


@pytest.mark.parametrize("first,second", [("gpt-4o-mini", "gemini-2.5-flash"),
                                          ("claude-sonnet-4", "llama-3.3-70b"),
                                          (NATIVE, "claude-sonnet-4"),
                                          ("gemini-2.5-flash", NATIVE)])
def test_previous_response_id_continues_on_another_provider(client, sim, first, second):
    one = client.responses.create(model=first, input="remember the word pelican",
                                  instructions="first instructions")
    two = client.responses.create(model=second, input="what was the word",
                                  previous_response_id=one.id)
    assert two.previous_response_id == one.id and "what was the word" in two.output_text
    # The second provider received the whole conversation (not the first instructions).
    seen = json.dumps(sim.get("/_sim/requests").json()["requests"][-1]["body"])
    assert "remember the word pelican" in seen and one.output_text in seen
    assert "what was the word" in seen and "first instructions" not in seen
    items = client.responses.input_items.list(two.id)
    assert [i.content[0].text for i in items.data] == ["what was the word"]


@pytest.mark.parametrize("model", MODELS)
def test_function_tool_round_trip(client, model):
    first = client.responses.create(model=model, input="weather in Paris?", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and call.call_id and call.status == "completed"
    assert json.loads(call.arguments)["city"]
    second = client.responses.create(
        model=model, previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}])
    assert "sunny, 21C" in second.output_text


@pytest.mark.parametrize("model", ["gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4"])
def test_streamed_function_call(client, model):
    events = list(client.responses.create(model=model, input="weather?", tools=[WEATHER],
                                          tool_choice={"type": "function",
                                                       "name": "get_weather"},
                                          stream=True))
    deltas = "".join(e.delta for e in events
                     if e.type == "response.function_call_arguments.delta")
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == deltas and json.loads(deltas)["city"]
    call = events[-1].response.output[-1]
    assert call.type == "function_call" and call.arguments == deltas


def test_function_call_items_given_as_input_reach_the_provider(client, sim):
    resp = client.responses.create(model="gpt-4o-mini", tools=[WEATHER], input=[
        {"role": "user", "content": "weather in Oslo?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "snow"}])
    assert "snow" in resp.output_text
    messages = sim.get("/_sim/requests").json()["requests"][-1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "snow"}


def test_store_false_keeps_nothing(client):
    resp = client.responses.create(model="gpt-4o-mini", input="forget me", store=False)
    assert resp.store is False and resp.status == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(resp.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-4o-mini", input="more",
                                previous_response_id=resp.id)
    assert caught.value.body["param"] == "previous_response_id"


def test_another_projects_response_is_not_found(client, gateway, make_key):
    resp = client.responses.create(model="gpt-4o-mini", input="mine")
    other = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("responses-other"),
                          max_retries=0)
    for attempt in (lambda: other.responses.retrieve(resp.id),
                    lambda: other.responses.input_items.list(resp.id),
                    lambda: other.responses.delete(resp.id),
                    lambda: other.responses.cancel(resp.id),
                    lambda: other.responses.create(model="gpt-4o-mini", input="x",
                                                   previous_response_id=resp.id)):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert client.responses.retrieve(resp.id).id == resp.id


@pytest.mark.parametrize("tool", ["web_search", "file_search", "code_interpreter",
                                  "computer_use_preview"])
def test_built_in_tools_are_refused_naming_the_type(client, tool):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="x", tools=[{"type": tool}])
    assert tool in caught.value.body["message"]
    assert caught.value.body["param"] == "tools[0].type"


@pytest.mark.parametrize("body,param", [
    ({"input": "x", "temperature": 3}, "temperature"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"input": [{"type": "message", "role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ({"input": "x", "api_base": "http://evil"}, "api_base"),
    ({"input": "x", "frobnicate": 1}, "frobnicate"),
    ({}, "input"),
])
def test_bad_input_is_a_400_naming_the_field(client, body, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/responses", cast_to=object, body={"model": "gpt-4o-mini", **body})
    assert caught.value.body["param"] == param


def test_a_cancel_of_a_foreground_response_is_refused(client):
    resp = client.responses.create(model="gpt-4o-mini", input="done already")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(resp.id)


@pytest.mark.parametrize("model", ["gpt-4o-mini", NATIVE])
@pytest.mark.parametrize("stream", [False, True])
def test_responses_are_metered_as_responses(client, admin, model, stream):
    words = "meter me please [sim:words=7]"
    if stream:
        list(client.responses.create(model=model, input=words, stream=True))
    else:
        client.responses.create(model=model, input=words)
    latest = admin.get("/v1/organization/projects/alpha/usage",
                       params={"limit": 5}).json()["data"][0]
    assert (latest["operation"], latest["model"], latest["stream"]) == ("Responses", model,
                                                                        stream)
    assert latest["completion_tokens"] == 7 and latest["prompt_tokens"] > 0


def _poll(client, response_id: str, until: tuple[str, ...], seconds: float = 20):
    deadline = time.monotonic() + seconds
    while True:
        resp = client.responses.retrieve(response_id)
        if resp.status in until or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4"])
def test_background_response_is_queued_then_completed(client, model):
    resp = client.responses.create(model=model, input="in the background", background=True)
    assert resp.status == "queued" and resp.background is True and resp.output == []
    done = _poll(client, resp.id, ("completed", "failed"))
    assert done.status == "completed", done.error
    assert "in the background" in done.output_text and done.usage.output_tokens > 0
    follow = client.responses.create(model="gemini-2.5-flash", input="and then?",
                                     previous_response_id=resp.id)
    assert follow.status == "completed"


def test_background_response_can_be_cancelled(client, sim):
    sim.post("/_sim/faults", json={"match": "", "latency_ms": 1500})
    resp = client.responses.create(model="gpt-4o-mini", input="cancel me", background=True)
    cancelled = client.responses.cancel(resp.id)
    assert cancelled.status == "cancelled"
    time.sleep(2)                        # the slow provider call ends; its result is discarded
    assert client.responses.retrieve(resp.id).status == "cancelled"
    assert client.responses.cancel(resp.id).status == "cancelled"      # idempotent


def test_background_cannot_stream_and_needs_store(client):
    for extra in ({"stream": True}, {"store": False}):
        with pytest.raises(openai.BadRequestError):
            client.post("/responses", cast_to=object, body={
                "model": "gpt-4o-mini", "input": "x", "background": True, **extra})


class Weather(BaseModel):
    city: str
    celsius: int
    sunny: bool
    tags: list[str]


@pytest.mark.parametrize("model", MODELS)
def test_parse_into_a_pydantic_model(client, model):
    resp = client.responses.parse(model=model, input="weather in Rome as JSON",
                                  text_format=Weather)
    assert isinstance(resp.output_parsed, Weather), resp.output_text
    assert Weather.model_validate_json(resp.output_text) == resp.output_parsed


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash"])
def test_json_object_format(client, model):
    resp = client.responses.create(model=model, input="give me json",
                                   text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(resp.output_text), dict)


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4"])
def test_provider_reasoning_becomes_a_reasoning_item(client, sim, model):
    resp = client.responses.create(model=model, input="think it over",
                                   reasoning={"effort": "low"}, max_output_tokens=2048)
    reasoning, message = resp.output[0], resp.output[-1]
    assert reasoning.type == "reasoning" and reasoning.summary == []
    assert reasoning.content[0].type == "reasoning_text"
    assert "think it over" in reasoning.content[0].text
    assert message.type == "message" and "think it over" in resp.output_text
    assert resp.reasoning.effort == "low"
    if model.startswith("gemini"):             # Gemini reports thought tokens apart
        assert resp.usage.output_tokens_details.reasoning_tokens == 6


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4"])
def test_streamed_reasoning_comes_first_as_its_own_item(client, model):
    events = list(client.responses.create(model=model, input="think while streaming",
                                          reasoning={"effort": "low"}, max_output_tokens=2048,
                                          stream=True))
    kinds = [e.type for e in events]
    assert "response.reasoning_text.delta" in kinds
    assert kinds.index("response.reasoning_text.done") < kinds.index(
        "response.output_text.delta")
    thought = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    final = events[-1].response
    assert final.output[0].type == "reasoning" and final.output[0].content[0].text == thought
    assert "think while streaming" in thought and "think while streaming" in final.output_text


def test_native_model_is_relayed_to_azures_responses_endpoint(client, sim):
    raw = client.responses.with_raw_response.create(model=NATIVE, input="native please",
                                                    tools=[{"type": "web_search"}])
    seen = sim.get("/_sim/requests").json()["requests"][-1]
    assert seen["path"] == "/openai/v1/responses"
    # The body is the client's (built-in tools are the provider's to judge), model = deployment.
    assert seen["body"]["tools"] == [{"type": "web_search"}] and seen["body"]["model"] == "gpt-4.1"
    resp = raw.parse()
    assert resp.id.startswith("resp_") and "native please" in resp.output_text
    assert client.responses.retrieve(resp.id).output_text == resp.output_text
    assert json.loads(raw.content)["previous_response_id"] is None


def test_native_stream_is_relayed_event_for_event(client, sim):
    events = list(client.responses.create(model=NATIVE, input="native stream", stream=True))
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    final = events[-1].response
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_a_stream_the_provider_breaks_off_ends_with_response_failed(client, sim):
    sim.post("/_sim/faults", json={"match": "gemini", "cut_after_chunks": 3})
    events = list(client.responses.create(model="gemini-2.5-flash", stream=True,
                                          input="break off [sim:words=40]"))
    assert events[0].type == "response.created" and events[-1].type == "response.failed"
    assert "response.completed" not in [e.type for e in events]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code
    assert failed.output and failed.output[0].content[0].text     # what arrived is kept
    assert client.responses.retrieve(failed.id).status == "failed"


def test_a_native_stream_the_provider_breaks_off_ends_with_response_failed(client, sim):
    """Relayed byte for byte: the client has the events that arrived, then `response.failed`
    carrying the break (mapped to upstream_stream_interrupted), never `response.completed`."""
    sim.post("/_sim/faults", json={"match": NATIVE, "cut_after_chunks": 3})
    events = list(client.responses.create(model=NATIVE, stream=True,
                                          input="break off [sim:words=40]"))
    assert [e.type for e in events] == ["response.created", "response.in_progress",
                                        "response.output_item.added", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "upstream_stream_interrupted"
    assert "broke off" in failed.error.message


def test_project_limits_apply_to_responses(client, gateway, admin, make_key):
    resp = admin.put("/v1/organization/projects/resp-limited/limits", json={"requests_per_minute": 1})
    assert resp.status_code == 200, resp.text
    try:
        limited = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("resp-limited"),
                                max_retries=0)
        avoid_minute_boundary()
        limited.responses.create(model="gpt-4o-mini", input="first")
        for model in ("gpt-4o-mini", NATIVE):
            with pytest.raises(openai.RateLimitError):
                limited.responses.create(model=model, input="second")
    finally:
        admin.delete("/v1/organization/projects/resp-limited/limits")


def test_the_models_policy_limits_name_the_responses_fields(client, admin):
    doc = deployment("resp-bounded", max_messages=2, max_output_tokens=100)
    assert admin.put("/v1/organization/models/resp-bounded", json=doc).status_code == 200
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="resp-bounded", input="x", max_output_tokens=101)
    assert caught.value.body["param"] == "max_output_tokens"
    assert "'max_output_tokens' is 101" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="resp-bounded", instructions="be brief", input=[
            {"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert caught.value.body["param"] == "input"
    native = {**deployment("resp-bounded-native", max_output_tokens=100, surface="v1"),
              "operations": ["ChatCompletion", "Responses"]}
    native["parameters"].pop("api_version")
    assert admin.put("/v1/organization/models/resp-bounded-native", json=native).status_code == 200
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="resp-bounded-native", input="x", max_output_tokens=101)
    assert caught.value.body["param"] == "max_output_tokens"


def test_input_items_pages_in_either_order(client):
    resp = client.responses.create(model="gpt-4o-mini", input=[
        {"role": "user", "content": f"item {n}"} for n in range(5)])
    newest = client.responses.input_items.list(resp.id, limit=2)
    assert [i.content[0].text for i in newest.data] == ["item 4", "item 3"]
    assert newest.has_more and newest.last_id == newest.data[-1].id
    rest = client.responses.input_items.list(resp.id, limit=10, after=newest.last_id)
    assert [i.content[0].text for i in rest.data] == ["item 2", "item 1", "item 0"]
    assert not rest.has_more
    oldest = client.responses.input_items.list(resp.id, order="asc", limit=1)
    assert oldest.data[0].content[0].text == "item 0"
    every = [i.content[0].text for i in client.responses.input_items.list(resp.id, order="asc")]
    assert every == [f"item {n}" for n in range(5)]          # the SDK pages through them
    with pytest.raises(openai.BadRequestError):
        client.responses.input_items.list(resp.id, after="msg_unknown")


def test_routing_fails_over_and_timeouts_apply_as_for_chat(client, sim, admin, put):
    put(deployment("resp-fo-a", retries=0))
    put(deployment("resp-fo-b"))
    put(pool("resp-fo", [{"model": "resp-fo-a"}, {"model": "resp-fo-b", "priority": 1}]))
    sim.post("/_sim/faults", json={"match": "resp-fo-a-dep", "status": 500})
    resp = client.responses.create(model="resp-fo", input="fail over please")
    assert "fail over please" in resp.output_text
    assert upstream_calls(sim) == ["resp-fo-a", "resp-fo-b"]
    # The gateway's request timeout (3 s in the tests) cuts a provider that does not answer.
    put(deployment("resp-slow", retries=0))
    sim.post("/_sim/faults", json={"match": "resp-slow-dep", "latency_ms": 5000})
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(model="resp-slow", input="too slow")
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"


@pytest.mark.parametrize("model", ["gpt-4o-mini", NATIVE])
def test_a_client_that_leaves_a_stream_is_metered_499(gateway, admin, make_key, model):
    project = f"resp-leaver-{model.replace('.', '-')}"
    key = make_key(project)
    with httpx.stream("POST", gateway + "/v1/responses", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "stream": True,
                            "input": "long [sim:words=200000]"}) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(60)]      # a few events, then deltas; then leave
    assert any("response.output_text.delta" in line for line in got)
    rows = []
    for _ in range(100):                      # the row is written once the gateway notices
        rows = admin.get(f"/v1/organization/projects/{project}/usage").json()["data"]
        if rows:
            break
        time.sleep(0.1)
    assert [(r["status"], r["operation"]) for r in rows] == [(499, "Responses")]
    assert 0 < rows[0]["completion_tokens"] < 200000
