"""What every non-chat endpoint shares: operation checks, private models, metering, faults."""
from __future__ import annotations

import io
import wave

import openai
import pytest

from .test_usage import usage_rows


def wav_upload(seconds: float = 1.0) -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(seconds * 16000))
    return ("a.wav", buffer.getvalue(), "audio/wav")


# One call per endpoint, given a client and the model to use.
CALLS = {
    "embeddings": lambda c, m: c.embeddings.create(model=m, input="hello"),
    "images": lambda c, m: c.images.generate(model=m, prompt="a cat", response_format="b64_json"),
    "audio_tts": lambda c, m: c.audio.speech.create(model=m, voice="alloy", input="hi",
                                                    response_format="wav").read(),
    "audio_stt": lambda c, m: c.audio.transcriptions.create(model=m, file=wav_upload()),
    "translation": lambda c, m: c.audio.translations.create(model=m, file=wav_upload()),
    "chat": lambda c, m: c.chat.completions.create(model=m, messages=[{"role": "user",
                                                                      "content": "hi"}]),
}


@pytest.mark.parametrize("call, model", [("embeddings", "gpt-4o-mini"),
                                         ("images", "text-embedding-3-small"),
                                         ("images", "gemini-embedding-001"),
                                         ("audio_tts", "whisper-1"),
                                         ("audio_stt", "tts-1"),
                                         ("translation", "dall-e-3"),
                                         ("chat", "tts-1")])
def test_a_model_without_the_operation_is_400(client, sim, call, model):
    with pytest.raises(openai.BadRequestError) as info:
        CALLS[call](client, model)
    assert info.value.code == "operation_not_supported"
    assert info.value.body["param"] == "model"
    assert not sim.get("/_sim/requests").json()["requests"]


def private(model_id: str, code: str, operation: str, provider: str = "Azure") -> dict:
    if provider == "Azure":
        params = {"api_base": "$LLMPROXY_SIMULATOR_URL", "api_key": "$SIMULATOR_AZURE_API_KEY",
                  "api_version": "2024-10-21"}
        kind = "AzureOpenAI"
    else:
        params = {"vertex_project": "sim-project", "vertex_location": "us-central1",
                  "vertex_credentials": "$SIMULATOR_VERTEX_CREDENTIALS",
                  "api_base": "$LLMPROXY_SIMULATOR_URL"}
        kind = "GoogleVertex"
    return {"id": model_id, "code": code, "provider": provider, "model_type": kind,
            "parameters": params, "operations": [operation], "projects": ["priv-a"],
            "private": True}


PRIVATE = [("embeddings", private("priv-embed", "text-embedding-3-small", "embeddings")),
           ("embeddings", private("priv-gembed", "gemini-embedding-001", "embeddings", "Google")),
           ("images", private("priv-image", "dall-e-3", "images")),
           ("images", private("priv-imagen", "imagen-3.0-generate-002", "images", "Google")),
           ("audio_tts", private("priv-tts", "tts-1", "audio_tts")),
           ("audio_stt", private("priv-stt", "whisper-1", "audio_stt")),
           ("translation", private("priv-stt", "whisper-1", "audio_stt"))]


@pytest.mark.parametrize("call, doc", PRIVATE, ids=[f"{c}-{d['id']}" for c, d in PRIVATE])
def test_a_private_model_is_invisible_to_other_projects(gateway, admin, make_key, call, doc):
    assert admin.put(f"/v1/organization/models/{doc['id']}", json=doc).status_code == 200
    owner = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("priv-a"), max_retries=0)
    other = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("priv-b"), max_retries=0)
    assert CALLS[call](owner, doc["id"])
    for name in (doc["id"], doc["code"]):            # by id, and by provider code
        if name == doc["code"] and name in {m.id for m in other.models.list()}:
            continue                                 # a public model of the same code exists
        with pytest.raises(openai.NotFoundError) as info:
            CALLS[call](other, name)
        assert info.value.code == "model_not_found"


