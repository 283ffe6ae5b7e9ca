"""Issue 20 (black-box attack, round 2): bad input is a 4xx naming what is wrong, never a 500,
a provider call or a lost batch; upstream 4xx answers are the caller's; secrets stay secret."""
from __future__ import annotations

import time

import httpx
import pytest

MSG = [{"role": "user", "content": "hi"}]


def post_raw(gateway: str, key: str, path: str, raw: bytes) -> httpx.Response:
    return httpx.post(gateway + path, content=raw, timeout=30,
                      headers={"Authorization": f"Bearer {key}",
                               "Content-Type": "application/json"})


DEEP = b'{"model":"gpt-4o-mini","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings",
                                  "/v1/images/generations", "/v1/chat/completions/async",
                                  "/v1/audio/speech"])
def test_deeply_nested_json_is_400_on_every_json_route(gateway, key, sim, path):
    resp = post_raw(gateway, key, path, DEEP)
    assert resp.status_code == 400, resp.text
    assert "nested deeper" in resp.json()["error"]["message"]
    assert sim.get("/_sim/requests").json()["requests"] == []


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash"])
@pytest.mark.parametrize("raw, what", [
    (b'"temperature":NaN', "NaN"),
    (b'"temperature":Infinity', "Infinity"),
    (b'"temperature":-Infinity', "-Infinity"),
    (b'"user":"\\ud800"', "surrogate"),
    (b'"user":"ok\\udc00ok"', "surrogate"),
])
def test_non_json_numbers_and_lone_surrogates_are_400_before_any_provider_call(
        gateway, key, sim, model, raw, what):
    body = b'{"model":"%s","messages":[{"role":"user","content":"hi"}],%s}' % (model.encode(), raw)
    resp = post_raw(gateway, key, "/v1/chat/completions", body)
    assert resp.status_code == 400, resp.text
    assert what in resp.json()["error"]["message"]
    assert sim.get("/_sim/requests").json()["requests"] == []


def test_a_valid_surrogate_pair_is_still_accepted(gateway, key):
    body = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"smile \\ud83d\\ude00"}]'
            b',"metadata":{"a":[[[[1]]]]}}')
    resp = post_raw(gateway, key, "/v1/chat/completions", body)
    assert resp.status_code == 200, resp.text


CHAT_MODELS = ["gpt-4o-mini", "gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4", "llama-3.3-70b"]


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("field, value", [
    ("temperature", 7), ("temperature", -0.1), ("top_p", 1.5), ("top_p", -1),
    ("n", 0), ("presence_penalty", 2.5), ("frequency_penalty", -3),
    ("max_tokens", 0), ("max_completion_tokens", -5), ("temperature", "hot"),
])
def test_standard_parameters_out_of_range_are_400_naming_the_field_on_every_provider(
        client, sim, model, field, value):
    import openai
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=MSG, **{field: value})
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == field
    assert sim.get("/_sim/requests").json()["requests"] == []


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_standard_parameters_at_their_limits_pass(client, model):
    reply = client.chat.completions.create(model=model, messages=MSG, temperature=2, top_p=0,
                                           max_tokens=1)
    assert reply.choices


def sim_requests(sim) -> list[dict]:
    """The provider calls the simulator saw (not Vertex's token grants)."""
    return [r for r in sim.get("/_sim/requests").json()["requests"] if r["path"] != "/token"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4"])
@pytest.mark.parametrize("status", [402, 405, 409, 410, 415, 451])
def test_an_upstream_4xx_is_relayed_with_its_status_and_never_retried(gateway, key, sim, model,
                                                                       status):
    sim.post("/_sim/faults", json={"match": model, "status": status, "count": 10, "body": {
        "error": {"code": status, "message": f"provider says no ({status}) api_key=sk-leak1234",
                  "status": "FAILED_PRECONDITION"}}})
    resp = httpx.post(gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MSG})
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert f"provider says no ({status})" in error["message"]
    assert "sk-leak1234" not in resp.text
    assert len(sim_requests(sim)) == 1


