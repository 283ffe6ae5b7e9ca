"""Realtime voice sessions end to end: the session API over HTTP, a real WebSocket client on the
runner's local Web PubSub, real speech audio (espeak-ng) in, the provider simulator behind the
chat, transcription and speech models."""
from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import websockets

from shared.realtime import codecs

from .conftest import ADMIN_KEY, ISSUED_KEYS, cosmos_env, gateway_env, running_gateway
from .realtime_client import JSON_PROTOCOL, Client, audio_of, silence, spoken, types


@pytest.fixture(scope="module")
def rt(simulator, tmp_path_factory, logs_dir, store_kind, request):
    """A gateway of its own (on each store) whose provider timeout is long, so a test can hold a
    provider call open (a `hang` fault) for as long as it needs without racing a timeout."""
    log = logs_dir / f"gateway-realtime-{store_kind}.log"
    extra = {}
    if store_kind == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), "gateway-realtime-tests")
    env = gateway_env(simulator, tmp_path_factory.mktemp("rt-data"), **extra)
    env["LLMPROXY_REQUEST_TIMEOUT_SECONDS"] = "120"
    env["LLMPROXY_REALTIME_CHAT_MODEL"] = "gpt-4o-mini"
    env.pop("WebPubSubConnectionString", None)
    with running_gateway(env, log) as url:
        yield url


