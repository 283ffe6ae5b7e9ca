"""Both of the openai SDK's realtime clients, unchanged, against the runner's local Web PubSub:
`client.realtime` (GA protocol) with a secret from `POST /v1/realtime/client_secrets`, and
`client.beta.realtime` (beta protocol) with one from `POST /v1/realtime/sessions`; each given
`websocket_base_url="<ws base>/client/hubs"` and the client secret as its API key, over real
sockets, with text and with real speech (espeak-ng) in and audio out.

Every event a client receives is validated against that protocol's own server-event types from
the SDK (`openai.types.realtime` for GA, `openai.types.beta.realtime` for beta), strictly, not
with the SDK's lenient parsing: an event of the other protocol, or a misshapen one, fails."""
from __future__ import annotations

import asyncio
import base64
import json
import time
import typing

import httpx
import openai
import pytest
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent as GAServerEvent

from shared.realtime import codecs

from .realtime_client import silence, spoken
from .test_realtime import CLIENT_TOKENS, in_order, rt, rt_key  # noqa: F401 (fixtures)

def by_type(union: typing.Any) -> dict[str, typing.Any]:
    """Event type -> the SDK's model of it, for one protocol's server-event union."""
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}


class Protocol:
    def __init__(self, union: typing.Any):
        self.models = by_type(union)

    def validate_python(self, raw: dict) -> None:
        assert raw.get("type") in self.models, f"not an event of this protocol: {raw}"
        if isinstance(raw.get("session"), dict) and "model" in raw["session"]:
            # The beta types list OpenAI's own realtime models; a gateway session's model is
            # a catalog id, which the SDK's own (lenient) parsing takes as it is.
            raw = {**raw, "session": {**raw["session"], "model": "gpt-4o-realtime-preview"}}
        self.models[raw["type"]].model_validate(raw)


GA_EVENTS, BETA_EVENTS = Protocol(GAServerEvent), Protocol(BetaServerEvent)
NET = 60                 # a safety net so a broken gateway fails instead of hanging
USER = {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "apples and pears"}]}


@pytest.fixture(scope="module")
def key(rt_key) -> str:
    return rt_key("sdk-voice").headers["authorization"].split(" ", 1)[1]


@pytest.fixture(scope="module")
def gateway_client(rt, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=rt + "/v1", api_key=key, max_retries=0)


def ga_secret(gateway_client: openai.OpenAI, **session) -> typing.Any:
    secret = gateway_client.realtime.client_secrets.create(
        session={"type": "realtime", **session}, expires_after={"anchor": "created_at",
                                                                "seconds": 300})
    CLIENT_TOKENS.append(secret.value)
    return secret


def socket_client(secret_value: str, base: str, cls=openai.OpenAI) -> typing.Any:
    # The gateway's URL is not needed here: only the WebSocket goes anywhere.
    return cls(api_key=secret_value, websocket_base_url=base, base_url="http://unused.invalid",
               max_retries=0)


def receive(conn, adapter: Protocol, until: str, seen: list[dict]) -> list[dict]:
    got = []
    while True:
        raw = json.loads(conn.recv_bytes())
        adapter.validate_python(raw)              # strictly this protocol's event
        got.append(raw)
        seen.append(raw)
        if raw["type"] == until:
            return got


async def areceive(conn, adapter: Protocol, until: str) -> list[dict]:
    got = []
    while True:
        raw = json.loads(await asyncio.wait_for(conn.recv_bytes(), NET))
        adapter.validate_python(raw)
        got.append(raw)
        if raw["type"] == until:
            return got


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def text_of(events: list[dict], kind: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == kind)


def audio_of(events: list[dict], kind: str) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == kind)