def test_an_upstream_4xx_does_not_fail_over_to_another_pool_member(gateway, admin, key, sim):
    from .test_routing import deployment, pool
    docs = [deployment("rel-m1"), deployment("rel-m2"),
            pool("rel-pool", [{"model": "rel-m1", "priority": 1},
                              {"model": "rel-m2", "priority": 2}])]
    for doc in docs:
        assert admin.put(f"/v1/organization/models/{doc['id']}", json=doc).status_code == 200, doc
    try:
        sim.post("/_sim/faults", json={"match": "rel-m1", "status": 409, "count": 10})
        resp = httpx.post(gateway + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "rel-pool", "messages": MSG})
        assert resp.status_code == 409, resp.text
        assert [r["path"] for r in sim_requests(sim)] == [
            "/openai/deployments/rel-m1-dep/chat/completions"]
    finally:
        for doc in reversed(docs):
            admin.delete(f"/v1/organization/models/{doc['id']}")


@pytest.mark.parametrize("stream", [False, True])
def test_a_hung_pool_member_leaves_time_for_the_next_one(gateway, admin, key, sim, stream):
    """The gateway's total timeout here is 3 s (conftest); the hung member gets half of it."""
    from .test_routing import deployment, pool
    docs = [deployment("rel-hung"), deployment("rel-ok"),
            pool("rel-hpool", [{"model": "rel-hung", "priority": 1},
                               {"model": "rel-ok", "priority": 2}], retries=0)]
    for doc in docs:
        assert admin.put(f"/v1/organization/models/{doc['id']}", json=doc).status_code == 200, doc
    try:
        sim.post("/_sim/faults", json={"match": "rel-hung", "hang": True, "count": 10})
        resp = httpx.post(gateway + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "rel-hpool", "messages": MSG, "stream": stream})
        assert resp.status_code == 200, resp.text
        assert "[DONE]" in resp.text if stream else resp.json()["choices"]
        paths = [r["path"] for r in sim_requests(sim)]
        assert paths[-1] == "/openai/deployments/rel-ok-dep/chat/completions", paths
    finally:
        for doc in reversed(docs):
            admin.delete(f"/v1/organization/models/{doc['id']}")


LITERAL = "sim-azure-key"           # the simulator's Azure key, written into the document itself


def literal_doc(model_id: str, **extra) -> dict:
    from .test_routing import deployment
    doc = deployment(model_id)
    doc["parameters"]["api_key"] = LITERAL
    return {**doc, **extra}


def test_a_literal_credential_is_refused_without_the_opt_in_pointing_to_a_setting(admin):
    resp = admin.put("/v1/organization/models/rel-literal-refused", json=literal_doc("rel-literal-refused"))
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "parameters.api_key" and "$NAME" in error["message"]
    assert LITERAL not in resp.text
    assert admin.get("/v1/organization/models/rel-literal-refused").status_code == 404


@pytest.fixture
def literal_model(admin):
    resp = admin.put("/v1/organization/models/rel-literal",
                     json=literal_doc("rel-literal", literal_credentials=True))
    assert resp.status_code == 200, resp.text
    assert LITERAL not in resp.text
    yield "rel-literal"
    admin.delete("/v1/organization/models/rel-literal")


def test_the_admin_api_masks_a_literal_credential_and_a_masked_write_keeps_it(
        admin, client, literal_model):
    shown = admin.get(f"/v1/organization/models/{literal_model}").json()
    assert shown["parameters"]["api_key"] == "********"
    assert LITERAL not in admin.get("/v1/organization/models").text
    shown["name"] = "renamed"                       # read, edit, write back
    assert admin.put(f"/v1/organization/models/{literal_model}", json=shown).status_code == 200
    reply = client.chat.completions.create(model=literal_model, messages=MSG)
    assert reply.choices                            # the stored credential still authenticates


