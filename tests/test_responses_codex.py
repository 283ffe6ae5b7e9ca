"""OpenAI's Codex CLI against the Responses API.

The replay: tests/fixtures/codex_cli.json holds the requests Codex CLI (the version its
`codex_version` names) sent to a gateway of this repository on each simulator chat model,
captured by scripts/capture_codex.py: a plain turn, a turn where the model calls Codex's shell
tool, and the follow-up carrying the tool's output (Codex sends `store: false` and replays the
whole conversation every turn). Each request is sent again over a real socket with its exact
headers and body, and the answer is read the way Codex reads it (codex-rs/codex-api's SSE
parser: `response.output_item.done` items as its `ResponseItem`s, `response.completed` with the
response id and usage); what Codex showed the user at capture time (its last message) must come
out again.

Then the parts of what Codex sends, one by one, with the openai SDK: namespace tools, custom
(free-form, grammar) tools, client-run tool search with deferred tools, `client_metadata`, the
built-in `web_search` Codex offers unless told not to.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from shared.surfaces import responses_output as out
from shared.surfaces.responses import input_items, parse_request
from shared.surfaces.responses_chat import items_to_messages, to_chat
from shared.surfaces.responses_stream import ResponsesEvents

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "codex_cli.json").read_text())
NATIVE = "gpt-4.1"                     # the simulator catalog's Responses pass-through model
RUNS = [(c["model"], run["name"]) for c in FIXTURE["conversations"] for run in c["runs"]]
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


def expand(value, shared=FIXTURE["shared"]):
    """The captured JSON with every {"$shared": key} (plus an item's own id) filled in."""
    if isinstance(value, dict):
        if "$shared" in value:
            stored = expand(copy.deepcopy(shared[value["$shared"]]))
            rest = {k: v for k, v in value.items() if k != "$shared"}
            return {**stored, **rest} if rest else stored
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def run_of(model: str, name: str) -> dict:
    conversation = next(c for c in FIXTURE["conversations"] if c["model"] == model)
    return expand(next(r for r in conversation["runs"] if r["name"] == name))


def sse_events(raw: bytes) -> list[dict]:
    """The data of each server-sent event, as Codex's eventsource parser splits them."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


# What codex-rs/protocol's ResponseItem needs of each item type it acts on.
CODEX_ITEM_FIELDS = {"message": {"role": str, "content": list},
                     "function_call": {"name": str, "arguments": str, "call_id": str},
                     "custom_tool_call": {"name": str, "input": str, "call_id": str},
                     "tool_search_call": {"call_id": str, "execution": str, "arguments": dict},
                     "reasoning": {"summary": list}}
# Per run: the call the model makes (steered by the prompt's [sim:...] directives), its fields
# that Codex sends back in the follow-up, and what they must say.
CALLS = {"tool": ("function_call", ("name", "arguments"),
                  lambda c: c["name"] == "exec_command"
                  and json.loads(c["arguments"])["cmd"] == "echo codex-was-here"),
         "patch": ("custom_tool_call", ("name", "input"),
                   lambda c: c["name"] == "apply_patch"
                   and c["input"].startswith("*** Begin Patch\n*** Add File: hello.txt\n")),
         "search": ("tool_search_call", ("arguments",),
                    lambda c: c["arguments"]["query"] == "calendar")}
CODEX_CONTENT = ("input_text", "input_image", "output_text")


def check_codex_item(item: dict) -> None:
    for name, kind in CODEX_ITEM_FIELDS[item["type"]].items():
        assert isinstance(item.get(name), kind), (name, item)
    if item["type"] == "message":
        assert all(part["type"] in CODEX_CONTENT for part in item["content"]), item


def replay(gateway: str, key: str, request: dict) -> tuple[httpx.Response, bytes]:
    headers = {k: v.replace("<project key>", key) for k, v in request["headers"].items()}
    with httpx.Client(base_url=gateway, timeout=60) as http:
        with http.stream(request["method"], request["path"], headers=headers,
                         content=json.dumps(request["body"]).encode()) as resp:
            return resp, resp.read()


def tool_names(upstream: dict) -> set[str]:
    """The tool names a provider was offered, in OpenAI chat, Gemini or Anthropic format."""
    names = set()
    for tool in upstream.get("tools") or []:
        if "function" in tool:
            names.add(tool["function"]["name"])
        for declaration in tool.get("functionDeclarations") or tool.get("function_declarations") \
                or []:
            names.add(declaration["name"])
        if "input_schema" in tool:
            names.add(tool["name"])
    return names


def completed(events: list[dict]) -> dict:
    """Checks Codex makes of the stream (and OpenAI's sequence numbering); the final response."""
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert isinstance(final["id"], str) and final["status"] == "completed"
    usage = final["usage"]
    for name in ("input_tokens", "output_tokens", "total_tokens"):
        assert isinstance(usage[name], int) and usage[name] > 0
    assert isinstance(usage["input_tokens_details"]["cached_tokens"], int)
    assert isinstance(usage["output_tokens_details"]["reasoning_tokens"], int)
    return final


def test_the_fixture_is_what_codex_sends():
    """The capture itself: the fields Codex sends every turn, which the gateway must take."""
    assert FIXTURE["codex_version"].startswith("codex-cli ")
    body = run_of("gpt-4o-mini", "plain")["requests"][0]["body"]
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert {"client_metadata", "prompt_cache_key", "reasoning", "parallel_tool_calls",
            "tool_choice"} <= set(body)
    assert {"function", "namespace"} <= {t["type"] for t in body["tools"]}
    assert "web_search" not in {t["type"] for t in body["tools"]}    # config.toml disables it
    known = run_of("gpt-5.5", "plain")["requests"][0]["body"]        # a model Codex knows
    assert {"function", "custom", "tool_search"} <= {t["type"] for t in known["tools"]}
    assert known["reasoning"]["effort"] and known["text"]["verbosity"]
    for model, name in RUNS:
        assert run_of(model, name)["exit_code"] == 0, (model, name)


@pytest.fixture(scope="module")
def codex_models(admin):
    """The catalog copies the capture made under names Codex knows (e.g. gpt-5.5)."""
    made = []
    for conversation in FIXTURE["conversations"]:
        if conversation.get("copy_of"):
            doc = admin.get(f"/v1/organization/models/{conversation['copy_of']}").json()
            model = conversation["model"]
            resp = admin.put(f"/v1/organization/models/{model}",
                             json={**doc, "id": model, "name": model})
            assert resp.status_code == 200, resp.text
            made.append(model)
    yield
    for model in made:
        admin.delete(f"/v1/organization/models/{model}")


@pytest.mark.parametrize("model,name", RUNS)
def test_codex_traffic_replayed(gateway, key, sim, codex_models, model, name):
    run = run_of(model, name)
    answers = []
    for request in run["requests"]:
        sim.delete("/_sim/requests")
        resp, raw = replay(gateway, key, request)
        assert resp.status_code == 200, raw[:500]
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(raw)
        final = completed(events)
        items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        for item in items:
            check_codex_item(item)
        assert [i["type"] for i in final["output"]] == [i["type"] for i in items]
        answers.append(items)
        upstream = [r for r in sim.get("/_sim/requests").json()["requests"]
                    if r["path"] != "/token"]          # Vertex's OAuth token, when it is due
        assert len(upstream) == 1
        if model == NATIVE:            # relayed as Codex sent it, tools and all
            assert upstream[0]["path"] == "/openai/v1/responses"
            assert upstream[0]["body"]["tools"] == request["body"]["tools"]
        else:
            names = tool_names(upstream[0]["body"])
            assert {"exec_command", "multi_agent_v1__wait_agent"} <= names or \
                {"exec_command", "apply_patch", "tool_search"} <= names
        # store: false keeps nothing, as Codex expects of it
        gone = httpx.get(f"{gateway}/v1/responses/{final['id']}",
                         headers={"Authorization": f"Bearer {key}"})
        assert gone.status_code == 404
    last = answers[-1]
    assert last[-1]["type"] == "message"
    shown = last[-1]["content"][0]["text"].replace("\r\n", "\n")    # as Codex writes it out
    assert shown == run["last_message"]                    # what Codex showed the user
    if name in CALLS:
        kind, fields, says = CALLS[name]
        call = answers[0][-1]
        assert call["type"] == kind and says(call), call
        # The call as Codex sent it back with the tool's output in the follow-up (store: false)
        follow_up = run["requests"][1]["body"]["input"]
        sent_back = next(i for i in follow_up if i["type"] == kind)
        assert [sent_back[f] for f in fields] == [call[f] for f in fields]
        output_kind = "tool_search_output" if kind == "tool_search_call" else f"{kind}_output"
        output = next(i for i in follow_up if i["type"] == output_kind)
        assert output["call_id"] == sent_back["call_id"]   # (Gemini's call ids are made anew)
        if model == "gpt-4o-mini":     # the chat conversation Azure got: the call, its output
            messages = upstream[0]["body"]["messages"]
            assert messages[-2]["tool_calls"][0]["id"] == call["call_id"]
            assert messages[-1] == {"role": "tool", "tool_call_id": call["call_id"],
                                    "content": output["output"]}


# -- what Codex sends, part by part, with the openai SDK ------------------------------------
NAMESPACE = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
             "tools": [{"type": "function", "name": "wait_agent", "description": "Wait.",
                        "strict": False,
                        "parameters": {"type": "object",
                                       "properties": {"targets": {"type": "array",
                                                                  "items": {"type": "string"}}},
                                       "required": ["targets"]}}]}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark",
                    "definition": 'start: "*** Begin Patch" LF /(.+)/ LF "*** End Patch"'}}