@pytest.fixture(scope="module")
def rt_key(rt):
    def make(project: str) -> httpx.Client:
        resp = httpx.post(f"{rt}/v1/organization/projects/{project}/api_keys", json={"name": "rt"},
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert resp.status_code == 201, resp.text
        ISSUED_KEYS.append(resp.json()["value"])
        return httpx.Client(base_url=rt, timeout=60,
                            headers={"Authorization": f"Bearer {resp.json()['value']}"})
    return make


@pytest.fixture(scope="module")
def api(rt_key) -> httpx.Client:
    return rt_key("voice")


CLIENT_TOKENS: list[str] = []      # every session's client token, for the log check at the end


def create(api: httpx.Client, **body) -> dict:
    resp = api.post("/v1/realtime/sessions", json=body)
    assert resp.status_code == 201, resp.text
    CLIENT_TOKENS.append(resp.json()["client_secret"]["value"])
    return resp.json()


async def opened(api: httpx.Client, protocol: str | None = None, **body) -> tuple[dict, Client]:
    session = create(api, **body)
    client = await Client.open(session["websocket_url"], protocol)
    first = await client.next()
    assert first["type"] == "session.created" and first["session"]["id"] == session["id"]
    return session, client


def in_order(seen: list[str], *expected: str) -> None:
    """`expected` appear in `seen` in this order (other events may come between)."""
    position = 0
    for name in expected:
        assert name in seen[position:], f"{name} missing after {seen[:position]}"
        position = seen.index(name, position) + 1


# -- the session API --------------------------------------------------------------------------
def test_session_creation_picks_catalog_models_and_scopes_the_token(api):
    session = create(api, voice="verse", instructions="Be brief.")
    assert session["object"] == "realtime.session" and session["id"].startswith("sess_")
    assert session["model"] == "gpt-4o-mini"                        # the configured default
    assert session["input_audio_transcription"]["model"] and session["speech_model"]
    assert session["voice"] == "verse" and session["status"] == "created"
    assert session["websocket_url"].startswith("ws://127.0.0.1:")
    claims = json.loads(base64.urlsafe_b64decode(
        session["client_secret"]["value"].split(".")[1] + "=="))
    assert claims["sub"].endswith(session["id"])
    assert claims["webpubsub.group"] == [f"session.{session['id']}"]
    assert "role" not in claims                                  # no roles at all
    assert claims["exp"] - claims["iat"] <= 10 * 60


@pytest.mark.parametrize("body, param", [
    ({"model": "no-such-model"}, "model"),
    ({"model": "tts-1"}, "model"),                                   # not a chat model
    ({"speech_model": "gpt-4o-mini"}, "speech_model"),
    ({"input_audio_format": "mp3"}, "input_audio_format"),
    ({"turn_detection": {"type": "server_vad", "silence_duration_ms": -1}},
     "turn_detection.silence_duration_ms"),
    ({"colour": "blue"}, "colour"),
    ({"api_base": "http://evil"}, "api_base"),
])
def test_bad_session_requests_name_the_field(api, body, param):
    resp = api.post("/v1/realtime/sessions", json=body)
    assert resp.status_code in (400, 404), resp.text
    assert resp.json()["error"]["param"] == param


def test_sessions_are_per_project_and_listed_active_first(api, rt_key):
    other = rt_key("someone-else")
    mine = create(api)
    ended = create(api)
    assert api.delete(f"/v1/realtime/sessions/{ended['id']}").json()["status"] == "closed"
    assert other.get(f"/v1/realtime/sessions/{mine['id']}").status_code == 404
    assert other.delete(f"/v1/realtime/sessions/{mine['id']}").status_code == 404
    assert all(s["id"] != mine["id"] for s in other.get("/v1/realtime/sessions").json()["data"])
    listed = api.get("/v1/realtime/sessions").json()["data"]
    statuses = [s["status"] for s in listed]
    assert statuses == sorted(statuses, key=lambda s: s == "closed")   # active first
    assert api.get(f"/v1/realtime/sessions/{mine['id']}").json()["status"] == "created"
    assert httpx.get(str(api.base_url).rstrip("/") + "/v1/realtime/sessions").status_code == 401


# -- a full voice turn --------------------------------------------------------------------------
async def test_a_spoken_turn_is_heard_answered_and_spoken(rt_key, sim):
    api = rt_key("voice-turn")
    session, client = await opened(api, speech_model="tts-1",
                                   input_audio_transcription={"model": "whisper-1"})
    speech = spoken("What is the weather like in Lisbon today")
    await client.append(silence(0.4) + speech + silence(1.2))
    events = await client.until("response.done")
    seen = types(events)
    assert "error" not in seen, [e for e in events if e["type"] == "error"]
    in_order(seen, "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
             "input_audio_buffer.committed", "conversation.item.created",
             "conversation.item.input_audio_transcription.completed", "response.created",
             "response.output_item.added", "conversation.item.created",
             "response.content_part.added", "response.audio_transcript.delta",
             "response.audio.delta", "response.audio.done", "response.audio_transcript.done",
             "response.content_part.done", "response.output_item.done", "response.done")
    assert seen.count("input_audio_buffer.speech_started") == 1
    started = events[seen.index("input_audio_buffer.speech_started")]
    stopped = events[seen.index("input_audio_buffer.speech_stopped")]
    assert 300 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    assert started["item_id"] == stopped["item_id"]
    transcript = events[seen.index("conversation.item.input_audio_transcription.completed")]
    assert transcript["item_id"] == started["item_id"]
    assert transcript["transcript"].startswith("[simulated] transcript of")
    # The transcription model got the speech as a WAV file, padding included.
    uploads = [r for r in sim.get("/_sim/requests").json()["requests"] if "transcriptions" in r["path"]]
    assert len(uploads) == 1
    heard = int(transcript["transcript"].split()[-2]) - 44             # minus the WAV header
    assert len(speech) <= heard <= len(speech) + 2 * codecs.RATE * 2   # speech + padding/tail
    # Text deltas add up to the transcript of what was spoken back.
    said = "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta")
    done = events[seen.index("response.audio_transcript.done")]
    assert said == done["transcript"] == f"[simulated] {transcript['transcript']}"
    # The audio decodes: pcm16 24 kHz, as long as the simulator's tone for those words.
    audio = audio_of(events)
    assert len(audio) % 2 == 0 and len(audio) > 0
    words = len(said.split())
    assert len(audio) == pytest.approx(words * 0.25 * codecs.RATE * 2, rel=0.02)
    assert any(abs(s) > 1000 for s in memoryview(audio).cast("h"))
    finished = events[-1]["response"]
    assert finished["status"] == "completed"
    assert finished["usage"]["input_tokens"] > 0 and finished["usage"]["output_tokens"] > 0
    assert finished["usage"]["total_tokens"] == (finished["usage"]["input_tokens"]
                                                 + finished["usage"]["output_tokens"])
    assert [o["type"] for o in finished["output"]] == ["message"]
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)
    await client.close()
    state = api.get(f"/v1/realtime/sessions/{session['id']}").json()
    assert state["usage"]["responses"] == 1 and state["usage"]["output_tokens"] > 0
    assert state["items"] == 2
    # Every model call is metered as the project's usage, and the session's cost adds them up.
    rows = httpx.get(f"{str(api.base_url).rstrip('/')}/v1/organization/projects/voice-turn/usage",
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()["data"]
    assert sorted(r["operation"] for r in rows) == ["ChatCompletion", "audio_stt", "audio_tts"]
    assert all(r["status"] == 200 and r["cost"] > 0 for r in rows)
    assert state["usage"]["cost"] == pytest.approx(sum(r["cost"] for r in rows))
    [response] = state["usage"]["by_response"]
    assert response["id"] == finished["id"] and response["status"] == "completed"
    assert response["output_tokens"] == finished["usage"]["output_tokens"]
    # The response's cost: its chat and speech calls (the turn's transcription came before it).
    per_call = {r["operation"]: r["cost"] for r in rows}
    assert response["cost"] == pytest.approx(per_call["ChatCompletion"] + per_call["audio_tts"])


async def test_speech_is_fed_sentence_by_sentence(api, sim):
    _, client = await opened(api, turn_detection=None)
    text = "First sentence here. Then a second one! And a third?"
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    await client.send({"type": "response.create"})
    events = await client.until("response.done")
    assert events[-1]["response"]["status"] == "completed"
    spoken_inputs = [r["body"]["input"] for r in sim.get("/_sim/requests").json()["requests"]
                     if r["path"].endswith("audio/speech")]
    # One speech call per sentence, in order, each asking for raw 24 kHz pcm.
    assert spoken_inputs == ["[simulated] First sentence here.", "Then a second one!",
                             "And a third?"]
    assert len(audio_of(events)) == pytest.approx(
        len(f"[simulated] {text}".split()) * 0.25 * codecs.RATE * 2, rel=0.02)
    await client.close()


async def test_text_only_turns_with_g711_and_manual_commit(api):
    _, client = await opened(api, modalities=["text"], input_audio_format="g711_ulaw",
                             output_audio_format="g711_alaw", turn_detection=None)
    await client.append(spoken("hello there"), fmt="g711_ulaw")
    await client.send({"type": "input_audio_buffer.commit"})
    events = await client.until("conversation.item.input_audio_transcription.completed")
    assert "input_audio_buffer.speech_started" not in types(events)      # no VAD
    await client.send({"type": "response.create"})
    events = await client.until("response.done")
    assert "response.text.delta" in types(events) and "response.audio.delta" not in types(events)
    text = "".join(e["delta"] for e in events if e["type"] == "response.text.delta")
    assert events[types(events).index("response.text.done")]["text"] == text
    # Audio out in A-law at 8 kHz: one byte per sample.
    await client.send({"type": "response.create", "response": {"modalities": ["text", "audio"]}})
    events = await client.until("response.done")
    audio = audio_of(events)
    said = events[types(events).index("response.audio_transcript.done")]["transcript"]
    assert len(audio) == pytest.approx(len(said.split()) * 0.25 * 8000, rel=0.02)
    pcm = codecs.g711_decode(audio, "alaw")
    assert any(abs(s) > 1000 for s in memoryview(pcm).cast("h"))
    await client.close()


async def test_tools_come_back_as_function_calls(api):
    tool = {"type": "function", "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    _, client = await opened(api, turn_detection=None, tools=[tool], modalities=["text"])
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Weather in Lisbon?"}]}})
    await client.send({"type": "response.create"})
    events = await client.until("response.done")
    done = events[types(events).index("response.function_call_arguments.done")]
    assert json.loads(done["arguments"]) == {"city": "simulated"}
    call = events[-1]["response"]["output"][0]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    await client.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}})
    await client.send({"type": "response.create"})
    events = await client.until("response.done")
    text = "".join(e["delta"] for e in events if e["type"] == "response.text.delta")
    assert text == "[simulated] tool result: sunny"
    await client.close()