# -- GA: client.realtime ---------------------------------------------------------------------
def test_client_secret_is_ga_shaped_short_lived_and_bound_to_one_session(gateway_client, rt):
    before = time.time()
    secret = ga_secret(gateway_client, model="gpt-4o-mini", instructions="Be brief.",
                       output_modalities=["text"],
                       audio={"output": {"voice": "verse", "format": {"type": "audio/pcmu"}}})
    assert secret.session.type == "realtime" and secret.session.id.startswith("sess_")
    assert secret.session.model == "gpt-4o-mini"
    assert secret.session.output_modalities == ["text"]
    assert secret.session.audio.output.voice == "verse"
    assert secret.session.audio.output.format.type == "audio/pcmu"
    assert secret.session.audio.input.format.type == "audio/pcm"
    assert secret.session.audio.input.format.rate == 24000
    assert before + 290 <= secret.expires_at <= before + 310       # asked for 300 s
    base = secret.websocket_base_url
    assert base.startswith("ws://127.0.0.1:") and base.endswith("/client/hubs")
    # The secret is the Web PubSub token of this one session's user, with no roles.
    claims = json.loads(base64.urlsafe_b64decode(secret.value.split(".")[1] + "=="))
    assert claims["sub"].endswith(secret.session.id) and "role" not in claims
    # It is also listed and readable as one of the project's sessions.
    assert gateway_client.get(f"/realtime/sessions/{secret.session.id}",
                              cast_to=httpx.Response).json()["status"] == "created"


@pytest.mark.parametrize("body, param", [
    ({"session": {"type": "transcription"}}, "session.type"),
    ({"session": {"model": "gpt-4o-mini"}}, "session.type"),
    ({"session": {"type": "realtime", "model": "no-such-model"}}, "session.model"),
    ({"session": {"type": "realtime", "model": "tts-1"}}, "session.model"),
    ({"session": {"type": "realtime", "temperature": 0.5}}, "session.temperature"),
    ({"session": {"type": "realtime", "output_modalities": ["video"]}},
     "session.output_modalities"),
    ({"session": {"type": "realtime",
                  "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}},
     "session.audio.input.turn_detection.type"),
    ({"session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm",
                                                                     "rate": 16000}}}}},
     "session.audio.input.format.rate"),
    ({"session": {"type": "realtime", "audio": {"output": {"speed": 1.5}}}},
     "session.audio.output.speed"),
    ({"session": {"type": "realtime", "tracing": "auto"}}, "session.tracing"),
    ({"expires_after": {"anchor": "created_at", "seconds": 5}}, "expires_after.seconds"),
    ({"expires_after": {"anchor": "now", "seconds": 60}}, "expires_after.anchor"),
    ({"session": {"type": "realtime", "api_base": "http://evil"}}, "api_base"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_client_secret_requests_name_the_field(rt, key, body, param):
    resp = httpx.post(rt + "/v1/realtime/client_secrets", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code in (400, 404), resp.text
    assert resp.json()["error"]["param"] == param, resp.text
    assert httpx.post(rt + "/v1/realtime/client_secrets", json={}).status_code == 401


def test_ga_client_text_turn_and_session_update(gateway_client):
    secret = ga_secret(gateway_client, output_modalities=["text"],
                       audio={"input": {"turn_detection": None}})
    client = socket_client(secret.value, secret.websocket_base_url)
    seen: list[dict] = []
    with client.realtime.connect(model="gpt-4o-mini") as conn:
        created = receive(conn, GA_EVENTS, "session.created", seen)[-1]
        assert created["session"]["type"] == "realtime"
        assert created["session"]["id"] == secret.session.id
        # The GA session.update the SDK sends (it used to be "Unknown parameter: session.type").
        conn.session.update(session={"type": "realtime", "instructions": "Be brief.",
                                     "output_modalities": ["text"],
                                     "audio": {"output": {"voice": "ash"}}})
        updated = receive(conn, GA_EVENTS, "session.updated", seen)[-1]["session"]
        assert updated["instructions"] == "Be brief."
        assert updated["audio"]["output"]["voice"] == "ash"
        # GA writes the assistant's text as `output_text`, in items it sends and takes.
        conn.conversation.item.create(item={"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Ask me about fruit."}]})
        said = receive(conn, GA_EVENTS, "conversation.item.done", seen)[-1]["item"]
        assert said["content"] == [{"type": "output_text", "text": "Ask me about fruit."}]
        conn.conversation.item.create(item=USER)
        added = receive(conn, GA_EVENTS, "conversation.item.done", seen)
        assert types(added) == ["conversation.item.added", "conversation.item.done"]
        conn.response.create()
        events = receive(conn, GA_EVENTS, "response.done", seen)
    seen_types = types(events)
    in_order(seen_types, "response.created", "response.output_item.added",
             "conversation.item.added", "response.content_part.added",
             "response.output_text.delta", "response.output_text.done",
             "response.content_part.done", "response.output_item.done",
             "conversation.item.done", "response.done")
    text = text_of(events, "response.output_text.delta")
    assert text == "[simulated] apples and pears"
    assert events[seen_types.index("response.output_text.done")]["text"] == text
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output_modalities"] == ["text"]
    assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert done["usage"]["output_tokens"] > 0
    assert "error" not in types(seen)