TRANSLATED = ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]


@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_a_namespace_tool_is_called_with_its_namespace(client, sim, model, stream):
    ask = dict(model=model, input="wait for them [sim:tool=multi_agent_v1__wait_agent]",
               tools=[NAMESPACE], store=False,
               extra_body={"client_metadata": {"thread_id": "t-1"}})
    if stream:
        with client.responses.stream(**ask) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**ask)
    call = response.output[-1]
    assert call.type == "function_call"
    assert (call.name, call.namespace) == ("wait_agent", "multi_agent_v1")
    assert json.loads(call.arguments) == {"targets": ["simulated"]}
    follow = client.responses.create(model=model, store=False, tools=[NAMESPACE], input=[
        {"role": "user", "content": "wait for them"},
        {"type": "function_call", "call_id": call.call_id, "name": "wait_agent",
         "namespace": "multi_agent_v1", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "all done"}])
    assert follow.output_text == "[simulated] tool result: all done"
    upstream = sim.get("/_sim/requests").json()["requests"][-1]["body"]
    assert tool_names(upstream) == {"multi_agent_v1__wait_agent"}


@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_a_custom_tool_is_called_with_free_form_input(client, sim, model, stream):
    ask = dict(model=model, input="patch it [sim:tool=apply_patch] [sim:arg.input=*** Begin Patch]",
               tools=[PATCH], store=False)
    if stream:
        with client.responses.stream(**ask) as events:
            kinds = []
            for event in events:
                kinds.append(event.type)
            response = events.get_final_response()
        assert kinds.index("response.custom_tool_call_input.delta") < \
            kinds.index("response.custom_tool_call_input.done")
    else:
        response = client.responses.create(**ask)
    call = response.output[-1]
    assert call.type == "custom_tool_call"
    assert (call.name, call.input) == ("apply_patch", "*** Begin Patch")
    assert tool_names(sim.get("/_sim/requests").json()["requests"][-1]["body"]) == \
        {"apply_patch"}
    follow = client.responses.create(model=model, store=False, tools=[PATCH], input=[
        {"role": "user", "content": "patch it"},
        {"type": "custom_tool_call", "call_id": call.call_id, "name": "apply_patch",
         "input": call.input},
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"}])
    assert follow.output_text == "[simulated] tool result: Done!"


SEARCH = {"type": "tool_search", "execution": "client", "description": "Find tools.",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                         "required": ["query"]}}
CALENDAR = {"type": "namespace", "name": "mcp__calendar", "description": "Calendar tools.",
            "tools": [{"type": "function", "name": "read", "description": "Read the day.",
                       "defer_loading": True,
                       "parameters": {"type": "object",
                                      "properties": {"day": {"type": "string"}}}}]}


@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_a_client_tool_search_loads_deferred_tools(client, sim, model, stream):
    ask = dict(model=model, input="find the calendar [sim:tool=tool_search] "
                                  "[sim:arg.query=calendar]",
               tools=[SEARCH, CALENDAR], store=False)
    if stream:
        with client.responses.stream(**ask) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**ask)
    search = response.output[-1]
    assert search.type == "tool_search_call" and search.execution == "client"
    assert search.arguments == {"query": "calendar"}
    # The deferred tool is not offered before a search loaded it
    assert tool_names(sim.get("/_sim/requests").json()["requests"][-1]["body"]) == \
        {"tool_search"}
    loaded = json.loads(json.dumps(CALENDAR))
    del loaded["tools"][0]["defer_loading"]
    follow = client.responses.create(model=model, store=False, tools=[SEARCH, CALENDAR], input=[
        {"role": "user", "content": "find the calendar"},
        {"type": "tool_search_call", "call_id": search.call_id, "execution": "client",
         "arguments": search.arguments, "status": "completed"},
        {"type": "tool_search_output", "call_id": search.call_id, "execution": "client",
         "status": "completed", "tools": [loaded]},
        {"role": "assistant", "content": "Found the calendar."},
        {"role": "user", "content": "now read it [sim:tool=mcp__calendar__read]"}])
    call = follow.output[-1]
    assert call.type == "function_call"
    assert (call.name, call.namespace) == ("read", "mcp__calendar")
    assert tool_names(sim.get("/_sim/requests").json()["requests"][-1]["body"]) == \
        {"tool_search", "mcp__calendar__read"}