# -- cancellation, errors, isolation --------------------------------------------------------------
async def test_cancel_stops_a_response_mid_speech(api, sim):
    sim.post("/_sim/faults", json={"match": "audio/speech", "hang": True})
    _, client = await opened(api, turn_detection=None)
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Talk."}]}})
    await client.send({"type": "response.create"})
    events = await client.until("response.audio_transcript.delta")     # speech now hangs
    response_id = events[types(events).index("response.created")]["response"]["id"]
    await client.send({"type": "response.cancel"})
    events = await client.until("response.done")
    finished = events[-1]["response"]
    assert finished["id"] == response_id and finished["status"] == "cancelled"
    assert finished["status_details"]["reason"] == "client_cancelled"
    assert "response.audio.delta" not in types(events)
    # Nothing left running: cancelling again is an error, and the session goes on.
    await client.send({"type": "response.cancel", "event_id": "evt_again"})
    error = await client.until("error")
    assert error[-1]["error"]["code"] == "response_cancel_not_active"
    assert error[-1]["error"]["event_id"] == "evt_again"
    sim.delete("/_sim/faults")
    await client.send({"type": "response.create", "response": {"modalities": ["text"]}})
    assert (await client.until("response.done"))[-1]["response"]["status"] == "completed"
    await client.close()


