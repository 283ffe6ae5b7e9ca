"""Anthropic's Messages API (`/v1/messages`) with the official `anthropic` SDK over a real socket:
Claude on Vertex natively (rawPredict relayed), every other chat model translated via chat."""
from __future__ import annotations

import json
import uuid

import anthropic
import httpx
import pytest

NATIVE = "claude-sonnet-4"
NATIVE_CODE = "claude-sonnet-4@20250514"
TRANSLATED = ["gpt-4o-mini", "gemini-2.5-flash"]
MODELS = [NATIVE] + TRANSLATED

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object",
                            "properties": {"city": {"type": "string"},
                                           "unit": {"type": "string", "enum": ["c", "f"]}},
                            "required": ["city"]}}
WEATHER_ARGS = {"city": "simulated", "unit": "c"}


@pytest.fixture(scope="module")
def claude(gateway, key) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0, timeout=30)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def received(sim, suffix: str) -> list[dict]:
    return [r for r in sim.get("/_sim/requests").json()["requests"] if r["path"].endswith(suffix)]


@pytest.mark.parametrize("model", MODELS)
def test_create(claude, sim, model):
    message = claude.messages.create(model=model, max_tokens=100, messages=ask("hello claude"))
    assert message.type == "message" and message.role == "assistant"
    assert message._request_id.startswith("req_")          # Anthropic's request-id header
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "[simulated] hello claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 3
    native = received(sim, f"/publishers/anthropic/models/{NATIVE_CODE}:rawPredict")
    if model == NATIVE:         # relayed: the body as sent, without `model`, with Vertex's version
        assert message.id.startswith("msg_vrtx_")
        assert len(native) == 1
        assert "model" not in native[0]["body"]
        assert native[0]["body"]["anthropic_version"] == "vertex-2023-10-16"
        assert native[0]["body"]["messages"] == ask("hello claude")
    else:
        assert native == []


@pytest.mark.parametrize("model", MODELS)
def test_stream_helpers(claude, model):
    with claude.messages.stream(model=model, max_tokens=100,
                                messages=ask("stream these words please")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "[simulated] stream these words please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5 and final.usage.input_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_stream_event_sequence(gateway, key, model):
    """The raw events, in Anthropic's documented order, ping included."""
    with httpx.stream("POST", gateway + "/v1/messages", timeout=30,
                      headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                      json={"model": model, "max_tokens": 50, "stream": True,
                            "messages": ask("one two")}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    events = [line[7:] for line in body.split("\n") if line.startswith("event: ")]
    datas = [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: ")]
    assert [d["type"] for d in datas] == events
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}
    assert datas[-2]["delta"]["stop_reason"] == "end_turn"
    assert datas[-2]["usage"]["output_tokens"] == 3


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(claude, model, stream):
    messages = ask("weather in Paris?")
    if stream:
        with claude.messages.stream(model=model, max_tokens=200, tools=[WEATHER],
                                    messages=messages) as s:
            first = s.get_final_message()
    else:
        first = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER],
                                       messages=messages)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == WEATHER_ARGS and call.id
    follow_up = messages + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "sunny"}]}]
    answer = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER],
                                    messages=follow_up)
    assert answer.content[0].text == "[simulated] tool result: sunny"
    assert answer.stop_reason == "end_turn"


