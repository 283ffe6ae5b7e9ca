"""The newer surfaces (Responses, Messages, Azure routes, Files) attacked the way a hostile
provider or client would: a provider that echoes the model's credential back in its error
(a literal one, stored in the catalog with `"literal_credentials": true`, and a `$NAME` one),
a stream the provider breaks off, malformed forms. Every answer keeps its surface's envelope and
carries no secret; nor does the gateway's log.

The literal-credential models point at a simulator of their own, started with its own API key,
so the key they hold is known to no setting of the gateway: only the model's own secrets can
redact it."""
from __future__ import annotations

import json
import os

import anthropic
import httpx
import openai
import pytest

from .conftest import free_port, start, wait_for

LITERAL_KEY = "lit-Zq8vX2mN5pR7tY1wK3audit"


@pytest.fixture(scope="module")
def own_simulator(logs_dir):
    """A second simulator whose Azure key is `LITERAL_KEY` (and whose service account is its own)."""
    port = free_port()
    log = logs_dir / "simulator-literal.log"
    proc = start(["-m", "simulator", "--port", str(port), "--api-key", LITERAL_KEY],
                 dict(os.environ), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/_sim/health", proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def literal_models(admin, own_simulator):
    """Models holding literal credentials for the second simulator: Azure (chat and native
    Responses) and Claude on Vertex (a service-account document)."""
    account = httpx.get(own_simulator + "/_sim/vertex/service-account.json").json()
    docs = [
        {"id": "lit-azure", "code": "gpt-4o-mini", "provider": "Azure",
         "model_type": "AzureOpenAI", "literal_credentials": True,
         "parameters": {"api_base": own_simulator, "api_key": LITERAL_KEY,
                        "api_version": "2024-10-21"},
         "operations": ["ChatCompletion", "embeddings"]},
        {"id": "lit-azure-v1", "code": "gpt-4.1", "provider": "Azure",
         "model_type": "AzureOpenAI", "literal_credentials": True,
         "parameters": {"api_base": own_simulator, "api_key": LITERAL_KEY, "surface": "v1"},
         "operations": ["ChatCompletion", "Responses"]},
        {"id": "lit-claude", "code": "claude-sonnet-4@20250514", "provider": "Google",
         "model_type": "GoogleVertexClaude", "literal_credentials": True,
         "parameters": {"vertex_project": "sim-project", "vertex_location": "us-east5",
                        "vertex_credentials": account, "api_base": own_simulator},
         "operations": ["ChatCompletion"]},
    ]
    for doc in docs:
        resp = admin.put(f"/v1/organization/models/{doc['id']}", json=doc)
        assert resp.status_code == 200, resp.text
    # What the second simulator's Vertex could quote of its service account: a line of the
    # private key (without the PEM armour a pattern would catch) and the key's id.
    key_lines = [line for line in account["private_key"].splitlines()
                 if len(line) > 40 and not line.startswith("-----")]
    yield {"azure": [LITERAL_KEY], "vertex": [key_lines[3], account["private_key_id"]]}
    for doc in docs:
        admin.delete(f"/v1/organization/models/{doc['id']}")


def _echo(secrets: list[str]) -> str:
    # How a provider quotes a credential: in running text, not as `key=...` (which the
    # pattern-based redaction would catch whatever the model).
    return "Incorrect API key provided: " + " and ".join(secrets) + ". Check your settings."


# (surface, path, body, headers kind, which secrets the model holds)
CALLS = [
    ("chat", "/v1/chat/completions",
     {"model": "lit-azure", "messages": [{"role": "user", "content": "x"}]}, "openai", "azure"),
    ("responses translated", "/v1/responses", {"model": "lit-azure", "input": "x"},
     "openai", "azure"),
    ("responses translated stream", "/v1/responses",
     {"model": "lit-azure", "input": "x", "stream": True}, "openai", "azure"),
    ("responses native", "/v1/responses", {"model": "lit-azure-v1", "input": "x"},
     "openai", "azure"),
    ("responses native stream", "/v1/responses",
     {"model": "lit-azure-v1", "input": "x", "stream": True}, "openai", "azure"),
    ("responses on claude", "/v1/responses", {"model": "lit-claude", "input": "x"},
     "openai", "vertex"),
    ("messages native", "/v1/messages",
     {"model": "lit-claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
     "anthropic", "vertex"),
    ("messages native stream", "/v1/messages",
     {"model": "lit-claude", "max_tokens": 5, "stream": True,
      "messages": [{"role": "user", "content": "x"}]}, "anthropic", "vertex"),
    ("count_tokens", "/v1/messages/count_tokens",
     {"model": "lit-claude", "messages": [{"role": "user", "content": "x"}]},
     "anthropic", "vertex"),
    ("messages translated", "/v1/messages",
     {"model": "lit-azure", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
     "anthropic", "azure"),
    ("azure deployment", "/openai/deployments/lit-azure/chat/completions?api-version=2024-10-21",
     {"messages": [{"role": "user", "content": "x"}]}, "azure", "azure"),
    ("azure v1", "/openai/v1/chat/completions",
     {"model": "lit-azure", "messages": [{"role": "user", "content": "x"}]}, "azure", "azure"),
    ("azure embeddings", "/openai/deployments/lit-azure/embeddings?api-version=2024-10-21",
     {"input": "x"}, "azure", "azure"),
]
# status the provider answers -> (status on OpenAI's surfaces, on Anthropic's). Each call
# meets each status once across the stores' runs and neighbours (every status takes its own
# branch of errors.from_upstream, all quoting the provider's message).
FAULTS = {400: (400, 400), 429: (429, 429), 500: (502, 500), 503: (503, 529)}
CASES = [(call, status) for i, call in enumerate(CALLS)
         for status in (sorted(FAULTS)[i % 4], sorted(FAULTS)[(i + 2) % 4])]


@pytest.mark.parametrize("call, provider_status", CASES,
                         ids=[f"{c[0]}-{s}" for c, s in CASES])
def test_a_provider_echoing_a_literal_credential_never_gets_it_to_the_client(
        gateway, make_key, own_simulator, literal_models, call, provider_status):
    name, path, body, kind, holds = call
    key = make_key("attacks")
    headers = {"openai": {"Authorization": f"Bearer {key}"},
               "anthropic": {"x-api-key": key, "anthropic-version": "2023-06-01"},
               "azure": {"api-key": key}}[kind]
    secrets = literal_models[holds]
    error = {"message": _echo(secrets), "type": "invalid_request_error", "code": "invalid"}
    with httpx.Client(base_url=own_simulator) as sim:
        sim.delete("/_sim/faults")
        # Enough for every retry and failover attempt the gateway makes.
        sim.post("/_sim/faults", json={"status": provider_status, "count": 20,
                                       "body": {"type": "error", "error": error}})
        try:
            resp = httpx.post(gateway + path, json=body, headers=headers, timeout=30)
        finally:
            sim.delete("/_sim/faults")
    openai_status, anthropic_status = FAULTS[provider_status]
    text = resp.text + json.dumps(dict(resp.headers))
    leaked = [s[:6] + "…" for s in secrets if s in text]
    assert not leaked, f"{name}: {leaked} in {resp.text}"
    data = resp.json()
    if kind == "anthropic":
        assert resp.status_code == anthropic_status, resp.text
        assert data["type"] == "error" and set(data["error"]) == {"type", "message"}
    else:
        assert resp.status_code == openai_status, resp.text
        assert set(data["error"]) == {"message", "type", "param", "code"}
    assert "[redacted]" in data["error"]["message"]     # quoted, with the secret blanked


def test_the_gateway_log_holds_no_literal_credential(gateway, gateway_log, make_key,
                                                      own_simulator, literal_models):
    """After the attacks above (and a success on each model), the log quotes none of them,
    although the models were added while the gateway was running."""
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("attacks"), max_retries=0)
    for model in ("lit-azure", "lit-azure-v1", "lit-claude"):
        client.responses.create(model=model, input="fine")
    log = gateway_log.read_text()
    secrets = literal_models["azure"] + literal_models["vertex"]
    assert not [s[:6] for s in secrets if s in log]


def test_the_anthropic_sdk_sees_its_own_error_and_no_secret(gateway, make_key, own_simulator,
                                                            literal_models):
    client = anthropic.Anthropic(base_url=gateway, api_key=make_key("attacks"), max_retries=0)
    with httpx.Client(base_url=own_simulator) as sim:
        sim.post("/_sim/faults", json={"status": 400, "count": 5, "body": {
            "type": "error", "error": {"type": "invalid_request_error",
                                       "message": _echo(literal_models["vertex"])}}})
        try:
            with pytest.raises(anthropic.BadRequestError) as caught:
                client.messages.create(model="lit-claude", max_tokens=5,
                                       messages=[{"role": "user", "content": "x"}])
        finally:
            sim.delete("/_sim/faults")
    message = caught.value.body["error"]["message"]
    assert "[redacted]" in message
    assert not [s for s in literal_models["vertex"] if s in message]


def test_a_native_responses_stream_the_provider_breaks_off_ends_with_response_failed(client, sim):
    """As on the translated path (test_responses.py): the client gets `response.failed` with
    what arrived, and the stored response says failed; not the chat surface's bare
    `{"error": ...}` line, which the SDK turns into an exception mid-iteration."""
    sim.post("/_sim/faults", json={"match": "/openai/v1/responses", "cut_after_chunks": 4})
    events = list(client.responses.create(model="gpt-4.1", stream=True,
                                          input="native break off [sim:words=40]"))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.failed", types
    assert "response.completed" not in types
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    failed = events[-1].response
    assert failed.id == events[0].response.id
    assert failed.status == "failed" and failed.error.code == "upstream_stream_interrupted"
    assert client.responses.retrieve(failed.id).status == "failed"


def _form(*parts: bytes) -> bytes:
    return b"".join(b"--x\r\n" + p + b"\r\n" for p in parts) + b"--x--\r\n"


@pytest.mark.parametrize("part, param, says", [
    (b'Content-Disposition: form-data; name="file"\r\n\r\nabc', "file", "filename"),
    (b'Content-Disposition: form-data; name="purpose"; filename="p"\r\n\r\nbatch', "purpose",
     "plain form field"),
    (b'Content-Disposition: form-data; name="' + b"p" * 10000 + b'"\r\n\r\nx', "p" * 64 + "…",
     "Unknown form field"),
], ids=["file-without-filename", "purpose-as-a-file", "huge-field-name"])
def test_a_malformed_upload_form_is_a_400_that_says_what_is_wrong(gateway, key, part, param,
                                                                   says):
    body = _form(b'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch', part)
    resp = httpx.post(gateway + "/v1/files", content=body, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=x"})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == param and says in error["message"]
    assert len(resp.content) < 1000           # a client's huge field name is not echoed back


def test_native_and_background_responses_and_their_jobs_are_another_projects_404(
        client, gateway, make_key):
    """test_responses.py covers a translated response; these are the other kinds of id a
    Responses call leaves: a native one (the provider's id, stored by the gateway) and a
    background one with its job (`source: responses`) in the jobs API."""
    native = client.responses.create(model="gpt-4.1", input="mine, native")
    background = client.responses.create(model="gpt-4o-mini", input="mine, later",
                                         background=True)
    owner = httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {client.api_key}"})
    jobs = owner.get("/v1/chat/completions/async", params={"limit": 100}).json()["data"]
    job = next(j for j in jobs if j["custom_id"] == background.id)
    assert job["source"] == "responses"
    other_key = make_key("attacks-other")
    other = openai.OpenAI(base_url=gateway + "/v1", api_key=other_key, max_retries=0)
    for response_id in (native.id, background.id):
        for attempt in (lambda: other.responses.retrieve(response_id),
                        lambda: other.responses.input_items.list(response_id),
                        lambda: other.responses.cancel(response_id),
                        lambda: other.responses.delete(response_id),
                        lambda: other.responses.create(model="gpt-4.1", input="x",
                                                       previous_response_id=response_id)):
            with pytest.raises(openai.NotFoundError):
                attempt()
    stranger = httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {other_key}"})
    for method in ("GET", "DELETE"):
        resp = stranger.request(method, f"/v1/chat/completions/async/{job['execution_id']}")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "job_not_found"
    listed = stranger.get("/v1/chat/completions/async", params={"limit": 100}).json()["data"]
    assert job["execution_id"] not in [j["execution_id"] for j in listed]
    assert client.responses.retrieve(native.id).id == native.id       # still the owner's
    assert owner.get(f"/v1/chat/completions/async/{job['execution_id']}").status_code == 200
