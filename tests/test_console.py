"""The console's server side: its static files, the summary and project status it reads, and the
Entra sign-in header trusted only when App Service Authentication is configured."""
from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest

from .conftest import gateway_env, running_gateway

ROLE = "LLMProxy.Admin"


def principal(*claims: tuple[str, str]) -> str:
    """An `X-MS-CLIENT-PRINCIPAL` value as App Service Authentication writes it."""
    doc = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
           "claims": [{"typ": t, "val": v} for t, v in claims]}
    return base64.b64encode(json.dumps(doc).encode()).decode()


ADMIN = principal(("name", "Ada Admin"), ("roles", ROLE))
NOT_ADMIN = principal(("name", "Bob"), ("roles", "Reader"), ("groups", "some-group"))


def test_the_page_and_its_assets_are_served_with_a_strict_policy(gateway):
    page = httpx.get(gateway + "/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<script src="app.js"' in page.text
    js = httpx.get(gateway + "/console/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert httpx.get(gateway + "/console/app.css").headers["content-type"].startswith("text/css")
    missing = httpx.get(gateway + "/console/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "path"
    for bad in ("../function_app.py", "..%2Fhost.json", "%2e%2e/host.json"):
        resp = httpx.get(gateway + "/console/" + bad)     # only the folder's own files, by name
        assert resp.status_code == 404 and "error" in resp.json(), bad


def test_summary_has_error_rate_and_latency_per_model(gateway, admin, make_key, sim):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("console-summary"),
                      max_retries=0)
    c.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])
    sim.post("/_sim/faults", json={"match": "gpt-4.1", "status": 500, "count": 10})
    with pytest.raises(openai.APIStatusError):
        c.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])
    data = admin.get("/v1/organization/usage/summary").json()
    (row,) = [m for m in data["models"] if m["model"] == "gpt-4.1"]
    assert row["requests"] >= 2 and row["errors"] >= 1 and 0 < row["error_rate"] < 1
    assert row["latency_p50_ms"] in data["latency_bounds_ms"]
    assert row["latency_p95_ms"] >= row["latency_p50_ms"]
    (project,) = [p for p in data["projects"] if p["project"] == "console-summary"]
    assert (project["requests"], project["errors"]) == (2, 1)


def test_project_status_shows_limits_consumption_and_jobs(gateway, admin, make_key):
    project = "console-status"
    assert admin.put(f"/v1/organization/projects/{project}/limits",
                     json={"requests_per_minute": 50, "budget": 1.0}).status_code == 200
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key(project), max_retries=0)
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    status = admin.get(f"/v1/organization/projects/{project}/status").json()
    assert status["limits"]["requests_per_minute"] == 50
    rows = admin.get(f"/v1/organization/projects/{project}/usage").json()["data"]
    # The day's spend is exact; this minute's count is 1 unless the minute just turned.
    assert rows[0]["cost"] > 0
    assert status["consumption"]["budget_spent"] == pytest.approx(rows[0]["cost"])
    assert status["consumption"]["requests_this_minute"] in (0, 1)
    assert set(status["jobs"]) == {"queued", "processing", "completed", "failed", "cancelled"}
    assert status["realtime_sessions"] == []
    bad = admin.get("/v1/organization/projects/bad%20name/status")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "project"


def test_a_forged_principal_grants_nothing_without_platform_auth(gateway):
    """Locally (and on Azure without App Service Authentication) nothing strips the header, so
    anyone could send it: it must not count."""
    resp = httpx.get(gateway + "/v1/organization/usage/summary",
                     headers={"X-MS-CLIENT-PRINCIPAL": ADMIN, "X-MS-CLIENT-PRINCIPAL-IDP": "aad"})
    assert resp.status_code == 401
    assert httpx.get(gateway + "/v1/organization/models",
                     headers={"X-MS-CLIENT-PRINCIPAL": ADMIN}).status_code == 401


@pytest.fixture(scope="module")
def entra_gateway(simulator, tmp_path_factory, logs_dir):
    env = gateway_env(simulator, tmp_path_factory.mktemp("entra-data"),
                      WEBSITE_AUTH_ENABLED="True", LLMPROXY_ENTRA_ADMIN_ROLES=ROLE,
                      LLMPROXY_ENTRA_ADMIN_GROUPS="0b9f7a3e-admins")
    with running_gateway(env, logs_dir / "gateway-entra.log") as url:
        yield url


@pytest.mark.parametrize("header, status", [
    (ADMIN, 200),
    (principal(("groups", "0b9f7a3e-admins")), 200),
    (NOT_ADMIN, 401),
    ("not base64 json", 401),
    (base64.b64encode(b'{"claims": "roles"}').decode(), 401),
    (None, 401),
])
def test_with_platform_auth_only_admin_roles_or_groups_get_in(entra_gateway, header, status):
    headers = {"X-MS-CLIENT-PRINCIPAL": header} if header else {}
    resp = httpx.get(entra_gateway + "/v1/organization/usage/summary", headers=headers)
    assert resp.status_code == status, resp.text


def test_with_platform_auth_client_routes_stay_key_authenticated(entra_gateway):
    """An Entra admin session is no project key: the OpenAI API still wants one."""
    resp = httpx.post(entra_gateway + "/v1/chat/completions",
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
                      headers={"X-MS-CLIENT-PRINCIPAL": ADMIN})
    assert resp.status_code == 401