def test_tool_choice_and_stop_sequences_translate(claude, sim):
    message = claude.messages.create(
        model="gpt-4o-mini", max_tokens=20, tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        stop_sequences=["END"], metadata={"user_id": "u-1"},
        # This SDK no longer lists the sampling fields; the API still takes them.
        extra_body={"temperature": 0.5, "top_p": 0.9},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=ask("weather?"))
    assert message.content[0].type == "tool_use"
    chat = received(sim, "/chat/completions")[-1]["body"]
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["stop"] == ["END"] and chat["temperature"] == 0.5 and chat["top_p"] == 0.9
    assert chat["user"] == "u-1" and chat["max_completion_tokens"] == 20
    assert chat["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_thinking_native(claude, sim):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    message = claude.messages.create(model=NATIVE, max_tokens=2048, thinking=thinking,
                                     messages=ask("think first"))
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert "think first" in message.content[0].thinking and message.content[0].signature
    with claude.messages.stream(model=NATIVE, max_tokens=2048, thinking=thinking,
                                messages=ask("think first")) as stream:
        final = stream.get_final_message()
    assert final.content[0].model_dump() == message.content[0].model_dump()
    assert final.content[1].text == "[simulated] think first"
    assert received(sim, ":streamRawPredict")[-1]["body"]["thinking"] == thinking


def test_cache_control_survives_and_cache_tokens_are_metered(gateway, admin, make_key, sim,
                                                             store_kind):
    c = anthropic.Anthropic(base_url=gateway, api_key=make_key("msg-cache"), max_retries=0)
    # The simulator's prompt cache lives as long as it does: a prefix of this run's own.
    system = [{"type": "text", "text": f"{store_kind} {uuid.uuid4().hex} "
               + "You are a careful assistant. " * 20,
               "cache_control": {"type": "ephemeral"}}]
    user = [{"type": "text", "text": "a long document " * 10, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "summarize it"}]
    first = c.messages.create(model=NATIVE, max_tokens=100, system=system,
                              messages=[{"role": "user", "content": user}])
    with c.messages.stream(model=NATIVE, max_tokens=100, system=system,
                           messages=[{"role": "user", "content": user}]) as stream:
        second = stream.get_final_message()
    body = received(sim, ":rawPredict")[-1]["body"]
    assert body["system"] == system and body["messages"][0]["content"] == user
    cached = 2 + 5 * 20 + 3 * 10
    assert first.usage.cache_creation_input_tokens == cached
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == cached
    assert second.usage.cache_creation_input_tokens == 0
    rows = admin.get("/v1/organization/projects/msg-cache/usage").json()["data"]
    by_stream = {r["stream"]: r for r in rows}
    # Cache writes and reads are input tokens: counted into prompt_tokens, for streams too.
    assert by_stream[False]["prompt_tokens"] == first.usage.input_tokens + cached
    assert by_stream[True]["prompt_tokens"] == second.usage.input_tokens + cached
    assert by_stream[True]["completion_tokens"] == second.usage.output_tokens
    # ... and priced as their own classes (catalog: input 3, output 15, cache read 0.3, cache
    # write 3.75 per 1M tokens), by hand from Anthropic's own usage objects.
    for row, usage in ((by_stream[False], first.usage), (by_stream[True], second.usage)):
        assert (row["cache_write_input_tokens"], row["cached_input_tokens"]) == (
            usage.cache_creation_input_tokens, usage.cache_read_input_tokens)
        expected = (usage.input_tokens * 3.0 + usage.output_tokens * 15.0
                    + usage.cache_read_input_tokens * 0.3
                    + usage.cache_creation_input_tokens * 3.75) / 1e6
        assert row["cost"] == pytest.approx(expected)


def test_anthropic_usage_folds_cache_classes_into_prompt_tokens():
    from shared.providers import Usage
    from shared.providers.vertex_claude import anthropic_usage
    usage = Usage()
    anthropic_usage({"input_tokens": 5, "cache_creation_input_tokens": 7,
                     "cache_read_input_tokens": 11, "output_tokens": 1}, usage)   # message_start
    anthropic_usage({"output_tokens": 42}, usage)                                 # message_delta
    assert (usage.prompt_tokens, usage.completion_tokens) == (23, 42)
    assert (usage.cache_write_input_tokens, usage.cached_input_tokens) == (7, 11)