def test_a_literal_credential_echoed_by_the_provider_never_reaches_the_caller(
        gateway, key, sim, literal_model):
    sim.post("/_sim/faults", json={"match": literal_model, "status": 400, "count": 20, "body": {
        "error": {"message": f"Access denied for key {LITERAL} on this deployment"}}})
    headers = {"Authorization": f"Bearer {key}"}
    for stream in (False, True):
        resp = httpx.post(gateway + "/v1/chat/completions", headers=headers, timeout=30,
                          json={"model": literal_model, "messages": MSG, "stream": stream})
        assert resp.status_code == 400, resp.text
        assert "Access denied" in resp.text and LITERAL not in resp.text
    job = httpx.post(gateway + "/v1/chat/completions/async", headers=headers, timeout=30,
                     json={"model": literal_model, "messages": MSG}).json()
    from .jobs_support import eventually
    done = eventually(lambda: (j := httpx.get(
        f"{gateway}/v1/chat/completions/async/{job['execution_id']}", headers=headers).json())
        ["status"] in ("failed", "completed") and j, "the job to end")
    assert done["status"] == "failed" and "Access denied" in done["error"]["message"]
    assert LITERAL not in str(done)


LIBRARY_TRACES = ("litellm", "LiteLLM", "Traceback", ".py", "/site-packages", "File \"")


def assert_clean(text: str) -> None:
    for trace in LIBRARY_TRACES:
        assert trace not in text, (trace, text)


@pytest.mark.parametrize("model, field, value", [
    ("gemini-2.5-flash", "logit_bias", {"1": 5}),
    ("claude-sonnet-4", "presence_penalty", 1),
    ("claude-sonnet-4", "frequency_penalty", 0.5),
])
def test_a_parameter_the_vertex_model_lacks_is_a_clean_400_naming_it(gateway, key, model, field,
                                                                     value):
    resp = httpx.post(gateway + "/v1/chat/completions", timeout=60,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MSG, field: value})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == field
    assert_clean(resp.text)


def vertex_doc(model_id: str, creds: dict) -> dict:
    return {"id": model_id, "code": "gemini-2.5-flash", "provider": "Google",
            "model_type": "GoogleVertex", "operations": ["ChatCompletion"],
            "literal_credentials": True,
            "parameters": {"vertex_project": "sim-project", "vertex_location": "us-central1",
                           "vertex_credentials": creds, "api_base": "$LLMPROXY_SIMULATOR_URL"}}


@pytest.mark.parametrize("fault", [
    {"private_key": "-----BEGIN PRIVATE KEY-----\nnot-base64!!\n-----END PRIVATE KEY-----\n"},
    {"token_uri": "not a url"},
    {"client_email": None},
])
def test_malformed_vertex_credentials_are_refused_cleanly_when_saved(admin, simulator, fault):
    creds = httpx.get(simulator + "/_sim/vertex/service-account.json").json()
    creds.update(fault)
    creds = {k: v for k, v in creds.items() if v is not None}
    resp = admin.put("/v1/organization/models/rel-badcreds", json=vertex_doc("rel-badcreds", creds))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "parameters.vertex_credentials"
    assert "vertex_credentials" in resp.json()["error"]["message"]
    assert_clean(resp.text)
    assert creds.get("private_key", "")[30:60] not in resp.text