async def test_ga_async_client_spoken_turn_with_server_vad(rt, key):
    async with openai.AsyncOpenAI(base_url=rt + "/v1", api_key=key, max_retries=0) as gw:
        secret = await gw.realtime.client_secrets.create(session={
            "type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    CLIENT_TOKENS.append(secret.value)
    speech = spoken("What is the weather like in Lisbon today")
    client = socket_client(secret.value, secret.websocket_base_url, openai.AsyncOpenAI)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        assert (await areceive(conn, GA_EVENTS, "session.created"))[-1]["session"][
            "output_modalities"] == ["audio"]
        wire = silence(0.4) + speech + silence(1.2)
        step = codecs.RATE * 2 // 10                                   # 100 ms chunks
        for i in range(0, len(wire), step):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(wire[i:i + step]).decode())
            await asyncio.sleep(0.1)                  # a microphone's pace (see realtime_client)
        events = await areceive(conn, GA_EVENTS, "response.done")
    seen = types(events)
    assert "error" not in seen, [e for e in events if e["type"] == "error"]
    in_order(seen, "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
             "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
             "conversation.item.input_audio_transcription.completed", "response.created",
             "response.output_item.added", "conversation.item.added",
             "response.content_part.added", "response.output_audio_transcript.delta",
             "response.output_audio.delta", "response.output_audio.done",
             "response.output_audio_transcript.done", "response.content_part.done",
             "response.output_item.done", "conversation.item.done", "response.done")
    transcribed = events[seen.index("conversation.item.input_audio_transcription.completed")]
    assert transcribed["usage"]["type"] == "duration" and transcribed["usage"]["seconds"] > 1
    said = text_of(events, "response.output_audio_transcript.delta")
    assert said == f"[simulated] {transcribed['transcript']}"
    audio = audio_of(events, "response.output_audio.delta")
    assert len(audio) == pytest.approx(len(said.split()) * 0.25 * codecs.RATE * 2, rel=0.02)
    assert any(abs(s) > 1000 for s in memoryview(audio).cast("h"))
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output_modalities"] == ["audio"]
    assert done["output"][0]["content"][0] == {"type": "output_audio", "transcript": said}
    assert not any(t.startswith(("response.audio", "response.text")) for t in seen)


def test_ga_tools_and_errors(gateway_client):
    tool = {"type": "function", "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    secret = ga_secret(gateway_client, output_modalities=["text"], tools=[tool],
                       audio={"input": {"turn_detection": None}})
    client = socket_client(secret.value, secret.websocket_base_url)
    seen: list[dict] = []
    with client.realtime.connect(model="gpt-4o-mini") as conn:
        receive(conn, GA_EVENTS, "session.created", seen)
        conn.conversation.item.create(item={**USER, "content": [
            {"type": "input_text", "text": "Weather in Lisbon?"}]})
        conn.response.create()
        events = receive(conn, GA_EVENTS, "response.done", seen)
        call = events[-1]["response"]["output"][0]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert json.loads(call["arguments"]) == {"city": "simulated"}
        in_order(types(events), "response.output_item.added", "conversation.item.added",
                 "response.function_call_arguments.done", "response.output_item.done",
                 "conversation.item.done")
        conn.conversation.item.create(item={"type": "function_call_output",
                                            "call_id": call["call_id"], "output": "sunny"})
        conn.response.create(response={"output_modalities": ["text"]})
        events = receive(conn, GA_EVENTS, "response.done", seen)
        assert text_of(events, "response.output_text.delta") == "[simulated] tool result: sunny"
        # GA has no session temperature, and the model is fixed by the secret: errors that
        # name the field, and the session goes on.
        for update, param in [({"temperature": 0.5}, "session.temperature"),
                              ({"model": "gpt-4.1"}, "session.model"),
                              ({"audio": {"input": {"transcription": {"model": "other"}}}},
                               "session.audio.input.transcription.model"),
                              ({"audio": {"input": {"format": {"type": "audio/mp3"}}}},
                               "session.audio.input.format.type")]:
            conn.send({"type": "session.update", "session": {"type": "realtime", **update}})
            error = receive(conn, GA_EVENTS, "error", seen)[-1]["error"]
            assert error["param"] == param, error
        conn.send({"type": "response.create", "response": {"input": []}})
        assert receive(conn, GA_EVENTS, "error", seen)[-1]["error"]["param"] == "response.input"
        conn.session.update(session={"type": "realtime", "instructions": "Still here."})
        assert receive(conn, GA_EVENTS, "session.updated", seen)[-1]["session"][
            "instructions"] == "Still here."


def test_a_ga_session_update_switches_a_beta_created_session_to_ga(gateway_client):
    # A session from the beta endpoint starts in the beta protocol; the GA client's first
    # session.update (with session.type) turns the connection to GA from then on.
    session = gateway_client.beta.realtime.sessions.create(model="gpt-4o-mini",
                                                           modalities=["text"])
    CLIENT_TOKENS.append(session.client_secret.value)
    client = socket_client(session.client_secret.value, session.websocket_base_url)
    seen: list[dict] = []
    with client.realtime.connect(model="gpt-4o-mini") as conn:
        assert json.loads(conn.recv_bytes())["type"] == "session.created"
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                     "audio": {"input": {"turn_detection": None}}})
        updated = receive(conn, GA_EVENTS, "session.updated", seen)[-1]["session"]
        assert updated["type"] == "realtime" and updated["audio"]["input"]["turn_detection"] is None
        conn.conversation.item.create(item=USER)
        conn.response.create()
        events = receive(conn, GA_EVENTS, "response.done", seen)
    assert "response.output_text.delta" in types(events)
    shown = gateway_client.get(f"/realtime/sessions/{session.id}", cast_to=httpx.Response)
    assert shown.json()["protocol"] == "ga"