@pytest.mark.parametrize("model", MODELS)
def test_count_tokens(claude, gateway, key, sim, model):
    counted = claude.messages.count_tokens(model=model, system="be nice",
                                           messages=ask("count these four words"))
    assert counted.input_tokens > 0
    raw = httpx.post(gateway + "/v1/messages/count_tokens", headers={"x-api-key": key},
                     json={"model": model, "messages": ask("count these four words")})
    kind = raw.headers["x-llmproxy-token-count"]
    calls = received(sim, "/publishers/anthropic/models/count-tokens:rawPredict")
    if model == NATIVE:
        assert counted.input_tokens == 6 and kind == "provider"
        assert calls[-1]["body"]["model"] == NATIVE_CODE
    else:
        assert kind == "estimate" and calls == []


def test_errors_have_anthropic_types(gateway, key, sim):
    bad_key = anthropic.Anthropic(base_url=gateway, api_key="llmp-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad_key.messages.create(model=NATIVE, max_tokens=10, messages=ask("x"))
    assert caught.value.body == {"type": "error", "error": {
        "type": "authentication_error", "message": "Incorrect API key provided."},
        "request_id": caught.value.response.headers["x-request-id"]}
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]
    c = anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        c.messages.create(model="no-such-model", max_tokens=10, messages=ask("x"))
    assert caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as caught:
        c.messages.create(model=NATIVE, max_tokens=0, messages=ask("x"))
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in caught.value.body["error"]["message"]


@pytest.mark.parametrize("status, error, kind", [
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
])
def test_provider_failures_map_to_anthropic_errors(claude, sim, status, error, kind):
    sim.post("/_sim/faults", json={"match": NATIVE_CODE, "status": status, "retry_after": 30,
                                   "count": 5})
    with pytest.raises(error) as caught:
        claude.messages.create(model=NATIVE, max_tokens=10, messages=ask("x"))
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == kind


