"""The gateway as Node users call it: the npm `openai` package (pinned in package.json) and its
`AzureOpenAI` client, run by `node` over real sockets against the running gateway.

Each area is one ES module in tests/node/ that takes the gateway's URL, a project key and its
models from the environment, runs its scenarios (once per model where the provider path matters)
and prints one JSON document; the tests here check that document. One node process per area and
store keeps the run cheap; a scenario that threw is reported with the SDK's error fields."""
from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import wave

import httpx
import pytest

from simulator.embeddings import vector

from .conftest import ROOT
from .test_audio import make_wav
from .test_images import png_size
from .test_request_ids import NEW_ID
from .test_usage import usage_rows

NODE_DIR = ROOT / "tests" / "node"
OPENAI_PACKAGE = ROOT / "node_modules" / "openai" / "package.json"
CHAT_MODELS = ["gpt-4o-mini", "gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]
EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "gemini-embedding-001": 3072,
                    "text-embedding-005": 768}
AZURE_DEPLOYMENTS = ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]


def run_node(script: str, gateway: str, key: str, **env: str) -> dict:
    if not OPENAI_PACKAGE.exists():
        pytest.fail("The npm openai package is not installed: run `npm ci` (`make test` does).")
    # The SDK reads OPENAI_* and AZURE_OPENAI_* settings (base URL, org, project, log level
    # on stdout): none of the developer's may reach these clients.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    proc = subprocess.run(["node", str(NODE_DIR / script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**base, "GATEWAY": gateway, "API_KEY": key, **env})
    assert proc.returncode == 0, f"node {script} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def ok(outcome: dict):
    """A scenario's result; a scenario that threw fails here with the SDK's error."""
    assert "thrown" not in outcome, outcome["thrown"]
    return outcome["ok"]


def thrown(outcome: dict) -> dict:
    assert "thrown" in outcome, f"expected an error, got {outcome}"
    return outcome["thrown"]


def logged_requests(simulator: str) -> list[dict]:
    return httpx.get(simulator + "/_sim/requests", timeout=10).json()["requests"]


def test_the_pinned_package_runs_on_this_node():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["openai"]
    installed = json.loads(OPENAI_PACKAGE.read_text())["version"]
    assert installed == pinned
    major = int(subprocess.run(["node", "--version"], capture_output=True, text=True,
                               check=True).stdout.strip().lstrip("v").split(".")[0])
    # openai 7.x needs Node 22; the machines run Node 20, so the pin stays on 6.x until then.
    assert major >= 20 and (major >= 22 or pinned.startswith("6."))


