"""Core pieces of the media endpoints called directly: audio sniffing, the multipart parser, unit
costs, and the dispatch functions the realtime pipeline calls (against the real simulator)."""
from __future__ import annotations

import io
import json
import urllib.request
import wave

import pytest

from shared import dispatch
from shared.audio_files import sniff_audio, wav_duration, wav_from_pcm
from shared.catalog import Costs, ModelDocument
from shared.config import Settings
from shared.errors import InvalidRequest, ModelNotFound, PayloadTooLarge
from shared.gateway import Gateway
from shared.keys import Caller
from shared.multipart import parse_form


def wav_bytes(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(seconds * 8000))
    return buffer.getvalue()


@pytest.mark.parametrize("head, kind", [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"), (b"ID3\x04\x00\x00", "mp3"),
    (b"\xff\xfb\x90\x64", "mp3"), (b"\xff\xf3\x64\xc4", "mp3"), (b"OggS\x00\x02", "ogg"),
    (b"fLaC\x00\x00\x00\x22", "flac"), (b"\x1a\x45\xdf\xa3\x9f\x42", "webm"),
    (b"\x00\x00\x00\x20ftypM4A ", "mp4"), (b"\xff\xf1\x50\x80", "aac"),
])
def test_audio_containers_are_recognized(head, kind):
    assert sniff_audio(head + b"\x00" * 32) == kind


@pytest.mark.parametrize("data", [b"", b"hello", b"RIFF\x24\x00\x00\x00AVI ", b"\x89PNG\r\n\x1a\n",
                                  b"%PDF-1.7", b"\xff\xe9\x00\x00", b"PK\x03\x04"])
def test_other_files_are_not_audio(data):
    assert sniff_audio(data) is None


def test_wav_duration_and_pcm_wrapping():
    assert wav_duration(wav_bytes(1.25)) == pytest.approx(1.25)
    assert wav_duration(b"not a wav") is None
    wrapped = wav_from_pcm(b"\x01\x00" * 12_000)                  # 0.5 s at 24 kHz
    assert sniff_audio(wrapped) == "wav" and wav_duration(wrapped) == pytest.approx(0.5)


def form_body(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content
        out += b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_keeps_binary_content_and_repeated_fields():
    binary = b"RIFF\r\n-- XyZ\r\n\r\nx--XyZ\x00\xff\r\n"      # boundary text, not a delimiter
    form = parse_form(form_body([("model", None, b"whisper-1"), ("file", "a.wav", binary),
                                 ("timestamp_granularities[]", None, b"word"),
                                 ("timestamp_granularities[]", None, b"segment")]),
                      'multipart/form-data; boundary="XyZ"')
    assert form.files["file"].content == binary and form.files["file"].filename == "a.wav"
    assert form.value("model") == "whisper-1"
    assert form.fields["timestamp_granularities[]"] == ["word", "segment"]
    with pytest.raises(InvalidRequest) as info:
        form.value("timestamp_granularities[]")
    assert info.value.param == "timestamp_granularities[]"


@pytest.mark.parametrize("body, content_type", [
    (b"--XyZ\r\n", "multipart/form-data; boundary=XyZ"),                    # never closed
    (b"whatever", "application/json"),
    (b"--XyZ\r\nno separator--XyZ--", "multipart/form-data; boundary=XyZ"),
    (form_body([("", None, b"x")]), "multipart/form-data; boundary=XyZ"),  # no field name
])
def test_malformed_multipart_is_400(body, content_type):
    with pytest.raises(InvalidRequest):
        parse_form(body, content_type)


def test_unit_costs():
    costs = Costs(cost_per_image=0.04, cost_1Mcharacters=15, cost_per_minute=0.006,
                  cost_input_1Mtokens=1)
    assert costs.cost(0, 0, images=3) == pytest.approx(0.12)
    assert costs.cost(0, 0, characters=1_000_000) == pytest.approx(15)
    assert costs.cost(0, 0, audio_seconds=90) == pytest.approx(0.009)
    assert costs.cost(1_000_000, 0, images=1) == pytest.approx(1.04)


@pytest.fixture
async def gw(tmp_path, simulator):
    account = urllib.request.urlopen(simulator + "/_sim/vertex/service-account.json").read()
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper",
           "LLMPROXY_MAX_AUDIO_BYTES": "1000000", "SIM": simulator, "SIM_KEY": "sim-azure-key",
           "SIM_VERTEX": account.decode()}
    gateway = await Gateway(Settings.from_env(env)).ready()
    for doc in json.loads(open("catalog/simulator.json").read()):
        params = {k: {"$LLMPROXY_SIMULATOR_URL": "$SIM", "$SIMULATOR_AZURE_API_KEY": "$SIM_KEY",
                      "$SIMULATOR_VERTEX_CREDENTIALS": "$SIM_VERTEX"}.get(v, v)
                  for k, v in doc["parameters"].items()}
        doc = ModelDocument.model_validate({**doc, "parameters": params})
        await gateway.store.upsert_model(doc)
    gateway.catalog.invalidate()
    yield gateway
    await gateway.close()