def test_claude_rejection_relays_as_invalid_request(claude, sim):
    """Claude refuses an unknown field in Anthropic's envelope: a 400 naming it (the gateway
    leaves fields it does not know to Claude on the native path)."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model=NATIVE, max_tokens=10, messages=ask("x"),
                               extra_body={"bogus": 1})
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "bogus: Extra inputs are not permitted" in caught.value.body["error"]["message"]


@pytest.mark.parametrize("model", MODELS)
def test_stream_broken_midway_ends_with_an_anthropic_error_event(claude, sim, model):
    code = NATIVE_CODE if model == NATIVE else model
    sim.post("/_sim/faults", json={"match": code, "cut_after_chunks": 4})
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(model=model, max_tokens=100,
                                    messages=ask("a b c d e f g h i j")) as stream:
            for _ in stream:
                pass
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "api_error"


def test_rate_limited_project_gets_rate_limit_error(gateway, admin, make_key):
    admin.put("/v1/organization/projects/msg-limited/limits", json={"requests_per_minute": 1})
    c = anthropic.Anthropic(base_url=gateway, api_key=make_key("msg-limited"), max_retries=0)
    c.messages.create(model="gpt-4o-mini", max_tokens=10, messages=ask("x"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        c.messages.create(model="gpt-4o-mini", max_tokens=10, messages=ask("x"))
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    admin.delete("/v1/organization/projects/msg-limited/limits")


def test_translated_models_refuse_what_chat_cannot_carry(claude):
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="gpt-4o-mini", max_tokens=10, messages=ask("x"),
                               extra_body={"top_k": 5})
    assert "top_k" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="gpt-4o-mini", max_tokens=10, messages=ask("x"),
                               tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert "tools.0.type" in caught.value.body["error"]["message"]


def test_oversized_body_is_request_too_large(gateway, key):
    resp = httpx.post(gateway + "/v1/messages", headers={"x-api-key": key},
                      content=b'{"model": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert resp.status_code == 413
    assert resp.json()["error"]["type"] == "request_too_large"


def test_models_list_in_anthropic_shape(claude, client):
    page = claude.models.list()
    ids = [m.id for m in page.data]
    assert NATIVE in ids and "gpt-4o-mini" in ids
    assert all(m.type == "model" and m.display_name for m in page.data)
    assert claude.models.retrieve(NATIVE).id == NATIVE
    assert client.models.list().data[0].object == "model"      # OpenAI's shape without the header


# -- Claude Code-shaped traffic ----------------------------------------------------------------
# Shaped after what Claude Code 2.1.328 sends (captured against a local listener): POST
# /v1/messages?beta=true with a bearer token, these betas, `x-app: cli`, cache_control on the
# system prompt, a mid-conversation `system` message, adaptive thinking, `output_config`,
# `context_management`, a deferred-loading tool among its tools; streamed. files-api is added
# as a beta Vertex does not know.
CLAUDE_CODE_BETAS = ["claude-code-20250219", "interleaved-thinking-2025-05-14",
                     "context-management-2025-06-27", "thinking-token-count-2026-05-13",
                     "advanced-tool-use-2025-11-20", "files-api-2025-04-14"]
FORWARDED_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,"
                   "context-management-2025-06-27,thinking-token-count-2026-05-13,"
                   "tool-search-tool-2025-10-19")


def claude_code_request(model: str) -> dict:
    tools = [{"name": f"Tool{i}", "description": f"Tool number {i}. " * 20,
              "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                               "required": ["path"]}} for i in range(30)]
    tools.append({"name": "DeferredToolPlaceholder", "description": "never call this tool",
                  "input_schema": {"type": "object", "properties": {}}, "defer_loading": True})
    system = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328;"},
              {"type": "text", "text": "You are a Claude agent.",
               "cache_control": {"type": "ephemeral"}},
              {"type": "text", "text": "Follow the repository's rules. " * 2000,
               "cache_control": {"type": "ephemeral"}}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>ctx</system-reminder>"}]},
        {"role": "system", "content": [{"type": "text", "text": "# Environment\nPlatform: linux"}]},
        {"role": "user", "content": [{"type": "text", "text": "list the files",
                                      "cache_control": {"type": "ephemeral"}}]}]
    return dict(model=model, max_tokens=32000, system=system, tools=tools, messages=messages,
                metadata={"user_id": json.dumps({"device_id": "d", "session_id": "s"})},
                betas=CLAUDE_CODE_BETAS, extra_headers={"x-app": "cli"},
                extra_body={"thinking": {"type": "adaptive", "display": "omitted"},
                            "output_config": {"effort": "high"},
                            "context_management": {"edits": [{"type": "clear_thinking_20251015",
                                                              "keep": "all"}]}})


def test_the_gateways_vertex_betas_are_the_simulators():
    """The gateway forwards only the betas Vertex accepts; the simulator, standing in for
    Vertex, refuses any other. The lists are kept apart on purpose (the simulator must not take
    its idea of Vertex from the gateway); a beta added to one and not the other fails here,
    not as a test passing against a simulator that accepts whatever the gateway sends."""
    from shared.providers import vertex_claude
    from simulator import anthropic as simulated_vertex
    assert vertex_claude.VERTEX_BETAS == simulated_vertex.VERTEX_BETAS
    # The renamed beta is sent under the name Vertex knows, which must be on its list.
    assert set(vertex_claude._BETA_NAMES.values()) <= simulated_vertex.VERTEX_BETAS


@pytest.mark.parametrize("model", MODELS)
def test_claude_code_shaped_traffic(gateway, key, sim, model):
    code = anthropic.Anthropic(base_url=gateway, auth_token=key, max_retries=0, timeout=30)
    with code.beta.messages.stream(**claude_code_request(model)) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[-1].name == "Tool0"
    logged = sim.get("/_sim/requests").json()["requests"][-1]
    if model == NATIVE:
        assert logged["path"].endswith(f"{NATIVE_CODE}:streamRawPredict")
        assert logged["headers"]["anthropic-beta"] == FORWARDED_BETAS
        body = logged["body"]
        assert body["tools"][-1]["defer_loading"] is True
        assert body["system"][2]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][1]["role"] == "system"
        assert body["thinking"]["type"] == "adaptive" and body["output_config"] == {"effort": "high"}
        assert [b.type for b in final.content] == ["thinking", "tool_use"]
        assert final.usage.cache_creation_input_tokens + final.usage.cache_read_input_tokens > 8000
    else:
        assert "anthropic-beta" not in {k.lower() for k in logged["headers"]}
    if model == "gpt-4o-mini":               # the chat request as Azure OpenAI received it
        chat = logged["body"]
        assert [m["role"] for m in chat["messages"]] == ["system", "user", "system", "user"]
        assert len(chat["tools"]) == 31
    counted = code.beta.messages.count_tokens(
        model=model, system=claude_code_request(model)["system"],
        messages=claude_code_request(model)["messages"], betas=CLAUDE_CODE_BETAS)
    assert counted.input_tokens > 6000


# -- the same dispatch path as chat: routing, failover, timeouts, budgets ----------------------

@pytest.fixture
def claude_deployment(admin):
    """A Claude deployment of this test's own (its own code, so faults and breakers are its)."""
    made = []

    def make(model_id: str, **params) -> dict:
        doc = admin.get(f"/v1/organization/models/{NATIVE}").json()
        doc.update(id=model_id, name=model_id, code=f"{model_id}@1")
        doc["parameters"] = {**doc["parameters"], **params}
        assert admin.put(f"/v1/organization/models/{model_id}", json=doc).status_code == 200
        made.append(model_id)
        return doc
    yield make, made
    for model_id in reversed(made):
        admin.delete(f"/v1/organization/models/{model_id}")