def test_a_refused_token_exchange_is_a_clean_error(gateway, admin, key, simulator):
    """A well-formed key Google does not know (revoked, rotated): the token grant fails."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    creds = httpx.get(simulator + "/_sim/vertex/service-account.json").json()
    creds.update(private_key=pem, private_key_id=f"rel-{time.time_ns()}")
    assert admin.put("/v1/organization/models/rel-tokenfail",
                     json=vertex_doc("rel-tokenfail", creds)).status_code == 200
    try:
        resp = httpx.post(gateway + "/v1/chat/completions", timeout=60,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "rel-tokenfail", "messages": MSG})
        assert resp.status_code >= 500, resp.text
        assert "vertex_credentials" in resp.json()["error"]["message"]
        assert_clean(resp.text)
    finally:
        admin.delete("/v1/organization/models/rel-tokenfail")


@pytest.mark.parametrize("change, param", [
    ({"parameters": {"api_version": "2024-10-21&api-key=X"}}, "parameters.api_version"),
    ({"parameters": {"api_version": "2024-10-21 HTTP/1.1"}}, "parameters.api_version"),
    ({"parameters": {"api_base": "http://user:pass@127.0.0.1:9"}}, "parameters.api_base"),
    ({"parameters": {"api_base": "http://127.0.0.1:9/x?y=1"}}, "parameters.api_base"),
    ({"code": "gpt 4o"}, "code"),
    ({"code": "gpt-4o?api-version=1"}, "code"),
    ({"code": "../../admin"}, "code"),
    ({"code": "a/../b"}, "code"),
])
def test_admin_input_that_would_change_the_upstream_request_is_400_naming_it(admin, change,
                                                                             param):
    from .test_routing import deployment
    doc = deployment("rel-badinput")
    doc["parameters"].update(change.get("parameters", {}))
    doc.update({k: v for k, v in change.items() if k != "parameters"})
    resp = admin.put("/v1/organization/models/rel-badinput", json=doc)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    assert admin.get("/v1/organization/models/rel-badinput").status_code == 404


def test_a_vertex_api_base_with_credentials_is_400(admin):
    doc = vertex_doc("rel-badbase", "$SIMULATOR_VERTEX_CREDENTIALS")
    doc["parameters"]["api_base"] = "http://user:secret@127.0.0.1:9"
    resp = admin.put("/v1/organization/models/rel-badbase", json=doc)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "parameters.api_base"


def test_codes_with_a_publisher_or_version_still_pass(admin):
    from .test_routing import deployment
    for code in ("meta/llama-3.3-70b-instruct-maas", "claude-sonnet-4@20250514", "gpt-4.1"):
        doc = {**deployment("rel-goodcode"), "code": code}
        assert admin.put("/v1/organization/models/rel-goodcode", json=doc).status_code == 200, code
    admin.delete("/v1/organization/models/rel-goodcode")


DATA_SOURCES = [{"type": "azure_search", "parameters": {
    "endpoint": "https://attacker.example", "index_name": "x",
    "authentication": {"type": "api_key", "key": "k"}}}]


def test_azure_data_sources_are_refused_unless_the_model_allows_them(gateway, admin, key, sim):
    from .test_routing import deployment
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o-mini", "messages": MSG, "data_sources": DATA_SOURCES}
    resp = httpx.post(gateway + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "data_sources"
    job = httpx.post(gateway + "/v1/chat/completions/async", json=body, headers=headers,
                     timeout=30)
    assert job.status_code == 400 and job.json()["error"]["param"] == "data_sources"
    assert sim_requests(sim) == []
    doc = deployment("rel-ondata", allow_data_sources=True)
    assert admin.put("/v1/organization/models/rel-ondata", json=doc).status_code == 200
    try:
        resp = httpx.post(gateway + "/v1/chat/completions", headers=headers, timeout=30,
                          json={**body, "model": "rel-ondata"})
        assert resp.status_code == 200, resp.text
        assert sim_requests(sim)[-1]["body"]["data_sources"] == DATA_SOURCES
    finally:
        admin.delete("/v1/organization/models/rel-ondata")


@pytest.mark.parametrize("host", ["000000127.0.0.1", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001",
                                  "2130706433", "127.1", "127.000.000.001",
                                  "010.0.0.1", "0251.0376.0251.0376"])
def test_non_canonical_ip_webhook_hosts_are_refused(gateway, key, host):
    resp = httpx.post(gateway + "/v1/chat/completions/async", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "messages": MSG,
                            "webhook_url": f"https://{host}/hook"})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "webhook_url" and error["code"] == "unsafe_webhook_url"
    assert "non-canonical" in error["message"]
