"""Requests are bounded before any provider call, and headers a client can forge (Host,
X-Forwarded-*, X-Original-URL ...) decide nothing."""
from __future__ import annotations

import httpx
import pytest

from .conftest import ADMIN_KEY
from .test_limits import avoid_minute_boundary
from .test_routing import deployment

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def bounded_model(admin):
    doc = deployment("hz-bounded", max_messages=3, max_n=2, max_output_tokens=100)
    assert admin.put("/v1/organization/models/hz-bounded", json=doc).status_code == 200
    yield "hz-bounded"
    admin.delete("/v1/organization/models/hz-bounded")


@pytest.mark.parametrize("extra, param", [
    ({"messages": MSG * 4}, "messages"),
    ({"n": 3}, "n"),
    ({"n": 0}, "n"),
    ({"n": "2"}, "n"),
    ({"max_tokens": 101}, "max_tokens"),
    ({"max_completion_tokens": 500}, "max_completion_tokens"),
    ({"max_tokens": True}, "max_tokens"),
])
def test_requests_over_the_models_limits_are_400_before_any_upstream_call(
        gateway, key, sim, bounded_model, extra, param):
    body = {"model": bounded_model, "messages": MSG, **extra}
    resp = httpx.post(gateway + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == param
    assert sim.get("/_sim/requests").json()["requests"] == []


def test_requests_within_the_limits_pass(gateway, key, bounded_model):
    body = {"model": bounded_model, "messages": MSG * 3, "n": 2, "max_tokens": 100}
    resp = httpx.post(gateway + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text


FORGED = {
    "Host": "admin.internal.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-For": "127.0.0.1, 10.0.0.1",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/admin",
    "X-Real-IP": "127.0.0.1",
    "X-Original-URL": "/v1/organization/models",
    "X-Rewrite-URL": "/v1/organization/models",
    "Forwarded": "for=127.0.0.1;host=localhost;proto=https",
}


def test_forged_headers_do_not_authenticate(gateway):
    for path in ("/v1/models", "/v1/organization/models"):
        resp = httpx.get(gateway + path, headers=FORGED)
        assert resp.status_code == 401, path


def test_forged_headers_do_not_reach_the_admin_api_with_a_project_key(gateway, key):
    resp = httpx.get(gateway + "/v1/models", headers={**FORGED, "Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    assert resp.json()["object"] == "list" and "code" not in resp.text    # not the admin listing
    admin = httpx.get(gateway + "/v1/organization/models",
                      headers={**FORGED, "Authorization": f"Bearer {key}"})
    assert admin.status_code == 403


def test_forged_headers_do_not_change_where_a_call_goes(gateway, key, sim):
    resp = httpx.post(gateway + "/v1/chat/completions", timeout=30,
                      headers={**FORGED, "Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "messages": MSG})
    assert resp.status_code == 200
    seen = sim.get("/_sim/requests").json()["requests"]
    assert [r["path"] for r in seen] == ["/openai/deployments/gpt-4o-mini/chat/completions"]
    sent = {k.lower(): v for k, v in seen[0]["headers"].items()}
    assert not any(name.lower() in sent for name in FORGED if name != "Host")
    assert "evil.example" not in str(seen) and "admin.internal" not in str(seen)


def test_forged_client_addresses_do_not_escape_a_rate_limit(gateway, admin, make_key):
    assert admin.put("/v1/organization/projects/hz-limited/limits",
                     json={"requests_per_minute": 1}).status_code == 200
    key = make_key("hz-limited")
    avoid_minute_boundary()
    codes = []
    for i in range(3):
        headers = {**FORGED, "X-Forwarded-For": f"203.0.113.{i}", "Authorization": f"Bearer {key}"}
        codes.append(httpx.post(gateway + "/v1/chat/completions", headers=headers, timeout=30,
                                json={"model": "gpt-4o-mini", "messages": MSG}).status_code)
    admin.delete("/v1/organization/projects/hz-limited/limits")
    assert codes == [200, 429, 429]


def test_the_admin_key_is_needed_whatever_the_host(gateway):
    resp = httpx.get(gateway + "/v1/organization/models",
                     headers={"Host": "localhost", "X-Forwarded-For": "127.0.0.1"})
    assert resp.status_code == 401
    ok = httpx.get(gateway + "/v1/organization/models", headers={**FORGED,
                                                       "Authorization": f"Bearer {ADMIN_KEY}"})
    assert ok.status_code == 200