# --- chat completions --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat(gateway, make_key):
    key = make_key("node-chat")
    return run_node("chat.mjs", gateway, key, MODELS=json.dumps(CHAT_MODELS))


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_create(chat, model, admin):
    r = ok(chat[model]["plain"])
    assert r["object"] == "chat.completion" and r["id"]
    assert r["message"]["role"] == "assistant"
    assert r["message"]["content"] == f"[simulated] hello from node {model}"
    assert r["finish"] == "stop"
    # Words: "hello from node <model>" in, "[simulated]" and the echo out.
    assert (r["usage"]["prompt_tokens"], r["usage"]["completion_tokens"]) == (4, 5)
    assert r["usage"]["total_tokens"] == 9
    assert NEW_ID.fullmatch(r["requestId"])
    row = {u["request_id"]: u for u in usage_rows(admin, "node-chat")}[r["requestId"]]
    assert (row["model"], row["prompt_tokens"], row["completion_tokens"]) == (model, 4, 5)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_stream_read_with_for_await(chat, model):
    s = ok(chat[model]["stream"])
    assert s["text"] == "[simulated] stream these five words"
    assert len(s["ids"]) == 1 and s["objects"] == ["chat.completion.chunk"]
    assert s["roles"] == ["assistant"]                 # on the first delta only
    assert s["finish"][-1] == "stop" and set(s["finish"][:-1]) == {None}
    # Not asked for usage: every chunk has its choice and none carries usage.
    assert set(s["choiceCounts"]) == {1} and s["usage"] == [None] * s["count"]


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_stream_with_include_usage(chat, model):
    s = ok(chat[model]["streamUsage"])
    assert s["text"] == "[simulated] count my tokens please"
    assert s["choiceCounts"][-1] == 0 and set(s["choiceCounts"][:-1]) == {1}
    assert s["finish"][-2] == "stop"
    assert s["usage"][:-1] == [None] * (s["count"] - 1)
    usage = s["usage"][-1]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (4, 5, 9)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_tool_round_trip(chat, model):
    t = ok(chat[model]["tools"])
    assert t["finish"] == "tool_calls"
    assert t["call"]["type"] == "function" and t["call"]["id"]
    assert t["call"]["function"]["name"] == "get_weather"
    assert json.loads(t["call"]["function"]["arguments"]) == {"city": "simulated"}
    assert t["answer"] == "[simulated] tool result: 21 degrees and sunny"
    assert t["secondFinish"] == "stop"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_json_schema_parsed_by_the_sdk(chat, model):
    s = ok(chat[model]["structured"])
    assert s["parsed"] == {"city": "simulated", "degrees": 1, "sky": "sunny"}
    assert json.loads(s["content"]) == s["parsed"]


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_stream_helper(chat, model):
    h = ok(chat[model]["streamHelper"])
    assert h["deltas"] == ["[simulated]", " helper", " stream", " of", " words"]
    assert h["content"] == "".join(h["deltas"]) and h["finish"] == "stop"
    assert h["chunks"] >= len(h["deltas"])
    tools = ok(chat[model]["streamHelperTools"])
    assert tools["finish"] == "tool_calls"
    assert tools["done"] == [{"name": "get_weather", "arguments": '{"city": "simulated"}'}]
    [call] = tools["calls"]
    assert call["id"] and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "simulated"}'}


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("scenario", ["runTools", "runToolsStreamed"])
def test_run_tools_calls_the_function_and_answers_with_its_result(chat, model, scenario):
    r = ok(chat[model][scenario])
    assert r["calls"] == [{"city": "simulated"}]
    assert r["content"] == "[simulated] tool result: sunny in simulated"
    assert r["roles"] == ["user", "assistant", "tool", "assistant"]


# --- embeddings --------------------------------------------------------------------------------

TEXTS = ["hello node world", "a second, longer text to embed"]


@pytest.fixture(scope="module")
def embeddings(gateway, make_key):
    return run_node("embeddings.mjs", gateway, make_key("node-embeddings"),
                    MODELS=json.dumps(list(EMBEDDING_MODELS)))


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
def test_embeddings_default_base64_decodes_to_the_models_vectors(embeddings, model):
    r = ok(embeddings[model]["byDefault"])
    assert r["sentEncoding"] == "base64"                 # the Node SDK's default
    assert r["object"] == "list" and r["model"] == model
    assert r["usage"] == {"prompt_tokens": 9, "total_tokens": 9}
    dims = EMBEDDING_MODELS[model]
    for index, (item, text) in enumerate(zip(r["data"], TEXTS)):
        assert (item["index"], item["object"], item["isArray"]) == (index, "embedding", True)
        assert item["length"] == dims
        # What the SDK decoded is the vector the provider computed, to float32 precision.
        assert item["head"] == pytest.approx(vector(text, dims)[:8], abs=1e-6)
        assert item["diffToFloat"] < 1e-6


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
def test_embeddings_float_and_explicit_base64(embeddings, model):
    dims = EMBEDDING_MODELS[model]
    floats = ok(embeddings[model]["float"])
    assert [d["length"] for d in floats["data"]] == [dims, dims]
    assert floats["data"][1]["head"] == pytest.approx(vector(TEXTS[1], dims)[:8], abs=1e-7)
    # Asked for base64 explicitly, the SDK hands over the string: little-endian float32.
    packed = base64.b64decode(ok(embeddings[model]["base64"])["embedding"])
    assert len(packed) == dims * 4
    assert list(struct.unpack(f"<{dims}f", packed)) == pytest.approx(vector(TEXTS[0], dims),
                                                                      abs=1e-6)
    short = ok(embeddings[model]["dimensions"])["embedding"]
    assert short == pytest.approx(vector(TEXTS[0], 16), abs=1e-6)


