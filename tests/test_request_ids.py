"""Every response carries `x-request-id` (the SDKs' `request_id`): the client's own when it is a
sane token, else a new one; the same id is on the request's log lines and usage rows."""
from __future__ import annotations

import re

import httpx
import openai
import pytest

MSG = [{"role": "user", "content": "hello"}]
NEW_ID = re.compile(r"req_[0-9a-f]{32}")


def rows(admin, project: str) -> list[dict]:
    return admin.get(f"/v1/organization/projects/{project}/usage").json()["data"]


def test_every_answer_has_a_new_request_id_the_sdk_reads(client):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSG)
    assert NEW_ID.fullmatch(raw.headers["x-request-id"])
    assert raw.parse()._request_id == raw.headers["x-request-id"]
    again = client.models.with_raw_response.list()
    assert NEW_ID.fullmatch(again.headers["x-request-id"])
    assert again.headers["x-request-id"] != raw.headers["x-request-id"]


def test_errors_and_streams_carry_one_too(client, gateway):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=MSG)
    assert NEW_ID.fullmatch(info.value.request_id)
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MSG, stream=True) as stream:
        assert NEW_ID.fullmatch(stream.headers["x-request-id"])
    # Before authentication, and on a route that does not exist.
    assert NEW_ID.fullmatch(httpx.get(gateway + "/v1/models").headers["x-request-id"])
    assert NEW_ID.fullmatch(httpx.get(gateway + "/v1/nothing").headers["x-request-id"])


@pytest.mark.parametrize("given, kept", [
    ("trace-0af7651916cd43dd8448eb211c80319c", True),
    ("6f1b0c7e-27a1-4b8e-9a39-0d7a1b1ad6f5", True),
    ("has space", False), ("x" * 200, False), ("<script>", False), ("", False),
])
def test_a_clients_id_is_echoed_only_when_it_is_a_sane_token(client, given, kept):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MSG, extra_headers={"x-request-id": given})
    answered = raw.headers["x-request-id"]
    assert (answered == given) if kept else NEW_ID.fullmatch(answered)


def test_usage_rows_and_log_lines_carry_the_request_id(gateway, admin, make_key, sim,
                                                       gateway_log):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("req-ids"), max_retries=0)
    plain = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSG)
    list(c.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True,
                                   extra_headers={"x-request-id": "my-stream-1"}))
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 500, "count": 10})
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    failed = info.value.request_id
    by_id = {r["request_id"]: r for r in rows(admin, "req-ids")}
    assert set(by_id) == {plain.headers["x-request-id"], "my-stream-1", failed}
    assert by_id["my-stream-1"]["stream"] and by_id[failed]["status"] == 502
    # The router's warning about the failing deployment was written under that request's id.
    lines = [line for line in gateway_log.read_text().splitlines() if f"[{failed}]" in line]
    assert any("deployment" in line and "failed" in line for line in lines), lines[-5:]
