"""POST /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations (Azure OpenAI;
Vertex offers neither, see test_endpoint_access)."""
from __future__ import annotations

import io
import wave

import av
import httpx
import openai
import pytest

from .conftest import MAX_AUDIO, MAX_BODY

WORDS_40 = " ".join(f"word{i}" for i in range(40))           # 10 s of simulated speech


def decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


def make_wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


def test_speech_streams_wav_in_several_chunks_that_decode(client):
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=WORDS_40, response_format="wav") as resp:
        assert resp.headers["content-type"] == "audio/wav"
        assert "content-length" not in resp.headers                # relayed, not buffered
        chunks = list(resp.iter_bytes())
    assert len(chunks) > 1
    with wave.open(io.BytesIO(b"".join(chunks))) as audio:
        assert audio.getnchannels() == 1
        assert audio.getnframes() / audio.getframerate() == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize("fmt, content_type", [("mp3", "audio/mpeg"), ("opus", "audio/ogg"),
                                               ("aac", "audio/aac"), ("flac", "audio/flac")])
def test_speech_in_compressed_formats_decodes(client, fmt, content_type):
    resp = client.audio.speech.create(model="tts-1", voice="nova", input="one two three four",
                                      response_format=fmt)
    assert resp.response.headers["content-type"] == content_type
    assert decoded_seconds(resp.content) == pytest.approx(1.0, abs=0.1)


def test_speech_pcm_and_speed(client):
    normal = client.audio.speech.create(model="tts-1", voice="alloy", input="a b c d",
                                        response_format="pcm")
    fast = client.audio.speech.create(model="tts-1", voice="alloy", input="a b c d",
                                      response_format="pcm", speed=2.0)
    assert normal.response.headers["content-type"] == "audio/pcm"
    assert len(normal.content) == 24000 * 2                     # 1 s of 24 kHz 16-bit mono
    assert len(fast.content) == 24000                           # half as long at speed 2


def test_speech_cut_by_the_provider_is_cut_for_the_client(gateway, key, sim):
    sim.post("/_sim/faults", json={"match": "audio/speech", "cut_after_chunks": 3})
    received = b""
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("POST", gateway + "/v1/audio/speech", timeout=30,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "tts-1", "voice": "alloy", "input": WORDS_40,
                                "response_format": "pcm"}) as resp:
            assert resp.status_code == 200                      # audio had started to flow
            for chunk in resp.iter_bytes():
                received += chunk
    assert 0 < len(received) < 10 * 24000 * 2


@pytest.mark.parametrize("change, param", [
    ({"input": None}, "input"), ({"input": ""}, "input"), ({"input": "x" * 4097}, "input"),
    ({"voice": None}, "voice"), ({"voice": 3}, "voice"),
    ({"response_format": "ogg"}, "response_format"),
    ({"speed": 0.1}, "speed"), ({"speed": 4.5}, "speed"), ({"speed": "fast"}, "speed"),
    ({"stream_format": "sse"}, "stream_format"), ({"api_key": "x"}, "api_key"),
])
def test_bad_speech_requests_are_400_naming_the_field(gateway, key, change, param):
    body = {k: v for k, v in {"model": "tts-1", "voice": "alloy", "input": "hi", **change}.items()
            if v is not None}
    resp = httpx.post(gateway + "/v1/audio/speech", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-transcribe"])
def test_transcription_in_every_response_format(client, model):
    upload = ("speech.wav", make_wav(1.5), "audio/wav")
    plain = client.audio.transcriptions.create(model=model, file=upload)
    assert plain.text.startswith("[simulated] transcript")
    text = client.audio.transcriptions.create(model=model, file=upload, response_format="text")
    assert isinstance(text, str) and text.startswith("[simulated] transcript")
    srt = client.audio.transcriptions.create(model=model, file=upload, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,500\n")
    vtt = client.audio.transcriptions.create(model=model, file=upload, response_format="vtt")
    assert vtt.startswith("WEBVTT")
    verbose = client.audio.transcriptions.create(
        model=model, file=upload, response_format="verbose_json", language="en",
        prompt="a test", temperature=0.2, timestamp_granularities=["segment", "word"])
    assert verbose.duration == pytest.approx(1.5) and verbose.segments


def test_transcription_form_reaches_the_provider_as_multipart(client, sim):
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", make_wav(0.5)),
                                       language="pt", timestamp_granularities=["word"],
                                       response_format="verbose_json")
    logged = [r for r in sim.get("/_sim/requests").json()["requests"]
              if r["path"].endswith("/audio/transcriptions")][-1]
    assert logged["path"] == "/openai/deployments/whisper-1/audio/transcriptions"
    assert logged["headers"]["Content-Type"].startswith("multipart/form-data")


def test_translation(client):
    result = client.audio.translations.create(model="whisper-1", file=("a.wav", make_wav(1)))
    assert result.text.startswith("[simulated] translation")


def test_compressed_uploads_are_accepted(client):
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input="hi there",
                                     response_format="mp3").content
    result = client.audio.transcriptions.create(model="whisper-1", file=("hi.mp3", mp3))
    assert result.text.startswith("[simulated]")