# -- beta: client.beta.realtime --------------------------------------------------------------
def test_beta_client_text_and_audio(gateway_client):
    session = gateway_client.beta.realtime.sessions.create(
        model="gpt-4o-mini", modalities=["text"], turn_detection=None)
    CLIENT_TOKENS.append(session.client_secret.value)
    client = socket_client(session.client_secret.value, session.websocket_base_url)
    seen: list[dict] = []
    with client.beta.realtime.connect(model="gpt-4o-mini") as conn:
        created = receive(conn, BETA_EVENTS, "session.created", seen)[-1]["session"]
        assert created["id"] == session.id and created["modalities"] == ["text"]
        conn.session.update(session={"instructions": "Be brief.", "voice": "echo"})
        assert receive(conn, BETA_EVENTS, "session.updated", seen)[-1]["session"]["voice"] == "echo"
        conn.conversation.item.create(item=USER)
        conn.response.create()
        text = receive(conn, BETA_EVENTS, "response.done", seen)
        conn.response.create(response={"modalities": ["text", "audio"]})
        spoken_back = receive(conn, BETA_EVENTS, "response.done", seen)
    assert text_of(text, "response.text.delta") == "[simulated] apples and pears"
    said = text_of(spoken_back, "response.audio_transcript.delta")
    audio = audio_of(spoken_back, "response.audio.delta")
    assert said and len(audio) == pytest.approx(len(said.split()) * 0.25 * codecs.RATE * 2,
                                                rel=0.02)
    assert "conversation.item.created" in types(seen)
    assert not any(t.startswith(("response.output_text", "response.output_audio",
                                 "conversation.item.added")) for t in types(seen))


