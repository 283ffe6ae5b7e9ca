"""End-to-end tests of the provider simulator, through the official clients.

The simulator runs as a subprocess (`python -m simulator --port 0`), exactly as
the gateway's tests and local start use it.  Azure/OpenAI paths are checked with
the `openai` SDK, the Vertex paths with real `litellm.acompletion` calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # for the in-process test, whatever the pytest invocation
    sys.path.insert(0, str(REPO_ROOT))
API_KEY = "test-key"
API_VERSION = "2024-10-21"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "hourly": {"type": "boolean"},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {
    "zone": {"type": "string"}}}}}
WEATHER_ARGS = {"city": "simulated", "unit": "celsius", "days": 1, "hourly": True}


@pytest.fixture(scope="module")
def base_url():
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0", "--api-key", API_KEY],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sim(base_url):
    """An httpx client for the control plane; clears faults and the request log around each test."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.delete("/_sim/faults")
        client.delete("/_sim/requests")
        yield client
        client.delete("/_sim/faults")


@pytest.fixture
def azure(base_url):
    return openai.AzureOpenAI(azure_endpoint=base_url, api_key=API_KEY, api_version=API_VERSION, max_retries=0)


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


# --- Azure OpenAI / OpenAI-compatible chat ---------------------------------------------------------


