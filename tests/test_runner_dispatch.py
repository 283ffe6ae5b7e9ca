"""The local runner's dispatcher (runner/asgi.py), over a real socket: registered routes with and
without path parameters, and unknown routes and methods as OpenAI error envelopes."""
from __future__ import annotations

import httpx


def test_unknown_route_is_404_envelope(gateway):
    resp = httpx.get(gateway + "/v1/no-such-thing", timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_is_405_envelope(gateway, key):
    resp = httpx.get(gateway + "/v1/chat/completions", timeout=10,
                     headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


def test_static_and_parameter_routes_reach_their_functions(gateway, key):
    headers = {"Authorization": f"Bearer {key}"}
    listed = httpx.get(gateway + "/v1/models", headers=headers, timeout=10)
    assert listed.status_code == 200 and listed.json()["object"] == "list"
    one = httpx.get(gateway + "/v1/models/gpt-4o-mini", headers=headers, timeout=10)
    assert one.status_code == 200 and one.json()["id"] == "gpt-4o-mini"
    assert httpx.head(gateway + "/health", timeout=10).status_code == 200