def test_codex_tool_fields_are_checked(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="x",
                                tools=[{"type": "web_search", "external_web_access": False}])
    error = caught.value.body
    assert error["param"] == "tools[0].type" and error["code"] == "unsupported_tool_type"
    assert 'web_search = "disabled"' in error["message"]
    bad = [({"type": "namespace", "name": "ns", "description": "", "tools": []},
            "tools[0].tools"),
           ({"type": "namespace", "name": "ns", "description": "",
             "tools": [{"type": "web_search"}]}, "tools[0].tools[0].type"),
           ({**PATCH, "format": {"type": "grammar", "syntax": "ebnf", "definition": "x"}},
            "tools[0].format.syntax"),
           ({**SEARCH, "execution": "server"}, "tools[0].execution")]
    for tool, param in bad:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="gpt-4o-mini", input="x", tools=[tool])
        assert caught.value.body["param"] == param
    with pytest.raises(openai.BadRequestError) as caught:       # the flattened names clash
        client.responses.create(model="gpt-4o-mini", input="x", tools=[
            NAMESPACE, {"type": "function", "name": "multi_agent_v1__wait_agent"}])
    assert caught.value.body["param"] == "tools[1].name"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="x",
                                extra_body={"client_metadata": {"n": 1}})
    assert caught.value.body["param"] == "client_metadata"


