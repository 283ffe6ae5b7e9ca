"""The published OpenAPI description matches the registered functions, and a property-based
fuzz run from it against a local runner (its own process and data, so fuzzed admin writes
cannot disturb other tests) finds no 500 and no error without OpenAI's envelope."""
from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from shared.openapi import ANTHROPIC_OPERATIONS

from .conftest import ADMIN_KEY, ISSUED_KEYS, gateway_env, running_gateway
from .schema_strategy import from_schema
from .test_function_app import DOCUMENTED

EXAMPLES = 25          # per operation: the whole run stays well under a minute


def test_openapi_lists_exactly_the_registered_functions(gateway):
    doc = httpx.get(gateway + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    found = {op["operationId"]: (path.lstrip("/"), [method.upper()])
             for path, ops in doc["paths"].items() for method, op in ops.items()}
    # test_function_app checks DOCUMENTED against the registered functions (get_functions()
    # may be called once per process), so equal to DOCUMENTED is equal to what is registered.
    assert found == DOCUMENTED


@pytest.fixture(scope="module")
def fuzz_target(simulator, tmp_path_factory, logs_dir):
    log = logs_dir / "gateway-fuzz.log"
    env = gateway_env(simulator, tmp_path_factory.mktemp("fuzz-data"))
    with running_gateway(env, log) as url, httpx.Client(base_url=url, timeout=30) as c:
        key = c.post("/v1/organization/projects/fuzz/api_keys", json={},
                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()["value"]
        ISSUED_KEYS.append(key)
        yield c, key


def _operations():
    from shared.openapi import document
    doc = document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield pytest.param(path, method, op, doc["components"]["schemas"],
                               id=op["operationId"])


_SEGMENT = st.one_of(st.sampled_from(["gpt-4o-mini", "fuzz", "alpha", "key_0", "..", "%2F"]),
                     st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
                             min_size=1, max_size=20))


def _requests(path: str, op: dict, components: dict):
    names = re.findall(r"{(\w+)}", path)
    body = st.none()
    if "requestBody" in op:
        media, spec = next(iter(op["requestBody"]["content"].items()))
        body = from_schema(spec["schema"], components)
        if media == "multipart/form-data":
            body = body.map(lambda b: ("multipart", b))
        if op["operationId"] in ("chat_completions", "messages", "messages_count_tokens"):
            # reach past "unknown model" too (Claude: the native path)
            body = st.one_of(body, *(body.map(
                lambda b, m=model: {**b, "model": m} if isinstance(b, dict) else b)
                for model in ("gpt-4o-mini", "claude-sonnet-4")))
    query = st.fixed_dictionaries({}, optional={
        p["name"]: st.text(max_size=10) for p in op.get("parameters", []) if p["in"] == "query"})
    return st.tuples(st.lists(_SEGMENT, min_size=len(names), max_size=len(names)), body, query)


def _payload(body) -> dict:
    """httpx arguments: JSON, or for a multipart operation its fields as a form with `file`."""
    if not (isinstance(body, tuple) and body[0] == "multipart"):
        return {"json": body} if body is not None else {}
    fields = body[1] if isinstance(body[1], dict) else {"junk": body[1]}
    data = {k: str(v) for k, v in fields.items() if k != "file"}
    file = str(fields.get("file", "")).encode()
    return {"data": data, "files": {"file": ("audio.wav", file)}}


@pytest.mark.parametrize("path, method, op, components", list(_operations()))
def test_fuzzing_finds_no_500_and_no_envelope_less_error(fuzz_target, path, method, op,
                                                         components):
    client, key = fuzz_target
    auth = ADMIN_KEY if path.startswith("/v1/organization") else key

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_requests(path, op, components))
    def run(request):
        segments, body, query = request
        url = path
        for name, value in zip(re.findall(r"{(\w+)}", path), segments):
            segment = quote(value, safe="")
            url = url.replace("{" + name + "}", segment if segment.strip(".") else "x" + segment)
        resp = client.request(method.upper(), url, params=query or None,
                              headers={"Authorization": f"Bearer {auth}"}, **_payload(body))
        assert resp.status_code != 500, resp.text
        if resp.status_code >= 400 and op["operationId"] in ANTHROPIC_OPERATIONS:
            data = resp.json()
            assert data["type"] == "error" and set(data) <= {"type", "error", "request_id"}, \
                resp.text
            assert set(data["error"]) == {"type", "message"}, resp.text
        elif resp.status_code >= 400:
            data = resp.json()
            assert set(data) == {"error"}, resp.text
            assert set(data["error"]) == {"message", "type", "param", "code"}, resp.text
    run()