async def test_dispatch_speech_then_transcription_round_trip(gw):
    caller = Caller(project="voice", key_id="k1")
    audio = await dispatch.synthesize_speech(gw, caller, "tts-1", " ".join(["word"] * 60),
                                             "alloy", response_format="wav", speed=1.5)
    assert audio.content_type == "audio/wav"
    chunks = [chunk async for chunk in audio.chunks]
    assert len(chunks) > 1              # 480 KB: the client pauses reading past 256 KiB unread
    spoken = b"".join(chunks)
    assert wav_duration(spoken) == pytest.approx(10.0, abs=0.01)
    result = await dispatch.transcribe(gw, caller, "whisper-1", spoken, "turn.wav",
                                       response_format="verbose_json", language="en")
    assert result.media_type == "application/json"
    assert json.loads(result.body)["duration"] == pytest.approx(10.0, abs=0.01)
    text = await dispatch.transcribe(gw, caller, "whisper-1", spoken, "turn.wav",
                                     response_format="text")
    assert text.media_type == "text/plain" and text.body.startswith(b"[simulated]")
    await gw.usage.flush()
    rows = await gw.store.query_usage("voice")
    assert sorted(r.operation for r in rows) == ["audio_stt", "audio_stt", "audio_tts"]
    assert all(r.status == 200 and r.cost > 0 for r in rows)


async def test_dispatch_checks_before_calling(gw):
    caller = Caller(project="voice", key_id="k1")
    with pytest.raises(InvalidRequest) as info:
        await dispatch.synthesize_speech(gw, caller, "tts-1", "hi", "alloy", speed=5)
    assert info.value.param == "speed"
    with pytest.raises(InvalidRequest) as info:
        await dispatch.synthesize_speech(gw, caller, "whisper-1", "hi", "alloy")
    assert info.value.code == "operation_not_supported"
    with pytest.raises(ModelNotFound):
        await dispatch.transcribe(gw, caller, "no-such-model", wav_bytes(0.1), "a.wav")
    with pytest.raises(PayloadTooLarge):
        await dispatch.transcribe(gw, caller, "whisper-1", wav_bytes(70), "a.wav")
    with pytest.raises(InvalidRequest) as info:
        await dispatch.transcribe(gw, caller, "whisper-1", b"plain text", "a.wav")
    assert info.value.param == "file"


async def test_a_consumer_that_stops_early_is_metered_as_499(gw):
    caller = Caller(project="voice-early", key_id="k1")
    audio = await dispatch.synthesize_speech(gw, caller, "tts-1", " ".join(["w"] * 40), "alloy",
                                             response_format="pcm")
    async for _ in audio.chunks:
        break
    await audio.chunks.aclose()
    await gw.usage.flush()
    rows = await gw.store.query_usage("voice-early")
    assert [(r.operation, r.status) for r in rows] == [("audio_tts", 499)]


async def test_a_speech_stream_closed_before_reading_is_released_and_metered(gw):
    caller = Caller(project="voice-unread", key_id="k1")
    audio = await dispatch.synthesize_speech(gw, caller, "tts-1", "never heard", "alloy",
                                             response_format="wav")
    await audio.close()
    await audio.close()                                      # idempotent: still one row
    await gw.usage.flush()
    rows = await gw.store.query_usage("voice-unread")
    assert [(r.operation, r.status, r.stream) for r in rows] == [("audio_tts", 499, True)]