async def test_malformed_events_get_errors_and_the_session_survives(api):
    _, client = await opened(api)
    bad = ["this is not json", json.dumps([1, 2]), {"type": "no.such.event"},
           {"type": "input_audio_buffer.append", "audio": "***", "event_id": "evt_b64"},
           {"type": "session.update", "session": {"input_audio_format": "mp3"}},
           {"type": "conversation.item.delete", "item_id": "item_missing"},
           {"type": "input_audio_buffer.commit"}]
    expected = [(None, "invalid_json"), (None, "invalid_event"), ("type", "invalid_value"),
                ("audio", "invalid_request"), ("session.input_audio_format", "invalid_value"),
                ("item_id", "item_not_found"), (None, "input_audio_buffer_commit_empty")]
    for event, (param, code) in zip(bad, expected):
        await client.send(event)
        error = (await client.until("error"))[-1]["error"]
        assert (error["param"], error["code"]) == (param, code), error
        assert error["type"] == "invalid_request_error" and error["message"]
    assert error["event_id"] is None
    await client.send({"type": "session.update", "session": {"voice": "echo"}})
    updated = (await client.until("session.updated"))[-1]
    assert updated["session"]["voice"] == "echo"
    await client.close()


async def test_a_token_admits_only_its_own_session(api):
    first, a = await opened(api, JSON_PROTOCOL)
    second, b = await opened(api, JSON_PROTOCOL)
    # The second client may not join, or send to, the first session's group.
    await b.raw({"type": "joinGroup", "group": f"session.{first['id']}", "ackId": 101})
    await b.raw({"type": "sendToGroup", "group": f"session.{first['id']}", "ackId": 102,
                 "dataType": "json", "data": {"type": "response.create"}})
    while len(b.acks) < 2:
        await _ack(b)
    assert {a_["ackId"]: a_["success"] for a_ in b.acks} == {101: False, 102: False}
    assert {a_["error"]["name"] for a_ in b.acks} == {"Forbidden"}
    # A session's token connects once; a forged or altered token never.
    with pytest.raises(websockets.InvalidStatus):
        await Client.open(first["websocket_url"])
    forged = first["websocket_url"][:-4] + ("AAAA" if not first["websocket_url"].endswith("AAAA")
                                            else "BBBB")
    with pytest.raises(websockets.InvalidStatus):
        await Client.open(forged)
    # Events from the second session never reach the first.
    await b.send({"type": "session.update", "session": {"voice": "shimmer"}})
    await b.until("session.updated")
    await a.send({"type": "session.update", "session": {"voice": "ash"}})
    assert (await a.until("session.updated"))[-1]["session"]["voice"] == "ash"
    assert all(e["type"] == "session.created" or e["type"] == "session.updated" and
               e["session"]["id"] == first["id"] for e in a.seen)
    await a.close()
    await b.close()


async def _ack(client: Client) -> None:
    frame = await client.frame()
    if frame.get("type") == "ack":
        client.acks.append(frame)


async def test_two_sessions_at_once_stay_apart(api):
    (_, one), (_, two) = await asyncio.gather(opened(api, turn_detection=None),
                                              opened(api, turn_detection=None))

    async def turn(client: Client, words: str) -> list[dict]:
        await client.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}})
        await client.send({"type": "response.create"})
        return await client.until("response.done")
    first, second = await asyncio.gather(turn(one, "apples and pears"),
                                         turn(two, "boats on the river"))
    heard = [e for e in first if e["type"] == "response.audio_transcript.done"][0]["transcript"]
    other = [e for e in second if e["type"] == "response.audio_transcript.done"][0]["transcript"]
    assert heard == "[simulated] apples and pears"
    assert other == "[simulated] boats on the river"
    assert not {e["event_id"] for e in first} & {e["event_id"] for e in second}
    await one.close()
    await two.close()


