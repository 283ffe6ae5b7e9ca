"""Chat completions through the gateway with the official openai SDK, against the simulator."""
from __future__ import annotations

import json

import pytest

AZURE_MODELS = ["gpt-4o-mini", "gpt-4.1"]          # deployments surface and v1 surface
VERTEX_MODELS = ["gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]
ALL_MODELS = AZURE_MODELS + VERTEX_MODELS

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string"},
                                      "unit": {"type": "string", "enum": ["c", "f"]}},
                       "required": ["city"]},
    },
}


def test_models_list_shows_the_catalog(client):
    ids = {m.id for m in client.models.list()}
    assert set(ALL_MODELS) <= ids
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


@pytest.mark.parametrize("model", ALL_MODELS)
def test_chat_non_streaming(client, model):
    resp = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello gateway"}])
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content.startswith("[simulated]")
    assert "hello gateway" in resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ALL_MODELS)
def test_chat_streaming_without_usage(client, model):
    chunks = list(client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": "stream me please"}]))
    assert len(chunks) >= 3
    # The gateway asks the upstream for usage to meter the stream, but a client that did not
    # ask must not get the extra choice-less chunk (code doing chunk.choices[0] would break).
    assert all(c.choices for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("[simulated]") and "stream me please" in text
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ALL_MODELS)
def test_chat_streaming_with_include_usage(client, model):
    chunks = list(client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count my tokens"}]))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0


def test_long_stream_arrives_in_many_chunks(client):
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", stream=True,
        messages=[{"role": "user", "content": "go [sim:words=200]"}]))
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 200


@pytest.mark.parametrize("model", ALL_MODELS)
def test_tool_call_round_trip(client, model):
    messages = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert "city" in args
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}]
    second = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert "sunny, 24C" in second.choices[0].message.content


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4"])
def test_streamed_tool_call(client, model):
    stream = client.chat.completions.create(
        model=model, stream=True, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather in Porto?"}])
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                name += tc.function.name or "" if tc.function else ""
                arguments += tc.function.arguments or "" if tc.function else ""
            finish = choice.finish_reason or finish
    assert name == "get_weather"
    assert "city" in json.loads(arguments)
    assert finish == "tool_calls"


def test_unknown_openai_fields_pass_through_to_openai_wire_upstreams(client, sim):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                   extra_body={"prediction": {"type": "content", "content": "x"}})
    body = sim.get("/_sim/requests").json()["requests"][-1]["body"]
    assert body["prediction"] == {"type": "content", "content": "x"}


def test_upstream_receives_catalog_credentials_not_callers(client, sim, key):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    seen = sim.get("/_sim/requests").json()["requests"][-1]
    assert seen["path"] == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert seen["query"].get("api-version") == "2024-10-21"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert "authorization" not in headers            # the caller's gateway key never leaves
    assert key[:8] not in json.dumps(seen)