# -- the translation of these tools, as a property ------------------------------------------
PLAIN = {"type": "function", "name": "plain", "description": "A plain function.",
         "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}
OFFERED = [PLAIN, NAMESPACE, PATCH, SEARCH]
ARGUMENTS = {"plain": "x", "multi_agent_v1__wait_agent": "targets", "apply_patch": "input",
             "tool_search": "query"}       # chat name -> its argument the answers fill in
TEXT = st.text(min_size=0, max_size=20)


@st.composite
def tool_answers(draw) -> dict:
    """A chat completion calling some of OFFERED's tools by their chat names."""
    names = draw(st.lists(st.sampled_from(sorted(ARGUMENTS)), min_size=1, max_size=4))
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(
                  {ARGUMENTS[name]: draw(TEXT) if name != "multi_agent_v1__wait_agent"
                   else [draw(TEXT)]})}} for i, name in enumerate(names)]
    message = {"role": "assistant", "content": draw(st.one_of(st.none(), TEXT)),
               "tool_calls": calls}
    return {"id": "chatcmpl-1", "object": "chat.completion", "usage": {
        "prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def chunks_of(completion: dict, cut: int) -> list[dict]:
    """The completion as a chat stream, each call's arguments in pieces of `cut` characters."""
    message = completion["choices"][0]["message"]
    deltas = [{"role": "assistant", "content": message["content"] or ""}]
    for i, call in enumerate(message["tool_calls"]):
        arguments = call["function"]["arguments"]
        deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"],
                                                    "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": i, "function": {"arguments": arguments[a:a + cut]}}]}
                   for a in range(0, len(arguments), cut)]
    chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    return chunks + [{"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                     {"choices": [], "usage": completion["usage"]}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool_answers(), st.integers(1, 9))
def test_calls_to_codex_style_tools_survive_the_trip_back_and_forth(completion, cut):
    req = parse_request({"model": "m", "input": "x", "tools": OFFERED})
    assert [t["function"]["name"] for t in to_chat(req, input_items("x"))["tools"]] == \
        ["plain", "multi_agent_v1__wait_agent", "apply_patch", "tool_search"]
    whole = out.from_chat(out.new_response(req, "resp_1", 1), json.loads(json.dumps(completion)))
    Response.model_validate(whole)                      # the SDK's type accepts every item
    calls = whole["output"][-len(completion["choices"][0]["message"]["tool_calls"]):]
    kinds = {"plain": "function_call", "multi_agent_v1__wait_agent": "function_call",
             "apply_patch": "custom_tool_call", "tool_search": "tool_search_call"}
    sent = completion["choices"][0]["message"]["tool_calls"]
    assert [c["type"] for c in calls] == [kinds[s["function"]["name"]] for s in sent]
    # Streamed in pieces: the same items, and events the SDK's accumulator takes
    events = ResponsesEvents(out.new_response(req, "resp_1", 1))
    streamed = events.start()
    for chunk in chunks_of(completion, cut):
        streamed += events.chunk(chunk)
    streamed += events.end()
    state = ResponseStreamState(input_tools=[], text_format=omit)
    for event in streamed:
        state.handle_event(EVENT.validate_python(event))
    strip = [{k: v for k, v in i.items() if k != "id"} for i in whole["output"]]
    assert [{k: v for k, v in i.items() if k != "id"}
            for i in streamed[-1]["response"]["output"]] == strip
    # Sent back as input (as Codex does), they become the very chat tool calls they came from
    assistant = items_to_messages(input_items(
        [{k: v for k, v in i.items() if k != "status"} for i in calls]))
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in assistant[0]["tool_calls"]] == \
        [(s["id"], s["function"]["name"], json.loads(s["function"]["arguments"])) for s in sent]
