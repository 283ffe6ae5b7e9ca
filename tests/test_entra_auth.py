"""Azure OpenAI with Entra ID instead of a key: a catalog model with `auth: "entra"` and no
`api_key` gets a managed-identity token per call, cached until near expiry.

The managed identity is the one thing faked, at the wire: a local HTTP server plays App Service's
identity endpoint (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, exactly what azure-identity's
DefaultAzureCredential calls inside a Function App). The gateway runs as a real process; the
simulator plays Azure OpenAI and accepts the token it is given as a bearer credential.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import openai
import pytest

from .conftest import ADMIN_KEY, gateway_env, running_gateway

IDENTITY_HEADER = "identity-header-value-7c1d"
TOKEN = "sim-azure-key"               # what the simulator accepts as `Authorization: Bearer ...`
REFUSED_RESOURCE = "https://refused.example"


class IdentityEndpoint(BaseHTTPRequestHandler):
    """App Service's managed identity endpoint (api-version 2019-08-01)."""
    calls: list[dict] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        self.calls.append({"query": query, "header": self.headers.get("X-IDENTITY-HEADER")})
        if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER or \
                query.get("resource") == REFUSED_RESOURCE:
            self._json(400, {"error": "invalid_request", "error_description": "not for you"})
            return
        self._json(200, {"access_token": TOKEN, "expires_on": str(int(time.time()) + 3600),
                         "resource": query.get("resource"), "token_type": "Bearer"})

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def identity_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), IdentityEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def entra_gateway(simulator, identity_endpoint, tmp_path_factory, logs_dir):
    log = logs_dir / "gateway-entra.log"
    env = gateway_env(simulator, tmp_path_factory.mktemp("entra"),
                      IDENTITY_ENDPOINT=identity_endpoint, IDENTITY_HEADER=IDENTITY_HEADER)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MSI_ENDPOINT"):
        env.pop(name, None)
    with running_gateway(env, log) as url:
        yield url


def entra_model(model_id: str, **parameters) -> dict:
    return {"id": model_id, "code": "gpt-4o-mini", "provider": "Azure", "model_type": "AzureOpenAI",
            "parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL", "api_version": "2024-10-21",
                           "auth": "entra", **parameters},
            "costs": {"cost_input_1Mtokens": 0.15, "cost_output_1Mtokens": 0.6},
            "operations": ["ChatCompletion"]}


@pytest.fixture(scope="module")
def entra_client(entra_gateway):
    with httpx.Client(base_url=entra_gateway, timeout=30,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        for doc in (entra_model("gpt-entra"),
                    entra_model("gpt-entra-refused", token_scope=REFUSED_RESOURCE + "/.default")):
            resp = admin.put(f"/v1/organization/models/{doc['id']}", json=doc)
            assert resp.status_code in (200, 201), resp.text
        key = admin.post("/v1/organization/projects/entra/api_keys", json={"name": "t"}).json()["value"]
    return openai.OpenAI(base_url=entra_gateway + "/v1", api_key=key, max_retries=0, timeout=30)


def test_calls_carry_a_managed_identity_token_fetched_once(entra_client, sim):
    IdentityEndpoint.calls.clear()
    for _ in range(3):
        reply = entra_client.chat.completions.create(
            model="gpt-entra", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
    chunks = list(entra_client.chat.completions.create(
        model="gpt-entra", stream=True, messages=[{"role": "user", "content": "hi"}]))
    assert chunks

    token_requests = [c for c in IdentityEndpoint.calls
                      if c["query"].get("resource") == "https://cognitiveservices.azure.com"]
    assert len(token_requests) == 1                       # cached across the four calls
    assert token_requests[0]["header"] == IDENTITY_HEADER

    upstream = [r for r in sim.get("/_sim/requests").json()["requests"]
                if r["path"].endswith("/chat/completions")]
    assert len(upstream) == 4
    for request in upstream:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["authorization"].startswith("Bearer ")
        assert "api-key" not in headers


def test_no_token_is_a_clear_502_without_credential_details(entra_client):
    with pytest.raises(openai.APIStatusError) as info:
        entra_client.chat.completions.create(
            model="gpt-entra-refused", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    error = info.value.body
    assert error["code"] == "upstream_auth_failed"
    assert "Entra ID token" in error["message"]
    assert "not for you" not in error["message"] and IDENTITY_HEADER not in json.dumps(error)


@pytest.mark.parametrize("parameters, field", [
    ({"api_key": "$SIMULATOR_AZURE_API_KEY"}, "parameters.api_key"),
])
def test_entra_and_a_key_do_not_mix(entra_gateway, parameters, field):
    doc = entra_model("gpt-entra-bad", **parameters)
    resp = httpx.put(f"{entra_gateway}/v1/organization/models/gpt-entra-bad", json=doc, timeout=30,
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert resp.status_code == 400
    assert field in resp.json()["error"]["message"]


def test_token_scope_needs_entra(entra_gateway):
    doc = entra_model("gpt-scope-bad", token_scope="https://x/.default")
    doc["parameters"]["auth"] = "api-key"
    resp = httpx.put(f"{entra_gateway}/v1/organization/models/gpt-scope-bad", json=doc, timeout=30,
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert resp.status_code == 400
    assert "token_scope" in resp.json()["error"]["message"]


def test_the_token_and_identity_header_stay_out_of_the_log(entra_client, logs_dir):
    entra_client.chat.completions.create(model="gpt-entra",
                                         messages=[{"role": "user", "content": "hi"}])
    log = (logs_dir / "gateway-entra.log").read_text()
    assert "LLM Proxy listening" in log and "DEBUG" in log
    assert TOKEN not in log and IDENTITY_HEADER not in log