def test_azure_chat_echoes_last_user_message(azure, sim):
    result = azure.chat.completions.create(model="my-deployment", messages=ask("hello azure world"))
    assert result.object == "chat.completion"
    assert result.model == "my-deployment"
    assert result.choices[0].message.content == "[simulated] hello azure world"
    assert result.choices[0].finish_reason == "stop"
    # usage = whitespace words: prompt "be brief" + "hello azure world", completion the reply.
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (5, 4, 9)
    logged = sim.get("/_sim/requests").json()["requests"][-1]
    assert logged["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert logged["query"] == {"api-version": API_VERSION}
    assert logged["headers"]["api-key"] == "test…"
    assert logged["body"]["messages"][1]["content"] == "hello azure world"


def test_azure_stream_with_usage(azure):
    chunks = list(azure.chat.completions.create(
        model="dep", messages=ask("stream me please"), stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[simulated] stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(azure):
    chunks = list(azure.chat.completions.create(model="dep", messages=ask("hi"), stream=True))
    assert all(c.choices for c in chunks)


def test_words_directive_sets_stream_length(azure):
    chunks = list(azure.chat.completions.create(model="dep", messages=ask("long [sim:words=200]"), stream=True))
    words = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(words) == 200
    assert "".join(words).split()[:3] == ["[simulated]", "long", "w1"]


@pytest.mark.parametrize("path", ["/v1", "/openai/v1"])
def test_openai_compatible_surfaces_take_model_from_body(base_url, path):
    client = openai.OpenAI(base_url=base_url + path, api_key=API_KEY, max_retries=0)
    result = client.chat.completions.create(model="gpt-4o-mini", messages=ask("plain openai"))
    assert result.model == "gpt-4o-mini"
    assert result.choices[0].message.content == "[simulated] plain openai"


def test_tool_call_round_trip(azure):
    first = azure.chat.completions.create(model="dep", messages=ask("weather?"), tools=[WEATHER_TOOL, TIME_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS

    messages = ask("weather?") + [first.choices[0].message.model_dump(exclude_none=True),
                                  {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
    second = azure.chat.completions.create(model="dep", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "[simulated] tool result: sunny, 21C"


def test_forced_tool_choice_and_streamed_tool_call(azure):
    chunks = list(azure.chat.completions.create(
        model="dep", messages=ask("time?"), tools=[WEATHER_TOOL, TIME_TOOL], stream=True,
        tool_choice={"type": "function", "function": {"name": "get_time"}}))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "get_time" and deltas[0].id
    assert len(deltas) > 2  # arguments arrive in several pieces
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"zone": "simulated"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_directives_steer_the_reply(azure):
    """`[sim:tool=NAME]` calls that tool, `[sim:arg.KEY=VALUE]` sets an argument, and
    `[sim:tool=none]` answers with text although tools are offered (agent CLIs always offer)."""
    tools = [WEATHER_TOOL, TIME_TOOL]
    steered = azure.chat.completions.create(
        model="dep", tools=tools,
        messages=ask("time? [sim:tool=get_time] [sim:arg.zone=Europe/Paris]"))
    call = steered.choices[0].message.tool_calls[0]
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"zone": "Europe/Paris"}
    plain = azure.chat.completions.create(model="dep", tools=tools,
                                          messages=ask("just talk [sim:tool=none]"))
    assert plain.choices[0].message.tool_calls is None
    assert plain.choices[0].message.content == "[simulated] just talk"
    forced = azure.chat.completions.create(               # a forced choice wins
        model="dep", tools=tools, messages=ask("x [sim:tool=none]"),
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_wrong_key_is_401_in_azure_shape(base_url):
    client = openai.AzureOpenAI(azure_endpoint=base_url, api_key="wrong", api_version=API_VERSION, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="dep", messages=ask("x"))
    assert caught.value.body["code"] == "401"
    assert caught.value.body["message"].startswith("Access denied due to invalid subscription key")


def test_missing_api_version_and_unknown_path_are_404(sim):
    headers = {"api-key": API_KEY}
    resp = sim.post("/openai/deployments/dep/chat/completions", json={"messages": ask("x")}, headers=headers)
    assert resp.status_code == 404
    assert resp.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert sim.post("/openai/nothing-here", json={}, headers=headers).status_code == 404


def test_bad_bodies_are_400(sim):
    url = f"/openai/deployments/dep/chat/completions?api-version={API_VERSION}"
    headers = {"api-key": API_KEY}
    assert sim.post(url, content=b"{nope", headers=headers).status_code == 400
    resp = sim.post(url, json={"model": "x"}, headers=headers)
    assert resp.status_code == 400 and "messages" in resp.json()["error"]["message"]


# --- Faults ---------------------------------------------------------------------------------------------


def test_fault_429_with_retry_after_then_recovers(azure, sim):
    sim.post("/_sim/faults", json={"match": "dep-429", "status": 429, "retry_after": 2, "count": 1})
    with pytest.raises(openai.RateLimitError) as caught:
        azure.chat.completions.create(model="dep-429", messages=ask("x"))
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["code"] == "429"
    # The fault was for one request only, and did not touch other deployments.
    assert azure.chat.completions.create(model="dep-429", messages=ask("x")).choices[0].message.content


def test_fault_matches_body_model_and_custom_body(base_url, sim):
    sim.post("/_sim/faults", json={"match": "gpt-x", "status": 503, "body": {"error": {"code": "Busy"}}})
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-x", messages=ask("x"))
    assert caught.value.status_code == 503 and caught.value.body == {"code": "Busy"}


def test_fault_cuts_stream(azure, sim):
    sim.post("/_sim/faults", json={"match": "dep-cut", "cut_after_chunks": 3})
    received = []
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        for chunk in azure.chat.completions.create(model="dep-cut", messages=ask("a b c d e f g"), stream=True):
            received.append(chunk)
    assert len(received) == 3


def test_fault_paces_stream_events(azure, sim):
    sim.post("/_sim/faults", json={"match": "dep-paced", "chunk_interval_ms": 60})
    started = time.monotonic()
    chunks = list(azure.chat.completions.create(model="dep-paced", messages=ask("a b c"), stream=True))
    # role chunk, "[simulated]", a, b, c, finish chunk: five pauses between six events
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "[simulated] a b c"
    assert time.monotonic() - started >= 5 * 0.06


def test_fault_latency_and_hang(azure, sim):
    sim.post("/_sim/faults", json={"match": "dep-slow", "latency_ms": 400})
    started = time.monotonic()
    azure.chat.completions.create(model="dep-slow", messages=ask("x"))
    assert time.monotonic() - started >= 0.4

    sim.post("/_sim/faults", json={"match": "dep-hang", "hang": True})
    with pytest.raises(openai.APITimeoutError):
        azure.with_options(timeout=0.5).chat.completions.create(model="dep-hang", messages=ask("x"))


def test_invalid_fault_is_rejected(sim):
    assert sim.post("/_sim/faults", json={"bogus": 1}).status_code == 400
    assert sim.get("/_sim/health").status_code == 200


# --- Vertex AI --------------------------------------------------------------------------------------------


def test_vertex_token_endpoint_checks_signature(sim):
    account = sim.get("/_sim/vertex/service-account.json").json()
    assert account["project_id"] == "sim-project" and account["token_uri"].endswith("/token")
    now = int(time.time())
    claims = {"iss": account["client_email"], "aud": account["token_uri"], "iat": now, "exp": now + 600,
              "scope": "https://www.googleapis.com/auth/cloud-platform"}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    good = jwt.encode(claims, account["private_key"], algorithm="RS256")
    token = sim.post("/token", data={"grant_type": grant, "assertion": good}).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = jwt.encode(claims, other_key, algorithm="RS256")
    resp = sim.post("/token", data={"grant_type": grant, "assertion": forged})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"

    url = "/v1/projects/sim-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    resp = sim.post(url, json=body)
    assert resp.status_code == 401 and resp.json()["error"]["status"] == "UNAUTHENTICATED"
    resp = sim.post(url, json=body, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert resp.json()["candidates"][0]["content"]["parts"] == [{"text": "[simulated] hi"}]


@pytest.fixture(scope="module")
def litellm_kwargs(base_url):
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["HF_HUB_OFFLINE"] = "1"  # LiteLLM may look for a Llama tokenizer; fail fast offline
    import litellm  # noqa: F401  (slow import, done once)

    credentials = httpx.get(base_url + "/_sim/vertex/service-account.json").text
    return {"api_base": base_url, "vertex_project": "sim-project", "vertex_location": "us-central1",
            "vertex_credentials": credentials}


async def _litellm_round(model: str, kwargs: dict) -> None:
    import litellm

    messages = ask(f"hello {model}")
    expected = f"[simulated] hello {model}"
    result = await litellm.acompletion(model=model, messages=messages, **kwargs)
    assert result.choices[0].message.content == expected
    assert result.usage.completion_tokens == len(expected.split())

    stream = await litellm.acompletion(model=model, messages=messages, stream=True,
                                       stream_options={"include_usage": True}, **kwargs)
    text, usage = "", None
    async for chunk in stream:
        text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        usage = getattr(chunk, "usage", None) or usage
    assert text == expected
    assert usage.completion_tokens == len(expected.split())

    called = await litellm.acompletion(model=model, messages=messages, tools=[WEATHER_TOOL], **kwargs)
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == WEATHER_ARGS
    follow_up = messages + [called.choices[0].message.model_dump(),
                            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    answered = await litellm.acompletion(model=model, messages=follow_up, tools=[WEATHER_TOOL], **kwargs)
    assert answered.choices[0].message.content == "[simulated] tool result: sunny"

    stream = await litellm.acompletion(model=model, messages=messages, tools=[WEATHER_TOOL], stream=True, **kwargs)
    arguments = ""
    async for chunk in stream:
        for tool_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            arguments += tool_call.function.arguments or ""
    assert json.loads(arguments) == WEATHER_ARGS


@pytest.mark.parametrize("model", [
    "vertex_ai/gemini-2.5-flash",
    "vertex_ai/claude-sonnet-4@20250514",
    "vertex_ai/meta/llama-3.3-70b-instruct-maas",
])
def test_vertex_models_through_litellm(litellm_kwargs, sim, model):
    asyncio.run(_litellm_round(model, litellm_kwargs))
    paths = {r["path"] for r in sim.get("/_sim/requests").json()["requests"]}
    assert any(p.startswith("/v1/projects/sim-project/locations/us-central1/") for p in paths), paths


def test_vertex_fault_uses_google_error_shape(litellm_kwargs, sim):
    import litellm

    sim.post("/_sim/faults", json={"match": "gemini-2.0-flash", "status": 429, "retry_after": 1})
    with pytest.raises(litellm.RateLimitError):
        asyncio.run(litellm.acompletion(model="vertex_ai/gemini-2.0-flash", messages=ask("x"), num_retries=0,
                                        **litellm_kwargs))
    logged = sim.get("/_sim/requests").json()["requests"]
    assert logged[-1]["path"].endswith("gemini-2.0-flash:generateContent")


# --- Embeddings, images, audio --------------------------------------------------------------------------


def test_azure_embeddings_are_deterministic_unit_vectors(azure):
    first = azure.embeddings.create(model="emb", input=["alpha", "beta"], dimensions=64)
    again = azure.embeddings.create(model="emb", input="alpha", dimensions=64, encoding_format="float")
    assert [len(d.embedding) for d in first.data] == [64, 64]
    assert first.data[0].embedding == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert first.data[0].embedding != first.data[1].embedding
    assert sum(v * v for v in first.data[0].embedding) == pytest.approx(1.0, abs=1e-4)
    assert first.usage.prompt_tokens == 2


def test_images_as_url_and_base64(azure, base_url):
    import base64

    by_url = azure.images.generate(model="dall-e-3", prompt="a red fox", size="256x256")
    png = httpx.get(by_url.data[0].url).content
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and int.from_bytes(png[16:20], "big") == 256
    inline = azure.images.generate(model="dall-e-3", prompt="a red fox", response_format="b64_json", n=2)
    assert len(inline.data) == 2 and base64.b64decode(inline.data[0].b64_json).startswith(b"\x89PNG")


def test_speech_is_decodable_and_transcriptions_follow_format(azure):
    import io
    import wave

    audio = azure.audio.speech.create(model="tts", voice="alloy", input="one two three four", response_format="wav")
    with wave.open(io.BytesIO(audio.content)) as decoded:
        assert decoded.getframerate() == 24000 and decoded.getnframes() == 24000  # 4 words x 0.25 s
    pcm = azure.audio.speech.create(model="tts", voice="alloy", input="one two three four", response_format="pcm")
    assert len(pcm.content) == 2 * 24000

    upload = ("speech.wav", audio.content)
    size = len(audio.content)
    text = azure.audio.transcriptions.create(model="whisper", file=upload)
    assert text.text == f"[simulated] transcript of {size} bytes"
    verbose = azure.audio.transcriptions.create(model="whisper", file=upload, response_format="verbose_json")
    assert verbose.duration == 1.0 and verbose.segments[0].end == 1.0
    srt = azure.audio.transcriptions.create(model="whisper", file=upload, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,000\n[simulated] transcript")
    vtt = azure.audio.transcriptions.create(model="whisper", file=upload, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000")


@pytest.mark.parametrize("fmt, content_type", [("mp3", "audio/mpeg"), ("opus", "audio/ogg"),
                                               ("aac", "audio/aac"), ("flac", "audio/flac")])
def test_speech_in_compressed_formats_decodes(azure, fmt, content_type):
    import io

    import av

    audio = azure.audio.speech.create(model="tts", voice="alloy", input="one two", response_format=fmt)
    assert audio.response.headers["content-type"] == content_type
    with av.open(io.BytesIO(audio.content)) as container:
        frames = list(container.decode(audio=0))
    assert sum(f.samples for f in frames) / frames[0].sample_rate == pytest.approx(0.5, abs=0.1)


def test_speech_streams_in_chunks_and_translations_answer(azure):
    with azure.audio.speech.with_streaming_response.create(
            model="tts", voice="alloy", input="a b c d e f g h", response_format="pcm") as resp:
        chunks = list(resp.iter_bytes())
    assert len(chunks) > 1 and sum(map(len, chunks)) == 2 * 24000 * 2
    usage = azure.audio.transcriptions.with_raw_response.create(
        model="whisper", file=("a.pcm", b"".join(chunks))).http_response.json()["usage"]
    assert usage == {"type": "duration", "seconds": 1}
    translated = azure.audio.translations.create(model="whisper", file=("a.wav", b"RIFF"))
    assert translated.text == "[simulated] translation of 4 bytes"


def test_vertex_embeddings_through_litellm(litellm_kwargs):
    import litellm

    result = asyncio.run(litellm.aembedding(model="vertex_ai/text-embedding-005", input=["hi there", "x"],
                                            dimensions=16, **litellm_kwargs))
    assert [len(d["embedding"]) for d in result.data] == [16, 16]


def test_vertex_imagen_predict(sim):
    account = sim.get("/_sim/vertex/service-account.json").json()
    now = int(time.time())
    assertion = jwt.encode({"iss": account["client_email"], "aud": account["token_uri"], "iat": now,
                            "exp": now + 600}, account["private_key"], algorithm="RS256")
    token = sim.post("/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                     "assertion": assertion}).json()["access_token"]
    url = "/v1/projects/sim-project/locations/us-central1/publishers/google/models/imagen-3.0-generate-002:predict"
    body = {"instances": [{"prompt": "a dog"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    predictions = sim.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).json()["predictions"]
    import base64

    png = base64.b64decode(predictions[0]["bytesBase64Encoded"])
    assert len(predictions) == 2 and png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == 1408


def test_create_app_in_process_uses_default_key():
    from aiohttp.test_utils import TestClient, TestServer

    from simulator.app import create_app

    async def scenario():
        async with TestClient(TestServer(create_app())) as client:
            url = "/openai/deployments/d/chat/completions?api-version=2024-10-21"
            body = {"messages": [{"role": "user", "content": "in process"}]}
            ok = await client.post(url, json=body, headers={"api-key": "sim-azure-key"})
            assert (await ok.json())["choices"][0]["message"]["content"] == "[simulated] in process"
            denied = await client.post(url, json=body, headers={"Authorization": "Bearer nope"})
            assert denied.status == 401 and (await denied.json())["error"]["code"] == "401"

    asyncio.run(scenario())


# --- Claude through the official anthropic SDK's own Vertex client ------------------------------


@pytest.fixture
def vertex_claude(sim, base_url):
    import anthropic

    account = sim.get("/_sim/vertex/service-account.json").json()
    now = int(time.time())
    assertion = jwt.encode({"iss": account["client_email"], "aud": account["token_uri"], "iat": now,
                            "exp": now + 600}, account["private_key"], algorithm="RS256")
    token = sim.post("/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                     "assertion": assertion}).json()["access_token"]
    return anthropic.AnthropicVertex(base_url=base_url + "/v1", region="us-east5", project_id="sim-project",
                                     access_token=token, max_retries=0)


CLAUDE = "claude-sonnet-4@20250514"


def test_claude_raw_predict_through_the_sdks_vertex_client(vertex_claude, sim):
    message = vertex_claude.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "[simulated] hi" and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 1 and message.usage.output_tokens == 2
    logged = sim.get("/_sim/requests").json()["requests"][-1]
    assert logged["path"].endswith(f"/publishers/anthropic/models/{CLAUDE}:rawPredict")
    assert "model" not in logged["body"]
    short = vertex_claude.messages.create(model=CLAUDE, max_tokens=2, stop_sequences=["never"],
                                          messages=[{"role": "user", "content": "one two three"}])
    assert short.stop_reason == "max_tokens" and short.content[0].text == "[simulated] one"
    cut = vertex_claude.messages.create(model=CLAUDE, max_tokens=50, stop_sequences=["two"],
                                        messages=[{"role": "user", "content": "one two three"}])
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == "two"


def test_claude_stream_raw_predict_events(vertex_claude):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with vertex_claude.messages.stream(model=CLAUDE, max_tokens=2048, thinking=thinking,
                                       messages=[{"role": "user", "content": "stream this"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and "thinking" in kinds and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature and final.content[1].text == "[simulated] stream this"
    assert final.usage.output_tokens > 2


def test_claude_prompt_cache_usage_and_count_tokens(vertex_claude, sim):
    system = [{"type": "text", "text": "cached words " * 50 + str(time.time()), "cache_control": {"type": "ephemeral"}}]
    ask = [{"role": "user", "content": "question"}]
    first = vertex_claude.messages.create(model=CLAUDE, max_tokens=50, system=system, messages=ask)
    second = vertex_claude.messages.create(model=CLAUDE, max_tokens=50, system=system, messages=ask)
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (101, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, 101)
    assert first.usage.input_tokens == second.usage.input_tokens == 1
    counted = vertex_claude.messages.count_tokens(model=CLAUDE, system=system, messages=ask)
    assert counted.input_tokens == 102
    assert sim.get("/_sim/requests").json()["requests"][-1]["body"]["model"] == CLAUDE


def test_claude_errors_in_anthropics_envelope(vertex_claude, sim):
    import anthropic

    sim.post("/_sim/faults", json={"match": CLAUDE, "status": 529})
    with pytest.raises(anthropic.OverloadedError) as caught:
        vertex_claude.messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "overloaded_error"
    sim.post("/_sim/faults", json={"match": CLAUDE, "status": 429})
    with pytest.raises(anthropic.RateLimitError) as caught:          # Google's front: its own shape
        vertex_claude.messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(anthropic.BadRequestError) as caught:
        vertex_claude.messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "x"}],
                                      extra_headers={"anthropic-beta": "files-api-2025-04-14"})
    assert "Unexpected value(s) `files-api-2025-04-14`" in caught.value.body["error"]["message"]
