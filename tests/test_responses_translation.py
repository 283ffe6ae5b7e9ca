"""Property tests of the Responses <-> Chat Completions translation (shared/surfaces): random
valid Responses requests survive the trip to chat without losing a field the chat upstream
takes, and random chat answers (whole or split into random chunks) come back as response
objects and event streams that the openai SDK's own types and stream accumulator accept."""
from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from shared.surfaces import responses_output as out
from shared.surfaces.responses import input_items, parse_request
from shared.surfaces.responses_chat import to_chat
from shared.surfaces.responses_stream import ResponsesEvents

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
TEXT = st.text(min_size=1, max_size=30)
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
SCHEMA = st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(
    NAME, st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]),
    max_size=3)})


@st.composite
def items(draw) -> list[dict[str, Any]]:
    """A conversation: messages of every role, and function calls each followed by its output."""
    result = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["message", "message", "call"]))
        if kind == "message":
            role = draw(st.sampled_from(["user", "system", "developer", "assistant"]))
            part = "output_text" if role == "assistant" else "input_text"
            content = draw(st.one_of(TEXT, st.lists(TEXT.map(
                lambda t, p=part: {"type": p, "text": t}), min_size=1, max_size=3)))
            result.append({"type": "message", "role": role, "content": content})
        else:
            call_id = "call_" + draw(NAME)
            result.append({"type": "function_call", "call_id": call_id, "name": draw(NAME),
                           "arguments": json.dumps({"x": draw(TEXT)})})
            result.append({"type": "function_call_output", "call_id": call_id,
                           "output": draw(TEXT)})
    return result


@st.composite
def requests(draw) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "input": draw(st.one_of(TEXT, items()))}
    optional = {
        "instructions": TEXT,
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_output_tokens": st.integers(1, 100_000),
        "parallel_tool_calls": st.booleans(),
        "reasoning": st.fixed_dictionaries({"effort": st.sampled_from(["low", "medium",
                                                                        "high"])}),
        "user": TEXT,
        "metadata": st.dictionaries(NAME, TEXT, max_size=3),
        "text": st.one_of(st.just({"format": {"type": "json_object"}}),
                          st.builds(lambda n, s: {"format": {"type": "json_schema", "name": n,
                                                             "schema": s, "strict": True}},
                                    NAME, SCHEMA)),
        "stream": st.booleans(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    if draw(st.booleans()):
        tools = draw(st.lists(st.builds(lambda n, d, s: {"type": "function", "name": n,
                                                         "description": d, "parameters": s},
                                        NAME, TEXT, SCHEMA),
                              min_size=1, max_size=3, unique_by=lambda t: t["name"]))
        body["tools"] = tools
        body["tool_choice"] = draw(st.sampled_from(
            ["auto", "none", "required", {"type": "function", "name": tools[0]["name"]}]))
    return body


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def back_to_items(messages: list[dict[str, Any]]) -> list[tuple]:
    """What the chat messages say, in Responses terms (the inverse of items_to_messages)."""
    said = []
    for m in messages:
        if m["role"] == "tool":
            said.append(("function_call_output", m["tool_call_id"], m["content"]))
            continue
        if m.get("content") not in (None, ""):
            said.append(("message", m["role"], _text(m["content"])))
        for call in m.get("tool_calls") or []:
            said.append(("function_call", call["id"], call["function"]["name"],
                         call["function"]["arguments"]))
    return said


def said_by(items_: list[dict[str, Any]]) -> list[tuple]:
    said = []
    for item in items_:
        if item["type"] == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            said.append(("message", role, _text(item["content"])))
        elif item["type"] == "function_call":
            said.append(("function_call", item["call_id"], item["name"], item["arguments"]))
        else:
            said.append(("function_call_output", item["call_id"], item["output"]))
    return said


@settings(max_examples=300, deadline=None)
@given(requests())
def test_a_request_survives_the_trip_to_chat(body):
    req = parse_request(body)
    conversation = input_items(req.input)
    chat = to_chat(req, conversation)
    messages = chat["messages"]
    if req.instructions:
        assert messages[0] == {"role": "system", "content": req.instructions}
        messages = messages[1:]
    assert back_to_items(messages) == said_by(conversation)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"),
                         ("max_output_tokens", "max_completion_tokens"), ("user", "user")):
        assert chat.get(theirs) == body.get(ours)
    assert chat.get("reasoning_effort") == (body.get("reasoning") or {}).get("effort")
    fmt = (body.get("text") or {}).get("format", {"type": "text"})
    if fmt["type"] == "json_schema":
        assert chat["response_format"]["json_schema"] == {
            k: fmt[k] for k in ("name", "schema", "strict")}
    else:
        assert chat.get("response_format") == ({"type": "json_object"}
                                               if fmt["type"] == "json_object" else None)
    tools = body.get("tools") or []
    assert [(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
            for t in chat.get("tools", [])] == [
        (t["name"], t["description"], t["parameters"]) for t in tools]
    if tools:
        choice = body["tool_choice"]
        assert chat["tool_choice"] == (choice if isinstance(choice, str) else
                                       {"type": "function", "function": {"name": choice["name"]}})
        assert chat.get("parallel_tool_calls") == body.get("parallel_tool_calls")
    assert chat.get("stream", False) == body.get("stream", False)
    # The response object echoes what was asked, in the SDK's own type.
    echoed = Response.model_validate(out.new_response(req, "resp_1", 1))
    assert echoed.instructions == body.get("instructions")
    assert echoed.metadata == body.get("metadata", {})
    assert echoed.max_output_tokens == body.get("max_output_tokens")
    assert [t.name for t in echoed.tools] == [t["name"] for t in tools]


@st.composite
def answers(draw) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.one_of(st.none(), TEXT))}
    if draw(st.booleans()):
        message["reasoning_content"] = draw(TEXT)
    calls = draw(st.lists(st.tuples(NAME, st.dictionaries(NAME, TEXT, max_size=2)), max_size=3))
    if calls:
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": n, "arguments": json.dumps(a)}}
                                 for i, (n, a) in enumerate(calls)]
    prompt, completion = draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, prompt))},
             "completion_tokens_details": {"reasoning_tokens": draw(st.integers(0, completion))}}
    reason = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"]))
    return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [
        {"index": 0, "message": message, "finish_reason": reason}], "usage": usage}