def test_uploads_have_their_own_size_limit(client):
    # Larger than LLMPROXY_MAX_BODY_BYTES, within LLMPROXY_MAX_AUDIO_BYTES: accepted.
    fits = make_wav(1.2 * MAX_BODY / 32000)
    assert MAX_BODY < len(fits) < MAX_AUDIO
    assert client.audio.transcriptions.create(model="whisper-1", file=("a.wav", fits)).text


@pytest.mark.parametrize("extra", [1, 200 * 1024])
def test_oversized_upload_is_413(client, sim, extra):
    too_big = make_wav(0.1) + b"\x00" * (MAX_AUDIO + extra)
    with pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", too_big))
    assert info.value.status_code == 413
    assert info.value.body["code"] == "request_too_large"
    assert not sim.get("/_sim/requests").json()["requests"]


@pytest.mark.parametrize("content", [b"just some text, not audio", b"\x89PNG\r\n\x1a\n" + b"0" * 64,
                                     b""])
def test_non_audio_upload_is_400_before_any_provider_call(client, sim, content):
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", content))
    assert info.value.body["param"] == "file"
    assert not sim.get("/_sim/requests").json()["requests"]


@pytest.mark.parametrize("fields, param", [
    ({"response_format": "xml"}, "response_format"),
    ({"temperature": "hot"}, "temperature"),
    ({"timestamp_granularities[]": "char"}, "timestamp_granularities[]"),
    ({"chunking_strategy": "auto"}, "chunking_strategy"),
    ({"api_base": "http://elsewhere"}, "api_base"),
])
def test_bad_transcription_fields_are_400_naming_the_field(gateway, key, fields, param):
    resp = httpx.post(gateway + "/v1/audio/transcriptions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      data={"model": "whisper-1", **fields},
                      files={"file": ("a.wav", make_wav(0.2), "audio/wav")})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_transcription_needs_a_file_a_model_and_multipart(gateway, key):
    auth = {"Authorization": f"Bearer {key}"}
    no_file = httpx.post(gateway + "/v1/audio/transcriptions", headers=auth,
                         data={"model": "whisper-1"}, files={"other": ("x", b"1")})
    assert no_file.status_code == 400
    no_model = httpx.post(gateway + "/v1/audio/transcriptions", headers=auth,
                          files={"file": ("a.wav", make_wav(0.2))})
    assert no_model.json()["error"]["param"] == "model"
    as_json = httpx.post(gateway + "/v1/audio/transcriptions", headers=auth,
                         json={"model": "whisper-1"})
    assert as_json.status_code == 400 and "multipart" in as_json.json()["error"]["message"]
