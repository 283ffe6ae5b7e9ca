"""Every failure answers with OpenAI's error envelope and the right status."""
from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from .conftest import MAX_BODY

MSG = [{"role": "user", "content": "hi"}]


def envelope(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def post_chat(gateway: str, key: str | None, body, **headers) -> httpx.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    kwargs = {"json": body} if not isinstance(body, (bytes, str)) else {"content": body}
    return httpx.post(gateway + "/v1/chat/completions", headers=headers, timeout=30, **kwargs)


def test_missing_key_is_401(gateway):
    resp = post_chat(gateway, None, {"model": "gpt-4o-mini", "messages": MSG})
    assert resp.status_code == 401
    assert envelope(resp)["type"] == "authentication_error"


def test_wrong_key_is_401_through_the_sdk(gateway):
    bad = openai.OpenAI(base_url=gateway + "/v1", api_key="llmp-not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert info.value.status_code == 401


def test_api_key_header_is_accepted(gateway, key):
    resp = httpx.get(gateway + "/v1/models", headers={"api-key": key})
    assert resp.status_code == 200


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=MSG)
    assert info.value.code == "model_not_found"
    assert info.value.body["param"] == "model"


@pytest.mark.parametrize("body, param", [
    ({"messages": MSG}, "model"),
    ({"model": "gpt-4o-mini"}, "messages"),
    ({"model": "gpt-4o-mini", "messages": []}, "messages"),
    ({"model": "gpt-4o-mini", "messages": ["hi"]}, "messages[0]"),
    ({"model": "gpt-4o-mini", "messages": MSG, "stream": "yes"}, "stream"),
    ({"model": 7, "messages": MSG}, "model"),
])
def test_bad_input_is_400_naming_the_field(gateway, key, body, param):
    resp = post_chat(gateway, key, body)
    assert resp.status_code == 400
    assert envelope(resp)["param"] == param


def test_invalid_json_is_400(gateway, key):
    resp = post_chat(gateway, key, b"{not json")
    assert resp.status_code == 400
    assert "not valid JSON" in envelope(resp)["message"]


def test_body_that_is_not_utf8_is_400(gateway, key):
    # Invalid UTF-8 inside a string: was an unhandled 500 (the decode error has no position).
    resp = post_chat(gateway, key, b'{"model": "gpt-4o-mini", "messages": [{"role": "user", '
                                   b'"content": "caf\xe9"}]}')
    assert resp.status_code == 400
    assert "not UTF-8" in envelope(resp)["message"]


def test_utf16_json_body_is_still_accepted(gateway, key):
    body = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    resp = post_chat(gateway, key, body.encode("utf-16"))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("field", ["api_base", "base_url", "api_key", "custom_llm_provider",
                                   "vertex_credentials", "api_version"])
def test_routing_fields_are_refused(client, field):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG,
                                       extra_body={field: "http://evil.example"})
    assert info.value.body["param"] == field


def test_translated_providers_refuse_unknown_fields_instead_of_dropping_them(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MSG,
                                       extra_body={"prediction": {"type": "content"}})
    assert info.value.body["param"] == "prediction"


def test_oversized_body_is_413(gateway, key):
    big = [{"role": "user", "content": "x" * (MAX_BODY + 10)}]
    resp = post_chat(gateway, key, {"model": "gpt-4o-mini", "messages": big})
    assert resp.status_code == 413
    assert envelope(resp)["code"] == "request_too_large"


def test_upstream_429_keeps_retry_after(client, sim):
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 429, "retry_after": 7})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"


def test_vertex_429_keeps_status(client, sim):
    # Longer than the gateway waits out (retry_after_max), so it is passed on, not retried.
    sim.post("/_sim/faults", json={"match": "gemini", "status": 429, "retry_after": 30,
                                   "count": 10})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MSG)
    assert info.value.response.headers["retry-after"] == "30"


@pytest.mark.parametrize("status, expected", [(500, 502), (503, 503), (401, 502), (404, 502),
                                              (400, 400)])
def test_upstream_failures_are_mapped(gateway, key, sim, status, expected):
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": status, "count": 10})
    resp = post_chat(gateway, key, {"model": "gpt-4o-mini", "messages": MSG})
    assert resp.status_code == expected
    envelope(resp)


def test_upstream_timeout_is_504(gateway, key, sim):
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "hang": True, "count": 10})
    resp = post_chat(gateway, key, {"model": "gpt-4o-mini", "messages": MSG})
    assert resp.status_code == 504
    assert envelope(resp)["type"] == "timeout"


def test_upstream_error_bodies_are_sanitized(gateway, key, sim):
    leaked = {"error": {"code": "400", "message":
                        "bad request; api-key: sim-azure-key; Bearer ya29.secrettokenvalue"}}
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 400, "body": leaked})
    resp = post_chat(gateway, key, {"model": "gpt-4o-mini", "messages": MSG})
    assert resp.status_code == 400
    assert "sim-azure-key" not in resp.text and "ya29.secret" not in resp.text


def test_stream_cut_by_upstream_ends_with_error_not_done(gateway, key, sim):
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "cut_after_chunks": 3})
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": "long [sim:words=50]"}]}) as r:
        text = "".join(r.iter_text())
    assert r.status_code == 200
    assert '"error"' in text
    assert "[DONE]" not in text


def test_unknown_route_is_404_envelope(gateway):
    resp = httpx.get(gateway + "/v1/nothing-here")
    assert resp.status_code == 404
    envelope(resp)


def test_wrong_method_is_405_envelope(gateway):
    resp = httpx.get(gateway + "/v1/chat/completions")
    assert resp.status_code == 405
    envelope(resp)


def test_a_client_that_leaves_mid_upload_is_not_an_unhandled_error(gateway, key, gateway_log):
    """A real socket closed halfway through its body: the gateway goes on serving, and the
    log gets no 'unhandled error' traceback for an ordinary event."""
    before = len(gateway_log.read_text())
    url = urlsplit(gateway)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + key.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                     b'{"model": "gpt-4o-mini", "mess')
        time.sleep(0.2)                               # the function is waiting for the rest
    time.sleep(0.5)
    assert httpx.get(gateway + "/health", timeout=10).status_code == 200
    new = gateway_log.read_text()[before:]
    assert "unhandled error" not in new and "Traceback" not in new, new