@pytest.mark.parametrize("stream", [False, True])
def test_pool_fails_over_from_native_claude_to_a_translated_model(admin, claude, sim,
                                                                 claude_deployment, stream):
    make, made = claude_deployment
    member = make(f"msg-fo-claude-{int(stream)}")
    front = {**admin.get("/v1/organization/models/gpt-4o-mini").json(), "id": f"msg-fo-pool-{int(stream)}",
             "pool": [{"model": member["id"], "priority": 0},
                      {"model": "gpt-4o-mini", "priority": 1}]}
    assert admin.put(f"/v1/organization/models/{front['id']}", json=front).status_code == 200
    made.append(front["id"])
    sim.post("/_sim/faults", json={"match": member["code"], "status": 500, "count": 10})
    if stream:
        with claude.messages.stream(model=front["id"], max_tokens=50,
                                    messages=ask("fail over please")) as s:
            message = s.get_final_message()
    else:
        message = claude.messages.create(model=front["id"], max_tokens=50,
                                         messages=ask("fail over please"))
    assert message.content[0].text == "[simulated] fail over please"
    assert message.model == front["id"]
    paths = [r["path"] for r in sim.get("/_sim/requests").json()["requests"]]
    assert sum(member["code"] in p for p in paths) == 3           # first try and two retries
    assert paths[-1].endswith("/openai/deployments/gpt-4o-mini/chat/completions")


def test_a_native_call_that_never_answers_is_a_timeout_error(claude, sim, claude_deployment):
    make, _ = claude_deployment
    member = make("msg-hang", timeout_total=1, retries=0)
    sim.post("/_sim/faults", json={"match": member["code"], "hang": True, "count": 3})
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(model=member["id"], max_tokens=10, messages=ask("x"))
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"


def test_over_budget_is_permission_error(gateway, admin, make_key):
    project = "msg-budget"
    admin.put(f"/v1/organization/projects/{project}/limits", json={"budget": 0.0000001})
    c = anthropic.Anthropic(base_url=gateway, api_key=make_key(project), max_retries=0)
    try:
        c.messages.create(model=NATIVE, max_tokens=10, messages=ask("spend a little"))
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            c.messages.create(model=NATIVE, max_tokens=10, messages=ask("and more"))
        assert caught.value.body["error"]["type"] == "permission_error"
    finally:
        admin.delete(f"/v1/organization/projects/{project}/limits")