async def test_ending_a_session_disconnects_its_client(api):
    session, client = await opened(api)
    assert api.get(f"/v1/realtime/sessions/{session['id']}").json()["connected"] is True
    assert api.delete(f"/v1/realtime/sessions/{session['id']}").status_code == 200
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await client.next()
    state = api.get(f"/v1/realtime/sessions/{session['id']}").json()
    assert state["status"] == "closed" and state["closed_at"]


def last_chat_messages(sim: httpx.Client) -> list[dict]:
    chats = [r for r in sim.get("/_sim/requests").json()["requests"]
             if r["path"].endswith("chat/completions")]
    return chats[-1]["body"]["messages"]


async def test_items_are_truncated_and_deleted_and_the_buffer_cleared(api, sim):
    _, client = await opened(api, turn_detection=None, instructions="Be brief.")
    await client.append(spoken("hello"), realtime=False)
    await client.send({"type": "input_audio_buffer.clear"})
    await client.until("input_audio_buffer.cleared")
    await client.send({"type": "input_audio_buffer.commit"})
    assert (await client.until("error"))[-1]["error"]["code"] == "input_audio_buffer_commit_empty"
    await client.send({"type": "conversation.item.create", "item": {
        "id": "item_user1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "One. Two. Three."}]}})
    await client.send({"type": "response.create"})
    answer = (await client.until("response.done"))[-1]["response"]["output"][0]
    assert answer["content"][0]["transcript"] == "[simulated] One. Two. Three."
    # The user heard 600 ms: the first sentence (two words, 500 ms of audio) and a bit more.
    await client.send({"type": "conversation.item.truncate", "item_id": answer["id"],
                       "content_index": 0, "audio_end_ms": 600})
    truncated = (await client.until("conversation.item.truncated"))[-1]
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (answer["id"], 600)
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Next"}]}})
    await client.send({"type": "response.create", "response": {"modalities": ["text"]}})
    await client.until("response.done")
    assert last_chat_messages(sim)[:3] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "One. Two. Three."},
        {"role": "assistant", "content": "[simulated] One. "}]
    await client.send({"type": "conversation.item.delete", "item_id": "item_user1"})
    assert (await client.until("conversation.item.deleted"))[-1]["item_id"] == "item_user1"
    await client.send({"type": "response.create", "response": {"modalities": ["text"]}})
    await client.until("response.done")
    assert {"role": "user", "content": "One. Two. Three."} not in last_chat_messages(sim)
    await client.close()


async def test_speaking_over_a_response_interrupts_it(api, sim):
    sim.post("/_sim/faults", json={"match": "audio/speech", "hang": True})
    _, client = await opened(api)
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Go on."}]}})
    await client.send({"type": "response.create"})
    await client.until("response.audio_transcript.delta")             # speech now hangs
    await client.append(silence(0.2) + spoken("stop please"))
    events = await client.until("response.done")
    assert "input_audio_buffer.speech_started" in types(events)
    assert events[-1]["response"]["status_details"] == {"type": "cancelled",
                                                        "reason": "turn_detected"}
    sim.delete("/_sim/faults")
    await client.append(silence(1.0))
    while client.seen[-1]["type"] != "response.done" or \
            client.seen[-1]["response"]["status"] != "completed":
        await client.next()
    since = types(client.seen)
    since = since[since.index("input_audio_buffer.speech_started"):]
    in_order(since, "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
             "conversation.item.input_audio_transcription.completed", "response.created",
             "response.done")
    await client.close()


async def test_a_websocket_to_anything_but_a_hub_is_refused(rt, api):
    session = create(api)
    url = session["websocket_url"].replace("/client/hubs/realtime", "/client/elsewhere")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await Client.open(url)
    assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus):                  # no token at all
        await Client.open(session["websocket_url"].split("?")[0])


def test_zz_no_key_or_client_token_in_the_realtime_gateway_log(rt, logs_dir, store_kind):
    """Runs after this module's other tests on the same gateway (a module fixture per store)."""
    from .conftest import PEPPER
    log = (logs_dir / f"gateway-realtime-{store_kind}.log").read_text()
    assert "Web PubSub: local" in log and "DEBUG" in log         # the log really is captured
    assert CLIENT_TOKENS
    secrets = [ADMIN_KEY, PEPPER, *ISSUED_KEYS, *CLIENT_TOKENS]
    leaked = [s[:12] + "…" for s in secrets if s and s in log]
    assert not leaked, f"secrets found in the realtime gateway log: {leaked}"

