"""Azure OpenAI's routes, called the way existing Azure OpenAI apps call them: the `openai`
package's `AzureOpenAI` and `AsyncAzureOpenAI` clients with only the endpoint and key changed
(deployments surface), and `OpenAI(base_url=.../openai/v1)` (Azure's v1 surface)."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave

import httpx
import openai
import pytest

from .test_admin_and_tenancy import private_model
from .test_audio import make_wav
from .test_chat import WEATHER_TOOL
from .test_images import png_size
from .test_limits import avoid_minute_boundary, limits  # noqa: F401 (fixture)
from .test_usage import usage_rows

API_VERSION = "2024-10-21"
PREVIEW = "2025-04-01-preview"          # speech and gpt-image need a preview version on Azure
MSG = [{"role": "user", "content": "hello azure route"}]


def azure(gateway: str, key: str, api_version: str = API_VERSION, **kw) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=gateway, api_key=key, api_version=api_version,
                              max_retries=0, timeout=60, **kw)


@pytest.fixture(scope="module")
def az(gateway, key) -> openai.AzureOpenAI:
    return azure(gateway, key)


@pytest.fixture(scope="module")
def v1(gateway, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/openai/v1", api_key=key, max_retries=0, timeout=60)


def logged(sim, suffix: str) -> dict:
    return [r for r in sim.get("/_sim/requests").json()["requests"]
            if r["path"].endswith(suffix)][-1]


# --- deployments surface, AzureOpenAI ---------------------------------------------------------

@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4"])
def test_chat_on_a_deployment(gateway, key, model):
    raw = azure(gateway, key).chat.completions.with_raw_response.create(model=model,
                                                                         messages=MSG)
    assert raw.http_request.url.path == f"/openai/deployments/{model}/chat/completions"
    assert raw.http_request.headers["api-key"] == key          # Azure's key header, not Bearer
    assert "authorization" not in raw.http_request.headers
    resp = raw.parse()
    assert resp.choices[0].message.content.startswith("[simulated]")
    assert "hello azure route" in resp.choices[0].message.content
    assert resp.usage.prompt_tokens > 0


def test_models_on_the_deployments_surface(az, gateway, key):
    assert {"gpt-4o-mini", "whisper-1", "dall-e-3"} <= {m.id for m in az.models.list()}
    assert az.models.retrieve("tts-1").id == "tts-1"
    with pytest.raises(openai.NotFoundError):
        az.models.retrieve("no-such-model")
    bad = httpx.get(gateway + "/openai/models", headers={"api-key": key})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "api-version"


def test_the_deployment_in_the_path_is_the_model(gateway, key, sim):
    # Azure routes by the path; a different `model` in the body does not change the model.
    chosen = "2099-01-01-preview"                 # well formed, but not ours to forward
    with httpx.Client(base_url=gateway, timeout=30) as c:
        resp = c.post("/openai/deployments/gpt-4o-mini/chat/completions",
                      params={"api-version": chosen}, headers={"api-key": key},
                      json={"model": "claude-sonnet-4", "messages": MSG})
        assert resp.status_code == 200, resp.text
        upstream = logged(sim, "/chat/completions")
        assert upstream["path"] == "/openai/deployments/gpt-4o-mini/chat/completions"
        assert upstream["query"]["api-version"] != chosen      # the catalog's version
        assert "claude" not in json.dumps(upstream["body"])
        no_model = c.post("/openai/deployments/gpt-4.1/chat/completions",
                          params={"api-version": API_VERSION}, headers={"api-key": key},
                          json={"messages": MSG})
        assert no_model.status_code == 200, no_model.text
        assert logged(sim, "/chat/completions")["body"]["model"] != "gpt-4o-mini"


def test_stream_on_a_deployment(az):
    chunks = list(az.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[simulated]") and "hello azure route" in text
    assert chunks[-1].usage.completion_tokens > 0


def test_tools_on_a_deployment(az):
    messages = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    first = az.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                       tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}]
    second = az.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                        tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_embeddings_on_a_deployment(az):
    result = az.embeddings.create(model="text-embedding-3-small", input=["one", "two"],
                                  encoding_format="float")
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert result.data[0].embedding != result.data[1].embedding
    b64 = az.embeddings.create(model="text-embedding-3-small", input="one")   # SDK asks base64
    assert b64.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)


def test_images_on_a_deployment(gateway, key):
    az = azure(gateway, key, PREVIEW)
    result = az.images.generate(model="dall-e-3", prompt="a lighthouse", size="1024x1024",
                                response_format="b64_json")
    assert png_size(base64.b64decode(result.data[0].b64_json)) == (1024, 1024)


def test_speech_on_a_deployment(gateway, key):
    az = azure(gateway, key, PREVIEW)
    with az.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="one two three four",
            response_format="wav") as resp:
        assert resp.http_request.url.path == "/openai/deployments/tts-1/audio/speech"
        assert resp.headers["content-type"] == "audio/wav"
        audio = resp.read()
    with wave.open(io.BytesIO(audio)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(1.0, abs=0.01)


def test_transcription_and_translation_on_a_deployment(az, sim):
    text = az.audio.transcriptions.create(model="whisper-1", file=("a.wav", make_wav(1)))
    assert text.text
    upstream = logged(sim, "/audio/transcriptions")
    assert upstream["path"] == "/openai/deployments/whisper-1/audio/transcriptions"
    srt = az.audio.transcriptions.create(model="whisper-1", file=("a.wav", make_wav(1)),
                                         response_format="srt")
    assert "-->" in srt
    assert az.audio.translations.create(model="whisper-1", file=("a.wav", make_wav(1))).text


def test_azure_ad_token_is_sent_as_bearer_and_accepted(gateway, key):
    # An app on Entra tokens (azure_ad_token / azure_ad_token_provider) sends
    # `Authorization: Bearer`; with the project key in its place it works unchanged.
    client = openai.AzureOpenAI(azure_endpoint=gateway, azure_ad_token=key,
                                api_version=API_VERSION, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSG)
    assert raw.http_request.headers["authorization"] == f"Bearer {key}"
    assert "api-key" not in raw.http_request.headers
    assert raw.parse().choices[0].message.content
    provider = openai.AzureOpenAI(azure_endpoint=gateway, azure_ad_token_provider=lambda: key,
                                  api_version=API_VERSION, max_retries=0)
    assert provider.embeddings.create(model="text-embedding-3-small", input="x").data


def test_async_client_every_operation(gateway, key):
    async def run():
        client = openai.AsyncAzureOpenAI(azure_endpoint=gateway, api_key=key,
                                         api_version=API_VERSION, max_retries=0)
        async with client:
            plain = await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
            stream = await client.chat.completions.create(model="llama-3.3-70b", messages=MSG,
                                                          stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])
            emb = await client.embeddings.create(model="text-embedding-3-small", input="x")
            speech = await client.audio.speech.create(model="tts-1", voice="alloy",
                                                      input="one two", response_format="wav")
            heard = await client.audio.transcriptions.create(model="whisper-1",
                                                             file=("a.wav", make_wav(1)))
            images = await client.images.generate(model="dall-e-3", prompt="a boat",
                                                  size="1024x1024", response_format="b64_json")
            tokens = openai.AsyncAzureOpenAI(azure_endpoint=gateway, azure_ad_token=key,
                                             api_version=API_VERSION, max_retries=0)
            async with tokens:
                tool = await tokens.chat.completions.create(
                    model="gpt-4o-mini", tools=[WEATHER_TOOL],
                    messages=[{"role": "user", "content": "weather in Oslo?"}])
        return plain, text, emb, tool, speech, heard, images
    plain, text, emb, tool, speech, heard, images = asyncio.run(run())
    with wave.open(io.BytesIO(speech.content)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(0.5, abs=0.01)
    assert heard.text
    assert png_size(base64.b64decode(images.data[0].b64_json)) == (1024, 1024)
    assert "hello azure route" in plain.choices[0].message.content
    assert text.startswith("[simulated]")
    assert emb.data[0].embedding
    assert tool.choices[0].message.tool_calls[0].function.name == "get_weather"


# --- api-version ------------------------------------------------------------------------------

@pytest.mark.parametrize("params, code", [
    ({}, "missing_required_parameter"),
    ({"api-version": ""}, "missing_required_parameter"),
    ({"api-version": "latest"}, "BadRequest"),
    ({"api-version": "2024-13-01"}, "BadRequest"),
    ({"api-version": "2024-10-21-beta"}, "BadRequest"),
    ({"api-version": "2024-10-21&x=1"}, "BadRequest"),
])
def test_deployments_need_a_well_formed_api_version(gateway, key, sim, params, code):
    resp = httpx.post(gateway + "/openai/deployments/gpt-4o-mini/chat/completions",
                      params=params, headers={"api-key": key},
                      json={"messages": MSG}, timeout=30)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == {**resp.json()["error"], "param": "api-version",
                                    "code": code, "type": "invalid_request_error"}
    assert not sim.get("/_sim/requests").json()["requests"]       # nothing went upstream


def test_a_bad_api_version_through_the_sdk_is_a_bad_request_error(gateway, key):
    with pytest.raises(openai.BadRequestError) as info:
        azure(gateway, key, "2024-10").chat.completions.create(model="gpt-4o-mini",
                                                               messages=MSG)
    assert info.value.code == "BadRequest" and info.value.param == "api-version"


# --- errors, tenancy, metering ----------------------------------------------------------------

def test_errors_keep_the_openai_envelope(gateway, key):
    with pytest.raises(openai.NotFoundError) as info:
        azure(gateway, key).chat.completions.create(model="no-such-deployment", messages=MSG)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        azure(gateway, "llmp-wrong").chat.completions.create(model="gpt-4o-mini", messages=MSG)
    with pytest.raises(openai.BadRequestError) as bad:
        azure(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert bad.value.param == "messages"
    missing = httpx.post(gateway + "/openai/deployments/gpt-4o-mini/chat/completions",
                         params={"api-version": API_VERSION}, json={"messages": MSG})
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    routed = httpx.post(gateway + "/openai/deployments/gpt-4o-mini/chat/completions",
                        params={"api-version": API_VERSION}, headers={"api-key": key},
                        json={"messages": MSG, "api_base": "http://evil.example"})
    assert routed.status_code == 400 and routed.json()["error"]["param"] == "api_base"


def test_a_private_model_of_another_project_is_404_on_both_surfaces(gateway, admin, make_key):
    assert admin.put("/v1/organization/models/azure-team-a",
                     json=private_model("azure-team-a", ["azure-a"])).status_code == 200
    a, b = make_key("azure-a"), make_key("azure-b")
    assert azure(gateway, a).chat.completions.create(model="azure-team-a", messages=MSG).choices
    with pytest.raises(openai.NotFoundError) as info:
        azure(gateway, b).chat.completions.create(model="azure-team-a", messages=MSG)
    assert info.value.code == "model_not_found"
    other = openai.OpenAI(base_url=gateway + "/openai/v1", api_key=b, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.create(model="azure-team-a", messages=MSG)
    with pytest.raises(openai.NotFoundError):
        other.models.retrieve("azure-team-a")


def test_azure_routes_are_metered_like_v1(gateway, admin, make_key):
    project = "azure-metered"
    key = make_key(project)
    resp = azure(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    list(azure(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=MSG,
                                                     stream=True))
    openai.OpenAI(base_url=gateway + "/openai/v1", api_key=key).embeddings.create(
        model="text-embedding-3-small", input="x")
    rows = usage_rows(admin, project)
    assert sorted((r["operation"], r["stream"]) for r in rows) == [
        ("ChatCompletion", False), ("ChatCompletion", True), ("embeddings", False)]
    plain = next(r for r in rows if r["operation"] == "ChatCompletion" and not r["stream"])
    assert plain["prompt_tokens"] == resp.usage.prompt_tokens and plain["cost"] > 0


def test_azure_routes_share_the_projects_limits_with_v1(gateway, make_key, limits):
    # One per-minute request budget for the project, whichever surface spends it.
    limits("azure-limited", requests_per_minute=2)
    key = make_key("azure-limited")
    avoid_minute_boundary()
    plain = openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0)
    assert plain.chat.completions.create(model="gpt-4o-mini", messages=MSG).choices
    raw = azure(gateway, key).chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                                         messages=MSG)
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as info:
        openai.OpenAI(base_url=gateway + "/openai/v1", api_key=key,
                      max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert info.value.response.headers["x-ratelimit-limit-requests"] == "2"


# --- v1 surface -------------------------------------------------------------------------------

def test_v1_surface_with_the_openai_client(v1):
    assert {"gpt-4o-mini", "tts-1"} <= {m.id for m in v1.models.list()}
    assert v1.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    resp = v1.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert "hello azure route" in resp.choices[0].message.content
    text = "".join(c.choices[0].delta.content or "" for c in v1.chat.completions.create(
        model="gemini-2.5-flash", messages=MSG, stream=True) if c.choices)
    assert text.startswith("[simulated]")
    assert v1.embeddings.create(model="text-embedding-3-small", input="x").data[0].embedding
    assert v1.images.generate(model="gpt-image-1", prompt="a fox", size="1024x1024").data
    assert v1.audio.speech.create(model="tts-1", voice="alloy", input="a b").content
    assert v1.audio.transcriptions.create(model="whisper-1", file=("a.wav", make_wav(1))).text
    assert v1.audio.translations.create(model="whisper-1", file=("a.wav", make_wav(1))).text


def test_v1_surface_api_version_is_optional_and_checked(gateway, key):
    for version in ("v1", "preview", "latest"):
        ok = httpx.post(gateway + "/openai/v1/chat/completions", params={"api-version": version},
                        headers={"api-key": key}, json={"model": "gpt-4o-mini", "messages": MSG},
                        timeout=30)
        assert ok.status_code == 200, ok.text
    bad = httpx.post(gateway + "/openai/v1/chat/completions",
                     params={"api-version": "2024-10-21"}, headers={"api-key": key},
                     json={"model": "gpt-4o-mini", "messages": MSG}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "api-version"
    no_model = httpx.post(gateway + "/openai/v1/chat/completions", headers={"api-key": key},
                          json={"messages": MSG}, timeout=30)
    assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"


# --- Responses on both surfaces ---------------------------------------------------------------
# AzureOpenAI(...).responses calls /openai/responses?api-version=... (no deployment in the path;
# the body names the model); OpenAI(base_url=.../openai/v1) calls /openai/v1/responses.

@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4"])
def test_responses_with_the_azure_client(gateway, key, model):
    az = azure(gateway, key, api_version=PREVIEW)
    raw = az.responses.with_raw_response.create(model=model, input="hello azure responses")
    assert raw.http_request.url.path == "/openai/responses"
    assert raw.http_request.url.params["api-version"] == PREVIEW
    resp = raw.parse()
    assert resp.status == "completed" and resp.model == model
    assert "hello azure responses" in resp.output_text
    assert az.responses.retrieve(resp.id).output_text == resp.output_text
    items = az.responses.input_items.list(resp.id)
    assert [i.content[0].text for i in items.data] == ["hello azure responses"]
    follow = az.responses.create(model="gemini-2.5-flash", input="and then?",
                                 previous_response_id=resp.id)
    assert follow.status == "completed"
    events = [e.type for e in az.responses.create(model=model, input="stream", stream=True)]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    az.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError):
        az.responses.retrieve(resp.id)


def test_responses_on_the_v1_surface(v1):
    resp = v1.responses.create(model="gpt-4o-mini", input="hello v1 responses")
    assert "hello v1 responses" in resp.output_text
    assert v1.responses.retrieve(resp.id).id == resp.id
    assert [i.type for i in v1.responses.input_items.list(resp.id).data] == ["message"]
    with v1.responses.stream(model="claude-sonnet-4", input="streamed") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text and "streamed" in text
    v1.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError):
        v1.responses.retrieve(resp.id)


@pytest.mark.parametrize("surface", ["deployments", "v1"])
def test_background_responses_and_cancel_on_both_surfaces(gateway, key, sim, surface):
    client = (azure(gateway, key, api_version=PREVIEW) if surface == "deployments" else
              openai.OpenAI(base_url=gateway + "/openai/v1", api_key=key, max_retries=0))
    queued = client.responses.create(model="gpt-4o-mini", input="later", background=True)
    assert queued.status == "queued"
    deadline = time.monotonic() + 20
    while (done := client.responses.retrieve(queued.id)).status in ("queued", "in_progress") \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.status == "completed" and "later" in done.output_text
    sim.post("/_sim/faults", json={"match": "", "latency_ms": 1500})
    slow = client.responses.create(model="gpt-4o-mini", input="cancel me", background=True)
    assert client.responses.cancel(slow.id).status == "cancelled"
    assert client.responses.retrieve(slow.id).status == "cancelled"


def test_responses_routes_check_the_api_version_and_the_project(gateway, key, make_key):
    missing = httpx.post(gateway + "/openai/responses", headers={"api-key": key},
                         json={"model": "gpt-4o-mini", "input": "x"}, timeout=30)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "api-version"
    dated_on_v1 = httpx.get(gateway + "/openai/v1/responses/resp_x",
                            params={"api-version": API_VERSION}, headers={"api-key": key})
    assert dated_on_v1.status_code == 400
    assert dated_on_v1.json()["error"]["param"] == "api-version"
    mine = azure(gateway, key, api_version=PREVIEW).responses.create(model="gpt-4o-mini",
                                                                    input="mine")
    other = make_key("azure-responses-other")
    for client in (azure(gateway, other, api_version=PREVIEW),
                   openai.OpenAI(base_url=gateway + "/openai/v1", api_key=other, max_retries=0)):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            client.responses.input_items.list(mine.id)
        with pytest.raises(openai.NotFoundError):
            client.responses.delete(mine.id)
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="gpt-4o-mini", input="x",
                                    previous_response_id=mine.id)
