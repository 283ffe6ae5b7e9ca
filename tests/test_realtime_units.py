"""Realtime building blocks without sockets: codecs, VAD, sentence splitting, session settings,
and the session store on SQLite."""
from __future__ import annotations

import array
import math

import pytest

from shared.audio_files import wav_from_pcm
from shared.errors import InvalidRequest
from shared.realtime import codecs, settings, vad
from shared.realtime.response_run import split_sentences
from shared.store import RealtimeSession, StaleWrite
from shared.store.sqlite import SqliteStore


def tone(seconds: float, amplitude: float = 0.3, rate: int = codecs.RATE) -> bytes:
    n = int(seconds * rate)
    return array.array("h", (int(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / rate))
                             for i in range(n))).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * codecs.RATE))


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_round_trip_keeps_the_signal(law):
    pcm = tone(0.05, rate=8000)
    back = codecs.g711_decode(codecs.g711_encode(pcm, law), law)
    original, decoded = array.array("h", pcm), array.array("h", back)
    assert len(decoded) == len(original)
    # G.711 is logarithmic: the error stays a few percent of full scale at this level.
    assert max(abs(a - b) for a, b in zip(original, decoded)) < 0.03 * 32768
    assert codecs.g711_encode(bytes(2), law) != b""


def test_g711_known_codes():
    assert codecs.g711_encode(bytes(2), "ulaw") == b"\xff"          # silence is 0xFF in u-law
    assert codecs.g711_encode(bytes(2), "alaw") == b"\xd5"          # and 0xD5 in A-law


def test_resampling_keeps_duration_and_pitch():
    pcm = tone(0.5)
    down = codecs.resample(pcm, 24000, 8000)
    assert len(down) == len(pcm) // 3
    up = codecs.resample(down, 8000, 24000)
    assert abs(len(up) - len(pcm)) <= 6
    # Zero crossings (pitch) survive the round trip.
    def crossings(b: bytes) -> int:
        s = array.array("h", b)
        return sum(1 for a, c in zip(s, s[1:]) if (a < 0) != (c < 0))
    assert abs(crossings(up) - crossings(pcm)) <= 4


def test_session_formats_convert_both_ways():
    pcm = tone(0.2)
    for fmt in ("pcm16", "g711_ulaw", "g711_alaw"):
        wire = codecs.from_session_pcm(pcm, fmt)
        expected = len(pcm) if fmt == "pcm16" else len(pcm) // 6      # 8 kHz, one byte each
        assert len(wire) == expected
        assert abs(len(codecs.to_session_pcm(wire, fmt)) - len(pcm)) <= 6


def test_wav_wrap_and_unwrap():
    pcm = tone(0.1)
    assert codecs.wav_to_session_pcm(wav_from_pcm(pcm)) == pcm
    assert len(codecs.wav_to_session_pcm(wav_from_pcm(codecs.resample(pcm, 24000, 16000),
                                                          16000))) in range(len(pcm) - 6, len(pcm) + 6)
    with pytest.raises(ValueError):
        codecs.wav_to_session_pcm(b"not a wav")


def test_vad_finds_speech_start_and_stop_across_appends():
    config = dict(settings.VAD_DEFAULTS)
    state: dict = {}
    audio = silence(0.5) + tone(0.6) + silence(0.8)
    transitions, position = [], 0
    for i in range(0, len(audio), 2400 * 2 + 14):          # odd-sized appends on purpose
        piece = audio[i:i + 2400 * 2 + 14]
        transitions += vad.feed(state, piece, position, config)
        position += len(piece) * 1000 // (codecs.RATE * 2)
    kinds = [(t.kind, t.at_ms) for t in transitions]
    assert [k for k, _ in kinds] == ["started", "stopped"]
    assert 480 <= kinds[0][1] <= 520                      # speech began at 500 ms
    assert 1100 + 480 <= kinds[1][1] <= 1100 + 560        # stopped after 500 ms of silence


def test_vad_ignores_quiet_noise():
    config = dict(settings.VAD_DEFAULTS)
    state: dict = {}
    assert vad.feed(state, tone(1.0, amplitude=0.001), 0, config) == []


def test_sentences_split_as_text_streams():
    done, rest = split_sentences("Hello there. How are")
    assert done == ["Hello there. "] and rest == "How are"
    done, rest = split_sentences(rest + " you? Fine")
    assert done == ["How are you? "] and rest == "Fine"


def test_session_settings_refuse_unknown_and_bad_fields():
    config = settings.default_config()
    new = settings.apply_update(config, {"voice": "verse", "turn_detection": None})
    assert new["voice"] == "verse" and new["turn_detection"] is None
    with pytest.raises(InvalidRequest) as err:
        settings.apply_update(config, {"input_audio_format": "mp3"})
    assert err.value.param == "session.input_audio_format"
    with pytest.raises(InvalidRequest) as err:
        settings.apply_update(config, {"colour": "blue"})
    assert err.value.param == "session.colour"
    with pytest.raises(InvalidRequest) as err:
        settings.apply_update(config, {"turn_detection": {"type": "server_vad", "threshold": 2}})
    assert err.value.param == "session.turn_detection.threshold"
    with pytest.raises(InvalidRequest):
        settings.apply_update(config, {"model": "other"}, fixed={"model": "gpt-4o-mini"})


async def test_sqlite_sessions_refuse_stale_writes_and_chunk_audio(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        session = RealtimeSession(id="sess_1", project="p", key_id="k", models={"chat": "m"},
                                  config={})
        await store.create_session(session)
        first = await store.get_session("sess_1")
        second = await store.get_session("sess_1")
        first.status = "connected"
        stored = await store.replace_session(first)
        assert stored.version == 1
        with pytest.raises(StaleWrite):
            await store.replace_session(second)
        await store.append_audio("sess_1", b"ab")
        await store.append_audio("sess_1", b"cd")
        assert await store.read_audio("sess_1") == b"abcd"
        await store.clear_audio("sess_1")
        assert await store.read_audio("sess_1") == b""
        other = RealtimeSession(id="sess_2", project="p", key_id="k", models={}, config={},
                                status="closed")
        await store.create_session(other)
        assert [s.id for s in await store.list_sessions("p")] == ["sess_1", "sess_2"]
        assert await store.list_sessions("q") == []
    finally:
        await store.close()


async def test_connection_order_keeps_arrival_order_and_lets_a_slot_go_early():
    import asyncio
    from shared.realtime.ordering import ConnectionOrder
    order, seen, gate = ConnectionOrder(), [], asyncio.Event()

    async def event(n: int) -> None:
        slot = await order.acquire("conn")
        try:
            seen.append(("start", n))
            if n == 2:
                slot.release()                  # a long turn: later events go ahead
                await gate.wait()
            for _ in range(3):
                await asyncio.sleep(0)
            seen.append(("end", n))
            if n == 5:
                gate.set()
        finally:
            slot.release()
    first = [asyncio.ensure_future(event(n)) for n in range(4)]
    await first[0]
    # Events arriving while earlier ones still wait must queue behind them, not jump ahead.
    later = [asyncio.ensure_future(event(n)) for n in range(4, 6)]
    await asyncio.gather(*first, *later)
    assert [n for kind, n in seen if kind == "start"] == list(range(6))
    assert [n for kind, n in seen if kind == "end"] == [0, 1, 3, 4, 5, 2]
    assert order._locks == {}