def _shape(items_: list[dict[str, Any]]) -> list[tuple]:
    """Output items without their generated ids."""
    return [(i["type"], i.get("status"), json.dumps({k: v for k, v in i.items()
                                                      if k not in ("id", "status")},
                                                     sort_keys=True)) for i in items_]


def _chunks(completion: dict[str, Any], cuts: list[int]) -> list[dict[str, Any]]:
    """The completion as a chat stream, its text, reasoning and arguments cut at `cuts`."""
    message = completion["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]

    def pieces(text: str) -> list[str]:
        points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
        return [text[a:b] for a, b in zip(points, points[1:]) if b > a]
    for piece in pieces(message.get("reasoning_content") or ""):
        deltas.append({"reasoning_content": piece})
    for piece in pieces(message.get("content") or ""):
        deltas.append({"content": piece})
    for i, call in enumerate(message.get("tool_calls") or []):
        deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"],
                                                    "arguments": ""}}]})
        for piece in pieces(call["function"]["arguments"]):
            deltas.append({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({"choices": [{"index": 0, "delta": {},
                                "finish_reason": completion["choices"][0]["finish_reason"]}]})
    chunks.append({"choices": [], "usage": completion["usage"]})
    return chunks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.lists(st.integers(0, 60), max_size=6))
def test_an_answer_survives_whole_and_streamed(completion, cuts):
    req = parse_request({"model": "m", "input": "x"})
    whole = out.from_chat(out.new_response(req, "resp_1", 1), json.loads(json.dumps(completion)))
    parsed = Response.model_validate(whole)        # the SDK's type accepts it
    message = completion["choices"][0]["message"]
    assert parsed.output_text == (message.get("content") or "")
    assert parsed.usage.input_tokens_details.cached_tokens == \
        completion["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert parsed.usage.output_tokens_details.reasoning_tokens == \
        completion["usage"]["completion_tokens_details"]["reasoning_tokens"]
    reasoning = [i for i in parsed.output if i.type == "reasoning"]
    assert [r.content[0].text for r in reasoning] == (
        [message["reasoning_content"]] if message.get("reasoning_content") else [])
    calls = [(c.call_id, c.name, c.arguments) for c in parsed.output if c.type == "function_call"]
    assert calls == [(c["id"], c["function"]["name"], c["function"]["arguments"])
                     for c in message.get("tool_calls") or []]
    assert parsed.status == ("incomplete" if completion["choices"][0]["finish_reason"] in
                             ("length", "content_filter") else "completed")

    # Streamed in random pieces: the same response, and events the SDK accumulates.
    events = ResponsesEvents(out.new_response(req, "resp_1", 1))
    sent = events.start()
    for chunk in _chunks(completion, cuts):
        sent += events.chunk(chunk)
    sent += events.end()
    assert [e["sequence_number"] for e in sent] == list(range(len(sent)))
    final = sent[-1]["response"]
    assert final["status"] == whole["status"] and final["usage"] == whole["usage"]
    assert _shape(final["output"]) == _shape(whole["output"])
    state = ResponseStreamState(input_tools=[], text_format=omit)
    for event in sent:                      # each event valid for the SDK's (strict) types
        state.handle_event(EVENT.validate_python(event))
    if final["status"] == "completed":
        assert state._completed_response.output_text == parsed.output_text


@pytest.mark.parametrize("params,url", [
    ({"api_base": "https://r.openai.azure.com/", "api_version": "2024-10-21"},
     "https://r.openai.azure.com/openai/v1/responses"),
    ({"api_base": "https://r.openai.azure.com", "surface": "v1"},
     "https://r.openai.azure.com/openai/v1/responses"),
    ({"api_base": "https://compatible.example/v1", "surface": "openai"},
     "https://compatible.example/v1/responses"),
])
def test_native_responses_go_to_azures_v1_surface_whatever_chat_uses(params, url):
    from shared.catalog import ModelDocument
    from shared.config import Settings
    from shared.providers.openai_wire import OpenAIWireAdapter
    doc = ModelDocument.model_validate({
        "id": "m", "code": "dep", "provider": "Azure", "model_type": "AzureOpenAI",
        "parameters": params, "operations": ["ChatCompletion", "Responses"]})
    target = OpenAIWireAdapter(Settings()).prepare(doc, {**params, "api_key": "k"})
    assert target.responses_url == url and target.model == "dep"