# --- responses ---------------------------------------------------------------------------------

RESPONSE_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
                   "response.content_part.added", *["response.output_text.delta"] * 4,
                   "response.output_text.done", "response.content_part.done",
                   "response.output_item.done", "response.completed"]


@pytest.fixture(scope="module")
def responses(gateway, make_key, simulator):
    httpx.delete(simulator + "/_sim/requests", timeout=10)
    out = run_node("responses.mjs", gateway, make_key("node-responses"),
                   MODELS=json.dumps(CHAT_MODELS))
    out["_provider_requests"] = logged_requests(simulator)
    return out


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_create_and_retrieve(responses, model):
    r = ok(responses[model]["create"])
    assert r["object"] == "response" and r["id"].startswith("resp_")
    assert (r["status"], r["model"]) == ("completed", model)
    assert r["outputText"] == f"[simulated] hello responses from node {model}"
    assert r["outputTypes"] == ["message"]
    assert (r["usage"]["input_tokens"], r["usage"]["output_tokens"]) == (5, 6)
    assert r["usage"]["total_tokens"] == 11
    assert r["retrievedText"] == r["outputText"] and NEW_ID.fullmatch(r["requestId"])


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_stream_events_in_order(responses, model):
    s = ok(responses[model]["stream"])
    assert s["types"] == RESPONSE_EVENTS
    assert s["sequence"] == list(range(len(RESPONSE_EVENTS)))
    assert s["deltaText"] == "[simulated] stream these words"
    final = s["final"]
    assert final["id"] == s["createdId"] and final["status"] == "completed"
    assert s["finalText"] == s["deltaText"]
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (3, 4)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_stream_helper(responses, model):
    h = ok(responses[model]["streamHelper"])
    assert h["deltas"] == ["[simulated]", " helper", " stream", " please"]
    assert h["final"]["outputText"] == "".join(h["deltas"])
    assert h["final"]["status"] == "completed" and h["final"]["outputTypes"] == ["message"]
    streamed = ok(responses[model]["streamedTool"])
    assert streamed["argDone"] == ['{"city": "simulated"}']
    [call] = streamed["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather" and call["call_id"]
    assert call["parsed_arguments"] == {"city": "simulated"}       # strict tool: the SDK parsed


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_parse_with_a_json_schema(responses, model):
    r = ok(responses[model]["parsed"])
    assert r["parsed"] == {"city": "simulated", "degrees": 1, "sky": "sunny"}
    assert json.loads(r["text"]) == r["parsed"]


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_stream_helper_with_reasoning(responses, model):
    if model == "llama-3.3-70b":            # no reasoning there: refused, naming the field sent
        e = thrown(responses[model]["reasoning"])
        assert (e["class"], e["param"], e["code"]) == ("BadRequestError", "reasoning.effort",
                                                       "unsupported_parameter")
        assert "'reasoning.effort'" in e["error"]["message"]
        return
    r = ok(responses[model]["reasoning"])
    assert r["text"] == "[simulated] think while streaming"
    assert r["output"][-1]["type"] == "message" and r["types"][-1] == "response.completed"
    if model in ("gemini-2.5-flash", "claude-sonnet-4"):      # providers that show thinking
        reasoning = r["output"][0]
        assert reasoning["type"] == "reasoning" and len(r["output"]) == 2
        assert reasoning["content"] == [{"type": "reasoning_text", "text": r["thought"]}]
        assert "think while streaming" in r["thought"]
        assert r["types"].index("response.reasoning_text.done") < r["types"].index(
            "response.output_text.delta")
    else:
        assert [item["type"] for item in r["output"]] == ["message"] and r["thought"] == ""


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_function_tool_round_trip(responses, model):
    t = ok(responses[model]["tools"])
    assert t["first"]["outputTypes"] == ["function_call"] and t["first"]["outputText"] == ""
    assert t["call"]["name"] == "get_weather" and t["call"]["call_id"]
    assert json.loads(t["call"]["arguments"]) == {"city": "simulated"}
    assert t["second"]["previousResponseId"] == t["first"]["id"]
    assert t["second"]["outputText"] == "[simulated] tool result: 18 degrees, light rain"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_responses_previous_response_id_carries_the_conversation(responses, model):
    c = ok(responses[model]["continued"])
    assert c["second"]["previousResponseId"] == c["first"]["id"]
    assert c["second"]["outputText"] == f"[simulated] what was the word {model}"
    # The provider got the earlier turn (and the gateway's answer to it) with the new one.
    sent = [json.dumps(r["body"]) for r in responses["_provider_requests"]
            if f"what was the word {model}" in json.dumps(r.get("body"))]
    assert sent and all(f"remember the word pelican-{model}" in s for s in sent)
    assert all(f"[simulated] remember the word pelican-{model}" in s for s in sent)


# --- audio and images --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def media(gateway, make_key, tmp_path_factory):
    wav = tmp_path_factory.mktemp("node-media") / "speech.wav"
    wav.write_bytes(make_wav(2.0))
    return run_node("media.mjs", gateway, make_key("node-media"), WAV_PATH=str(wav))


WAV_BYTES = len(make_wav(2.0))


def test_speech_arrives_as_bytes(media):
    s = ok(media["speech"])
    assert s["contentType"] == "audio/wav"
    with wave.open(io.BytesIO(base64.b64decode(s["audio"]))) as audio:
        assert audio.getnchannels() == 1
        # Four words at 0.25 s each.
        assert audio.getnframes() / audio.getframerate() == pytest.approx(1.0, abs=0.01)
    streamed = ok(media["speechStreamed"])
    assert streamed["contentType"] == "audio/pcm"
    assert streamed["bytes"] == 20 * 0.25 * 24000 * 2          # 24 kHz s16le mono, 5 s
    assert streamed["chunks"] > 1                              # relayed as it came


def test_transcription_uploads(media):
    # The simulator names the byte count it received: the multipart upload arrived whole.
    expected = f"[simulated] transcript of {WAV_BYTES} bytes"
    t = ok(media["transcription"])
    assert t["text"] == expected and NEW_ID.fullmatch(t["requestId"])
    assert t["usage"] == {"type": "duration", "seconds": 2}
    stream = ok(media["transcriptionFromStream"])
    assert stream["text"] == expected and stream["usage"]["type"] == "tokens"
    assert stream["usage"]["input_tokens"] > 0 and stream["usage"]["output_tokens"] == 5
    assert ok(media["transcriptionText"]) == {"type": "string", "text": expected + "\n"}
    verbose = ok(media["transcriptionVerbose"])
    assert (verbose["text"], verbose["duration"], verbose["language"]) == (expected, 2, "en")
    assert verbose["segments"] >= 1
    assert ok(media["translation"])["text"] == f"[simulated] translation of {WAV_BYTES} bytes"


def test_images(media):
    images = ok(media["images"])
    for model in ("dall-e-3", "gpt-image-1", "imagen-3.0-generate-002"):
        assert images[model]["count"] == 1 and images[model]["created"] > 0
        assert png_size(base64.b64decode(images[model]["png"])) == (1024, 1024)
    assert png_size(httpx.get(images["url"], timeout=10).content) == (1024, 1024)
    # Streamed images are not offered: a 400 naming the field, not a stream with no events.
    e = thrown(media["imageStream"])
    assert (e["class"], e["param"]) == ("BadRequestError", "stream")


# --- models, errors, request ids ---------------------------------------------------------------

FAULTS = [{"match": "llama", "cut_after_chunks": 3},
          {"match": "gpt-4.1", "cut_after_chunks": 3},
          {"match": "gemini", "cut_after_chunks": 3},
          {"match": "claude", "status": 429, "retry_after": 7}]


@pytest.fixture(scope="module")
def errors(gateway, make_key, simulator):
    with httpx.Client(base_url=simulator, timeout=10) as sim:
        sim.delete("/_sim/faults")
        for fault in FAULTS:
            sim.post("/_sim/faults", json=fault).raise_for_status()
        try:
            return run_node("errors.mjs", gateway, make_key("node-errors"))
        finally:
            sim.delete("/_sim/faults")


def test_models_list_iterates_the_catalog(errors):
    m = ok(errors["models"])
    ids = [item["id"] for item in m["ids"]]
    assert set(CHAT_MODELS) | set(EMBEDDING_MODELS) | {"tts-1", "whisper-1"} <= set(ids)
    assert len(ids) == len(set(ids)) == m["pageSize"] and m["hasNextPage"] is False
    assert {item["object"] for item in m["ids"]} == {"model"}
    assert m["retrieved"] == "gpt-4o-mini"


def test_request_id_on_results(errors):
    w = ok(errors["withResponse"])
    assert w["status"] == 200 and NEW_ID.fullmatch(w["requestId"])
    assert w["requestId"] == w["header"] == w["dataRequestId"]


@pytest.mark.parametrize("scenario, cls, status, code, param", [
    ("unauthorized", "AuthenticationError", 401, "invalid_api_key", None),
    ("badRequest", "BadRequestError", 400, "invalid_value", "temperature"),
    ("badEmbedding", "BadRequestError", 400, "invalid_request", "dimensions"),
    ("unknownModel", "NotFoundError", 404, "model_not_found", "model"),
    ("unknownResponse", "NotFoundError", 404, "response_not_found", "response_id"),
    ("badResponsesTool", "BadRequestError", 400, "unsupported_tool_type", "tools[0].type"),
    ("rateLimited", "RateLimitError", 429, "rate_limit_exceeded", None),
])
def test_errors_surface_as_the_sdks_classes(errors, scenario, cls, status, code, param):
    e = thrown(errors[scenario])
    assert (e["class"], e["status"], e["code"], e["param"]) == (cls, status, code, param)
    assert e["isAPIError"] and e["error"]["message"] and e["message"].startswith(f"{status} ")
    assert e["error"] == {"message": e["error"]["message"], "type": e["type"], "param": param,
                          "code": code}
    assert NEW_ID.fullmatch(e["requestID"])


@pytest.mark.parametrize("scenario", ["chatStreamCut", "chatStreamCutAzure"])
def test_a_chat_stream_the_provider_breaks_off_throws_in_for_await(errors, scenario):
    e = thrown(errors[scenario])
    # The gateway's error event mid-stream: the SDK throws an APIError (no HTTP status: the
    # answer had started with 200) carrying the envelope.
    assert e["class"] == "APIError" and e["isAPIError"] and e["status"] is None
    assert e["error"]["type"] == "upstream_error" and e["error"]["message"]
    assert NEW_ID.fullmatch(e["requestID"])


def test_a_responses_stream_the_provider_breaks_off_ends_failed(errors):
    r = ok(errors["responsesStreamCut"])
    assert r["types"][0] == "response.created" and r["types"][-1] == "response.failed"
    assert "response.completed" not in r["types"]
    assert r["status"] == "failed" and r["error"]["code"] and r["error"]["message"]
    assert r["text"].startswith("[simulated] break off")        # what arrived is kept


# --- AzureOpenAI -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def azure(gateway, make_key, tmp_path_factory, simulator):
    wav = tmp_path_factory.mktemp("node-azure") / "speech.wav"
    wav.write_bytes(make_wav(2.0))
    with httpx.Client(base_url=simulator, timeout=10) as sim:
        sim.delete("/_sim/faults")
        # The background response (gpt-4.1, only there) is still running when the script
        # cancels it.
        sim.post("/_sim/faults", json={"match": "gpt-4.1", "latency_ms": 1500})
        try:
            return run_node("azure.mjs", gateway, make_key("node-azure"), WAV_PATH=str(wav),
                            MODELS=json.dumps(AZURE_DEPLOYMENTS))
        finally:
            sim.delete("/_sim/faults")


def api_key_call(wire: list[dict], path: str, version: str = "2024-10-21") -> None:
    assert wire and all(w == {"path": path, "apiVersion": version, "apiKey": True,
                              "bearer": False} for w in wire), wire


@pytest.mark.parametrize("deployment", AZURE_DEPLOYMENTS)
def test_azure_chat_on_a_deployment(azure, deployment, admin):
    c = ok(azure["chat"][deployment]["create"])
    api_key_call(c["wire"], f"/openai/deployments/{deployment}/chat/completions")
    assert c["content"] == f"[simulated] hello azure {deployment}"
    assert (c["usage"]["prompt_tokens"], c["usage"]["completion_tokens"]) == (3, 4)
    # Metered to the deployment's model, not to the `model` the SDK's types made us send.
    row = {u["request_id"]: u for u in usage_rows(admin, "node-azure")}[c["requestId"]]
    assert row["model"] == deployment and row["prompt_tokens"] == 3


@pytest.mark.parametrize("deployment", AZURE_DEPLOYMENTS)
def test_azure_stream_on_a_deployment(azure, deployment):
    s = ok(azure["chat"][deployment]["stream"])
    api_key_call(s["wire"], f"/openai/deployments/{deployment}/chat/completions")
    assert s["text"] == "[simulated] azure stream words" and s["finish"] == ["stop"]
    assert s["lastChoices"] == 0
    assert (s["usage"]["prompt_tokens"], s["usage"]["completion_tokens"]) == (3, 4)


def test_azure_model_as_deployment_and_token_provider(azure):
    body = ok(azure["modelInBody"])
    api_key_call(body["wire"], "/openai/deployments/gemini-2.5-flash/chat/completions")
    assert body["content"] == "[simulated] model picks the deployment"
    bearer = ok(azure["tokenProvider"])
    assert bearer["wire"] == [{"path": "/openai/deployments/gpt-4o-mini/chat/completions",
                               "apiVersion": "2024-10-21", "apiKey": False, "bearer": True}]
    assert bearer["content"] == "[simulated] bearer please"


@pytest.mark.parametrize("deployment", ["text-embedding-3-small", "gemini-embedding-001"])
def test_azure_embeddings_default_base64(azure, deployment):
    e = ok(azure["embeddings"][deployment])
    api_key_call(e["wire"], f"/openai/deployments/{deployment}/embeddings")
    dims = EMBEDDING_MODELS[deployment]
    assert e["lengths"] == [dims, dims] and e["isArray"] and e["maxDiff"] < 1e-6
    assert e["head"] == pytest.approx(vector("azure one", dims)[:8], abs=1e-7)
    assert e["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


def test_azure_audio_and_api_version_errors(azure):
    speech = ok(azure["speech"])
    api_key_call(speech["wire"], "/openai/deployments/tts-1/audio/speech", "2025-04-01-preview")
    assert speech["contentType"] == "audio/pcm" and speech["bytes"] == 24000 * 2   # 1 s
    t = ok(azure["transcription"])
    api_key_call(t["wire"], "/openai/deployments/whisper-1/audio/transcriptions")
    assert t["text"] == f"[simulated] transcript of {WAV_BYTES} bytes"
    bad = thrown(azure["badVersion"])
    assert (bad["class"], bad["status"], bad["code"], bad["param"]) == (
        "BadRequestError", 400, "BadRequest", "api-version")


def test_azure_responses_routes(azure):
    r = ok(azure["responses"])
    first, second = r["first"], r["second"]
    assert (first["model"], first["text"]) == ("claude-sonnet-4", "[simulated] azure responses one")
    assert second["model"] == "gemini-2.5-flash" and second["previous"] == first["id"]
    assert "".join(second["deltas"]) == r["retrieved"] == "[simulated] azure responses two"
    assert r["items"] == ["message"]
    assert (r["background"], r["cancelled"]) == ("queued", "cancelled")
    assert (r["gone"]["thrown"]["class"], r["gone"]["thrown"]["code"]) == (
        "NotFoundError", "response_not_found")
    paths = [(w["path"].replace(first["id"], "{first}").replace(second["id"], "{second}"),
              w["apiVersion"]) for w in r["wire"]]
    bg = [w for w in paths if w[0] not in ("/openai/responses", "/openai/responses/{first}",
                                            "/openai/responses/{second}",
                                            "/openai/responses/{second}/input_items")]
    assert len(bg) == 1 and bg[0][0].startswith("/openai/responses/resp_") and \
        bg[0][0].endswith("/cancel")
    assert {v for _, v in paths} == {"2025-04-01-preview"}
    assert ("/openai/responses/{second}/input_items", "2025-04-01-preview") in paths


def test_azure_v1_responses(azure):
    r = ok(azure["v1Responses"])
    assert r["text"] == r["retrieved"] == "[simulated] v1 responses"
    assert r["paths"][0] == "/openai/v1/responses" and r["paths"][1].startswith(
        "/openai/v1/responses/resp_")
    assert r["versions"] == [None, None]


# --- files and batches -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def batches(gateway, make_key, tmp_path_factory):
    data = tmp_path_factory.mktemp("node-files") / "data.bin"
    data.write_bytes(os.urandom(200 * 1024))
    return run_node("batches.mjs", gateway, make_key("node-batches"), DATA_PATH=str(data))


def test_files_upload_list_download_delete(batches):
    f = ok(batches["files"])
    for created in (f["fromBuffer"], f["fromStream"]):
        assert (created["object"], created["bytes"], created["filename"], created["purpose"]) == (
            "file", 200 * 1024, "data.bin", "user_data")
        assert created["id"].startswith("file-") and created["status"] == "processed"
    assert f["downloadedSame"] is True
    # Pages of one, followed to the end by the SDK: both files, oldest first.
    assert f["ids"] == [f["fromBuffer"]["id"], f["fromStream"]["id"]]
    assert f["deleted"] == {"id": f["fromBuffer"]["id"], "object": "file", "deleted": True}
    assert f["after"] == [f["fromStream"]["id"]]


def test_a_chat_batch_from_node(batches):
    b = ok(batches["batch"])
    assert b["created"]["status"] == "validating" and b["created"]["metadata"] == {"from": "node"}
    final = b["final"]
    assert final["status"] == "completed", final
    assert final["request_counts"] == {"total": 5, "completed": 5, "failed": 0}
    lines = {line["custom_id"]: line for line in map(json.loads, b["output"].splitlines())}
    assert set(lines) == {f"node-{i}" for i in range(5)}
    for i in range(5):
        body = lines[f"node-{i}"]["response"]["body"]
        assert body["choices"][0]["message"]["content"] == f"[simulated] node batch line {i}"
    assert b["listed"][0] == b["created"]["id"]          # newest first


def test_a_batch_through_the_azure_client(batches):
    b = ok(batches["azureBatch"])
    assert b["created"]["endpoint"] == "/chat/completions"       # as Azure spells it
    assert b["final"]["status"] == "completed", b["final"]
    assert b["final"]["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
    answers = {line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
               for line in map(json.loads, b["output"].splitlines())}
    assert answers == {f"azure-{i}": f"[simulated] azure batch {i}" for i in "ab"}