async def test_beta_async_client_spoken_turn(rt, key):
    async with openai.AsyncOpenAI(base_url=rt + "/v1", api_key=key, max_retries=0) as gw:
        session = await gw.beta.realtime.sessions.create(
            model="gpt-4o-mini", input_audio_transcription={"model": "whisper-1"})
    CLIENT_TOKENS.append(session.client_secret.value)
    client = socket_client(session.client_secret.value, session.websocket_base_url,
                           openai.AsyncOpenAI)
    async with client.beta.realtime.connect(model="gpt-4o-mini") as conn:
        await areceive(conn, BETA_EVENTS, "session.created")
        wire = silence(0.4) + spoken("hello there, how are you") + silence(1.2)
        step = codecs.RATE * 2 // 10
        for i in range(0, len(wire), step):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(wire[i:i + step]).decode())
            await asyncio.sleep(0.1)
        events = await areceive(conn, BETA_EVENTS, "response.done")
    seen = types(events)
    in_order(seen, "input_audio_buffer.speech_started", "input_audio_buffer.committed",
             "conversation.item.created",
             "conversation.item.input_audio_transcription.completed",
             "response.audio_transcript.delta", "response.audio.delta", "response.done")
    assert audio_of(events, "response.audio.delta")
    assert events[-1]["response"]["status"] == "completed"


def test_the_beta_client_on_a_ga_created_session_gets_the_beta_protocol(gateway_client):
    # The beta client's handshake says `OpenAI-Beta: realtime=v1`: that decides at connect.
    secret = ga_secret(gateway_client, output_modalities=["text"],
                       audio={"input": {"turn_detection": None}})
    client = socket_client(secret.value, secret.websocket_base_url)
    seen: list[dict] = []
    with client.beta.realtime.connect(model="gpt-4o-mini") as conn:
        created = receive(conn, BETA_EVENTS, "session.created", seen)[-1]["session"]
        assert created["modalities"] == ["text"] and "type" not in created
        conn.conversation.item.create(item=USER)
        conn.response.create()
        events = receive(conn, BETA_EVENTS, "response.done", seen)
    assert text_of(events, "response.text.delta") == "[simulated] apples and pears"


def test_a_secret_connects_once_and_a_wrong_one_never(gateway_client):
    secret = ga_secret(gateway_client)
    with socket_client(secret.value, secret.websocket_base_url).realtime.connect(
            model="x") as conn:
        assert json.loads(conn.recv_bytes())["type"] == "session.created"
        with pytest.raises(Exception) as again:
            with socket_client(secret.value, secret.websocket_base_url).realtime.connect(
                    model="x", max_retries=0) as second:
                second.recv_bytes()
        assert "401" in str(again.value) or "403" in str(again.value) or "1008" in str(
            again.value), again.value
    forged = secret.value[:-4] + ("AAAA" if not secret.value.endswith("AAAA") else "BBBB")
    with pytest.raises(Exception):
        with socket_client(forged, secret.websocket_base_url).realtime.connect(
                model="x", max_retries=0) as conn:
            conn.recv_bytes()


def test_zz_no_key_or_client_secret_in_this_gateway_log(rt, key, logs_dir, store_kind):
    """Runs last in this module, on its own gateway: the SDK clients sent the client secrets as
    `Authorization: Bearer` headers, which reach the connect trigger with the other headers."""
    log = (logs_dir / f"gateway-realtime-{store_kind}.log").read_text()
    assert "DEBUG" in log and "realtime" in log                  # the log really is captured
    secrets = [key, *CLIENT_TOKENS]
    leaked = [s[:12] + "…" for s in secrets if s and s in log]
    assert not leaked, f"secrets found in the realtime gateway log: {leaked}"
