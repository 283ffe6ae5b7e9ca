"""The GA Realtime protocol's translation without sockets: a session said in GA comes back the
same through the gateway's session object, every GA rename holds, and protocol detection."""
from __future__ import annotations

import pytest
from hypothesis import given, settings as hyp_settings
from hypothesis import strategies as st

from shared.errors import InvalidRequest
from shared.realtime import events, ga_in, ga_out, settings
from shared.store import RealtimeSession

FORMATS = st.sampled_from([{"type": "audio/pcm", "rate": 24000}, {"type": "audio/pcmu"},
                           {"type": "audio/pcma"}])
VAD = st.one_of(st.none(), st.fixed_dictionaries({"type": st.just("server_vad")}, optional={
    "threshold": st.floats(0, 1), "prefix_padding_ms": st.integers(0, 5000),
    "silence_duration_ms": st.integers(20, 10000), "create_response": st.booleans(),
    "interrupt_response": st.booleans()}))
GA_SESSION = st.fixed_dictionaries({"type": st.just("realtime")}, optional={
    "instructions": st.text(max_size=20),
    "output_modalities": st.sampled_from([["audio"], ["text"]]),
    "max_output_tokens": st.one_of(st.just("inf"), st.integers(1, 4096)),
    "tool_choice": st.sampled_from(["auto", "none", "required"]),
    "audio": st.fixed_dictionaries({}, optional={
        "input": st.fixed_dictionaries({}, optional={"format": FORMATS, "turn_detection": VAD}),
        "output": st.fixed_dictionaries({}, optional={
            "format": FORMATS, "voice": st.sampled_from(["alloy", "verse", "ash"])})})})


def stored(config: dict) -> RealtimeSession:
    return RealtimeSession(id="sess_1", project="p", key_id="k", config=config,
                           models={"chat": "gpt-4o-mini", "transcription": "whisper-1",
                                   "speech": "tts-1"}, expires_at="2030-01-01T00:00:00+00:00")


def ga_view(config: dict) -> dict:
    from shared.realtime.session_api import session_object
    return ga_out.session(session_object(stored(config)))


@hyp_settings(max_examples=200, deadline=None)
@given(GA_SESSION)
def test_a_ga_session_comes_back_as_it_was_said(update):
    config = settings.apply_update(settings.default_config(), ga_in.session(update), param="")
    shown = ga_view(config)
    assert shown["type"] == "realtime" and shown["object"] == "realtime.session"
    for name in ("instructions", "output_modalities", "max_output_tokens", "tool_choice"):
        if name in update:
            assert shown[name] == update[name]
    for side in ("input", "output"):
        for name, value in update.get("audio", {}).get(side, {}).items():
            if name == "turn_detection" and value is not None:
                assert shown["audio"][side][name] == {**settings.VAD_DEFAULTS, **value}
            else:
                assert shown["audio"][side][name] == value
    # What the gateway shows is itself a valid GA session.update (minus its own fields).
    echo = {k: v for k, v in shown.items() if k in (
        "type", "instructions", "output_modalities", "max_output_tokens", "tool_choice")}
    assert settings.apply_update(config, ga_in.session(echo), param="") == config


@pytest.mark.parametrize("update, param", [
    ({}, "session.type"),
    ({"type": "realtime", "audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
     "session.audio.input.noise_reduction"),
    ({"type": "realtime", "audio": {"output": {"voice": {"id": "custom"}}}},
     "session.audio.output.voice"),
    ({"type": "realtime", "audio": {"output": {"voice": ""}}}, "session.audio.output.voice"),
    ({"type": "realtime", "audio": {"sideways": {}}}, "session.audio.sideways"),
    ({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "idle_timeout_ms": 5000}}}},
     "session.audio.input.turn_detection.idle_timeout_ms"),
    ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu", "rate": 24000}}}},
     "session.audio.input.format.rate"),
    ({"type": "realtime", "max_output_tokens": 0}, "session.max_output_tokens"),
    ({"type": "realtime", "tools": [{"type": "mcp", "server_label": "x"}]}, "session.tools[0]"),
])
def test_ga_session_fields_the_gateway_cannot_honour_are_refused(update, param):
    with pytest.raises(InvalidRequest) as info:
        ga_in.session(update)
    assert info.value.param == param


def test_off_values_are_accepted():
    assert ga_in.session({"type": "realtime", "tracing": None, "truncation": "auto",
                          "include": [], "audio": {"input": {"noise_reduction": None}}}) == {}


@pytest.mark.parametrize("evt, expected", [
    ({"type": "session.update", "session": {"type": "realtime"}}, "ga"),
    ({"type": "session.update", "session": {"output_modalities": ["text"]}}, "ga"),
    ({"type": "session.update", "session": {"modalities": ["text"]}}, "beta"),
    ({"type": "session.update", "session": {"instructions": "either"}}, None),
    ({"type": "response.create", "response": {"output_modalities": ["text"]}}, "ga"),
    ({"type": "response.create", "response": {"modalities": ["text"]}}, "beta"),
    ({"type": "response.create"}, None),
    ({"type": "input_audio_buffer.append", "audio": ""}, None),
])
def test_the_protocol_is_read_from_what_the_client_sends(evt, expected):
    assert ga_in.detect(evt) == expected


def test_server_events_are_renamed_and_completed_items_done():
    item = events.assistant_item("item_1", "completed", [{"type": "audio", "transcript": "hi"}])
    renamed = {kind: ga_out.events(events.event(kind, delta="x"))[0]["type"] for kind in (
        "response.text.delta", "response.audio.delta", "response.audio_transcript.done")}
    assert renamed == {"response.text.delta": "response.output_text.delta",
                       "response.audio.delta": "response.output_audio.delta",
                       "response.audio_transcript.done": "response.output_audio_transcript.done"}
    added = ga_out.events(events.event("conversation.item.created", item=item,
                                       previous_item_id="item_0"))
    assert [e["type"] for e in added] == ["conversation.item.added", "conversation.item.done"]
    assert added[1]["item"]["content"] == [{"type": "output_audio", "transcript": "hi"}]
    assert added[1]["previous_item_id"] == "item_0"
    done = ga_out.events(events.event("response.done", response=events.response(
        "resp_1", "completed", [item], modalities=["text", "audio"])))[0]["response"]
    assert done["output_modalities"] == ["audio"] and "modalities" not in done
    assert done["output"][0]["content"][0]["type"] == "output_audio"
    untouched = events.event("input_audio_buffer.committed", item_id="i", previous_item_id=None)
    assert ga_out.events(untouched) == [untouched]
