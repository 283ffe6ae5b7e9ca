"""The benchmark's async-jobs and realtime pieces that decide what a figure means: which jobs
count, which provider calls a turn is compared with, where a replayed stream stops, and the
table. No servers and no timing: the benchmark itself is not a test."""
from __future__ import annotations

import io
import json
import wave

import pytest

from bench import jobs, realtime, report


def job(status: str, created: str, started: str, completed: str | None) -> dict:
    return {"status": status, "created_at": created, "started_at": started,
            "completed_at": completed, "result": {"id": "x"} if status == "completed" else None,
            "error": None if status == "completed" else {"code": "boom"}}


def test_only_completed_jobs_count_and_every_other_one_is_reported():
    t = "2026-01-01T00:00:0{}+00:00"
    docs = [job("completed", t.format(0), t.format(1), t.format(2)),
            job("completed", t.format(0), t.format(2), t.format(4)),
            job("failed", t.format(0), t.format(1), t.format(3))]
    spec = {"submit": "api", "jobs": 4}
    started = 1767225600.0                                   # 2026-01-01T00:00:00Z
    out = jobs.summarize(docs, spec, started, started + 1)
    assert out["completed"] == 2 and out["failed"] == 2 and out["missing"] == 1
    assert out["statuses"] == {"completed": 2, "failed": 1}
    assert "boom" in out["error_sample"]
    assert out["first_submit_to_last_completion_s"] == pytest.approx(4)
    assert out["jobs_per_s"] == pytest.approx(0.5)
    assert out["latency_p99_ms"] == pytest.approx(4000)


def test_a_turn_is_compared_with_its_own_first_calls():
    log = [{"path": "/openai/deployments/whisper-1/audio/transcriptions", "n": 1},
           {"path": "/openai/deployments/gpt-4o-mini/chat/completions", "n": 2},
           {"path": "/openai/deployments/tts-1/audio/speech", "n": 3},
           {"path": "/openai/deployments/tts-1/audio/speech", "n": 4}]
    calls = realtime._calls(log)
    assert [calls[k]["n"] for k in ("transcription", "chat", "speech")] == [1, 2, 3]
    with pytest.raises(RuntimeError, match="speech"):
        realtime._calls(log[:2])


def test_replayed_chat_text_is_read_from_complete_events_only():
    chunk = {"choices": [{"delta": {"content": "Hi there. "}}]}
    raw = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\ndata: {{\"cho".encode()
    text, rest = realtime._sse_text(raw)
    assert text == "Hi there. " and rest == b'data: {"cho'


def test_the_turn_audio_is_pcm16_at_the_session_rate():
    pcm = realtime.tone(100)
    assert len(pcm) == realtime.RATE * 2 // 10
    with wave.open(io.BytesIO(realtime.wav_from_pcm(pcm, realtime.RATE))) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (realtime.RATE, 2, 1)
    assert realtime.FIRST_AUDIO_BYTES == realtime.RATE * 2 * realtime.AUDIO_DELTA_MS // 1000


def test_the_gateway_table_is_left_out_when_those_phases_did_not_run():
    assert report.gateway_markdown({}) == ""
    figures = {"jobs": 10, "jobs_per_s": 5.0, "submit_per_s": 20.0,
               "first_submit_to_last_completion_s": 2.0, "latency_p50_ms": 100.0,
               "latency_p99_ms": 200.0, "processing_p50_ms": 3.0, "failed": 1}
    turns = {"turns": 4, "audio_ms": 1000, "errors": 0, **{
        f"{name}_{p}_ms": 1.0 for name in ("gateway", "provider", "added") for p in ("p50", "p99")}}
    table = report.gateway_markdown({"jobs_api": figures, "realtime": turns})
    assert "| figure (this gateway only) | value |" in table
    assert "submitted over HTTP (10 jobs): end to end" in table
    assert "not completed (failed, missing or unfinished) (jobs) | 1 |" in table
    assert "direct producer" not in table
    assert "realtime (4 turns, 1000 ms of audio each): added by the gateway p99 (ms) | 1.0 |" \
        in table


def test_instruction_counts_come_from_the_dump_totals_not_its_summary(tmp_path):
    from bench import instructions
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("# callgrind format\nevents: Ir\nsummary: 0\n\nfn=(1) main\n0 12\n"
                    "totals: 1219653774\n")
    assert instructions.totals(dump) == 1219653774
    (tmp_path / "empty").write_text("events: Ir\n")
    assert instructions.totals(tmp_path / "empty") == 0


def test_paired_rounds_divide_each_gateway_round_by_the_direct_round_before_it():
    results = {"direct": {"rounds": {"c32": [{"throughput_rps": 10_000.0},
                                             {"throughput_rps": 8_000.0},
                                             {"throughput_rps": 12_000.0}]}},
               "gateway": {"rounds": {"c32": [{"throughput_rps": 5_600.0},
                                              {"throughput_rps": None},     # a failed round
                                              {"throughput_rps": 5_760.0}]}}}
    assert report.paired_rounds(results) == [0.56, 0.48]
    assert report.paired_markdown(results) == (
        "c=32 throughput, gateway ÷ direct round by round (each pair ran back to back): "
        "0.56x, 0.48x; median 0.52x.\n")
    assert report.paired_markdown({"direct": results["direct"]}) == ""   # --targets direct