def test_usage_rows_carry_tokens_and_cost(gateway, admin, make_key):
    project = "meter-media"
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key(project), max_retries=0)
    emb = c.embeddings.create(model="text-embedding-3-small", input="one two three")
    gem = c.embeddings.create(model="gemini-embedding-001", input="one two three four")
    c.images.generate(model="dall-e-3", prompt="x", n=2)
    img = c.images.generate(model="gpt-image-1", prompt="x")
    c.images.generate(model="imagen-3.0-generate-002", prompt="x", n=3)
    c.audio.speech.create(model="tts-1", voice="alloy", input="twelve chars",
                          response_format="wav").read()
    whisper = c.audio.transcriptions.create(model="whisper-1", file=wav_upload(1.5))
    gpt = c.audio.transcriptions.create(model="gpt-4o-transcribe", file=wav_upload(1.5))
    rows = {(r["model"], r["operation"]): r for r in usage_rows(admin, project)}
    assert len(rows) == 8 and all(r["status"] == 200 for r in rows.values())

    def check(model, operation, prompt_tokens, completion_tokens, cost):
        row = rows[(model, operation)]
        assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt_tokens,
                                                                    completion_tokens)
        assert row["cost"] == pytest.approx(cost) and row["cost"] > 0
    check("text-embedding-3-small", "embeddings", emb.usage.prompt_tokens, 0,
          emb.usage.prompt_tokens * 0.02 / 1e6)
    check("gemini-embedding-001", "embeddings", gem.usage.prompt_tokens, 0,
          gem.usage.prompt_tokens * 0.15 / 1e6)
    check("dall-e-3", "images", 0, 0, 2 * 0.04)
    image_tokens = rows[("gpt-image-1", "images")]["prompt_tokens"]
    assert img.data and image_tokens >= 0
    check("imagen-3.0-generate-002", "images", 0, 0, 3 * 0.04)
    check("tts-1", "audio_tts", 0, 0, len("twelve chars") * 15.0 / 1e6)
    assert rows[("tts-1", "audio_tts")]["stream"] is True
    seconds = whisper.usage.seconds                        # whisper bills whole seconds
    check("whisper-1", "audio_stt", 0, 0, seconds / 60 * 0.006)
    check("gpt-4o-transcribe", "audio_stt", gpt.usage.input_tokens, gpt.usage.output_tokens,
          (gpt.usage.input_tokens * 6.0 + gpt.usage.output_tokens * 10.0) / 1e6)


@pytest.mark.parametrize("call, model, match", [
    ("embeddings", "text-embedding-3-small", "embeddings"),
    ("embeddings", "gemini-embedding-001", "gemini-embedding"),
    ("images", "imagen-3.0-generate-002", "imagen"),
    ("audio_tts", "tts-1", "audio/speech"),
    ("audio_stt", "whisper-1", "audio/transcriptions"),
])
def test_provider_429_keeps_retry_after(client, sim, call, model, match):
    sim.post("/_sim/faults", json={"match": match, "status": 429, "retry_after": 9,
                                   "count": 10})          # every retry is throttled too
    with pytest.raises(openai.RateLimitError) as info:
        CALLS[call](client, model)
    if model == "gemini-embedding-001":
        # LiteLLM 1.110.2 drops the provider's headers on Vertex embedding errors.
        assert "retry-after" not in info.value.response.headers
    else:
        assert info.value.response.headers["retry-after"] == "9"


def test_failed_calls_are_metered_with_their_status(gateway, admin, make_key, sim):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("meter-media-fail"),
                      max_retries=0)
    sim.post("/_sim/faults", json={"match": "images", "status": 500, "count": 10})
    with pytest.raises(openai.APIStatusError):
        c.images.generate(model="dall-e-3", prompt="x")
    assert [(r["operation"], r["status"], r["cost"])
            for r in usage_rows(admin, "meter-media-fail")] == [("images", 502, 0.0)]


def vertex_doc(model_type: str, code: str, operation: str) -> dict:
    return {"id": "refused", "code": code, "provider": "Google", "model_type": model_type,
            "parameters": {"vertex_project": "p", "vertex_credentials": "$NOT_SET"},
            "operations": [operation]}


@pytest.mark.parametrize("model_type, code, operation", [
    ("GoogleVertex", "gemini-2.5-flash", "audio_tts"),
    ("GoogleVertex", "gemini-2.5-flash", "audio_stt"),
    ("GoogleVertexClaude", "claude-sonnet-4@20250514", "embeddings"),
    ("GoogleVertexMeta", "meta/llama-3.3-70b-instruct-maas", "images"),
])
def test_the_catalog_cannot_claim_what_a_provider_cannot_do(admin, model_type, code, operation):
    resp = admin.put("/v1/organization/models/refused", json=vertex_doc(model_type, code, operation))
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["param"] == "operations" and operation in error["message"]


@pytest.mark.parametrize("call, model, match", [
    ("embeddings", "gemini-embedding-001", "gemini-embedding"),
    ("images", "imagen-3.0-generate-002", "imagen"),
    ("audio_stt", "whisper-1", "audio/transcriptions"),
])
def test_a_provider_that_does_not_answer_is_504(client, sim, call, model, match):
    sim.post("/_sim/faults", json={"match": match, "hang": True, "count": 10})
    with pytest.raises(openai.APIStatusError) as info:
        CALLS[call](client, model)
    assert info.value.status_code == 504
