"""Every request is metered: tokens from the provider, cost from the catalog."""
from __future__ import annotations

import openai
import pytest

MSG = [{"role": "user", "content": "one two three four"}]


def usage_rows(admin, project: str) -> list[dict]:
    resp = admin.get(f"/v1/organization/projects/{project}/usage")
    assert resp.status_code == 200
    return resp.json()["data"]


@pytest.mark.parametrize("model, cin, cout", [("gpt-4o-mini", 0.15, 0.6),
                                              ("claude-sonnet-4", 3.0, 15.0)])
def test_usage_rows_carry_tokens_and_cost(gateway, admin, make_key, model, cin, cout):
    project = f"meter-{model.replace('.', '-')}"
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key(project), max_retries=0)
    resp = c.chat.completions.create(model=model, messages=MSG)
    chunks = list(c.chat.completions.create(model=model, messages=MSG, stream=True))
    assert chunks
    rows = usage_rows(admin, project)
    assert len(rows) == 2
    by_stream = {r["stream"]: r for r in rows}
    plain = by_stream[False]
    assert plain["model"] == model and plain["operation"] == "ChatCompletion"
    assert plain["status"] == 200
    assert plain["prompt_tokens"] == resp.usage.prompt_tokens
    assert plain["completion_tokens"] == resp.usage.completion_tokens
    expected = (resp.usage.prompt_tokens * cin + resp.usage.completion_tokens * cout) / 1e6
    assert plain["cost"] == pytest.approx(expected)
    streamed = by_stream[True]                 # metered although the client did not ask for usage
    assert streamed["prompt_tokens"] > 0 and streamed["completion_tokens"] > 0
    assert streamed["cost"] > 0
    assert plain["latency_ms"] > 0


def test_failed_requests_are_recorded_with_their_status(gateway, admin, make_key, sim):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("meter-failures"), max_retries=0)
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 500, "count": 10})
    with pytest.raises(openai.APIStatusError):
        c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    rows = usage_rows(admin, "meter-failures")
    assert [(r["status"], r["cost"]) for r in rows] == [(502, 0.0)]


def test_usage_is_per_project(admin, make_key):
    assert usage_rows(admin, "nobody-called-yet") == []


def test_row_timestamps_are_utc_iso_8601_with_microseconds_and_sort_as_text():
    import time as _time
    from datetime import datetime, timezone
    from shared.usage import _timestamps
    stamps = []
    for _ in range(3):
        stamps.append(_timestamps.now())
        _time.sleep(0.4)                      # across a second boundary at least once
    parsed = [datetime.fromisoformat(s) for s in stamps]
    assert all(p.tzinfo == timezone.utc and len(s) == 32 for p, s in zip(parsed, stamps))
    assert stamps == sorted(stamps) and parsed == sorted(parsed)
    assert abs((datetime.now(timezone.utc) - parsed[-1]).total_seconds()) < 1
