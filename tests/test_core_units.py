"""Unit tests of core pieces where a direct call says more than an HTTP round trip."""
from __future__ import annotations

import json

import pytest

from shared.catalog import Costs, ModelDocument
from shared.config import Settings
from shared import json_codec
from shared.errors import AuthenticationFailed, sanitize
from shared.gateway import Gateway
from shared.handlers import admin as admin_handlers
from shared.handlers import chat, health
from shared.handlers.respond import respond
from shared.http_types import ApiRequest
from shared.store import StoreConflict, StoreUnavailable
from shared.store.sqlite import SqliteStore


def settings(tmp_path, **values) -> Settings:
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests",
           "LLMPROXY_ADMIN_KEY": "admin-for-tests", "SIM": "http://127.0.0.1:9"}
    env.update(values)
    return Settings.from_env(env)


def embeddings_only() -> ModelDocument:
    return ModelDocument.model_validate({
        "id": "embedder", "code": "text-embedding-3-small", "provider": "Azure",
        "model_type": "AzureOpenAI", "operations": ["embeddings"],
        "parameters": {"api_base": "$SIM", "api_version": "2024-10-21"}})


async def test_a_model_without_the_operation_is_400_naming_the_model(tmp_path):
    gw = await Gateway(settings(tmp_path)).ready()
    await gw.store.upsert_model(embeddings_only())        # stored directly, bypassing admin checks
    gw.catalog.invalidate()
    key, _ = await gw.keys.issue("p1")
    req = ApiRequest("POST", "/v1/chat/completions", {"authorization": f"Bearer {key}"},
                     body=json.dumps({"model": "embedder", "messages": [{"role": "user",
                                                                         "content": "x"}]}).encode())
    resp = await respond(gw, chat.chat_completions, req)
    err = json.loads(resp.body)["error"]
    assert resp.status == 400
    assert err["param"] == "model" and "embedder" in err["message"]
    assert "ChatCompletion" in err["message"]
    await gw.close()


class BrokenStore(SqliteStore):
    async def list_models(self):
        raise StoreUnavailable("connection refused")

    async def ping(self):
        raise StoreUnavailable("connection refused")


async def test_a_store_outage_is_503_not_model_not_found(tmp_path):
    s = settings(tmp_path)
    gw = await Gateway(s, store=BrokenStore(tmp_path / "x.db")).ready()
    key, _ = await gw.keys.issue("p1")
    req = ApiRequest("POST", "/v1/chat/completions", {"authorization": f"Bearer {key}"},
                     body=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}')
    resp = await respond(gw, chat.chat_completions, req)
    assert resp.status == 503
    assert json.loads(resp.body)["error"]["type"] == "service_unavailable"
    resp = await respond(gw, health.health, ApiRequest("GET", "/health", {}))
    assert resp.status == 503
    await gw.close()


def test_costs_are_per_million_tokens():
    costs = Costs(cost_input_1Mtokens=2.5, cost_output_1Mtokens=10)
    assert costs.cost(1_000_000, 0) == 2.5
    assert costs.cost(1000, 500) == pytest.approx(0.0025 + 0.005)
    assert Costs.model_validate({"input": 0.0025, "output": 0.01}) == costs


def test_sanitize_removes_secrets_and_credential_shapes():
    text = ('key=abcd1234efgh; Authorization: Bearer eyJhbGciOi.x.y; token ya29.AbCdEf; '
            '"api_key": "sk-live-123456"; -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----'
            ' my-configured-secret llmp-AbCdEfGh12345678')
    clean = sanitize(text, ("my-configured-secret",), limit=None)
    for leaked in ("abcd1234efgh", "eyJhbGciOi", "ya29.AbCdEf", "sk-live-123456", "MIIE",
                   "my-configured-secret", "llmp-AbCdEfGh12345678"):
        assert leaked not in clean


async def test_keys_are_stored_only_as_keyed_hashes(tmp_path):
    gw = await Gateway(settings(tmp_path)).ready()
    key, record = await gw.keys.issue("p1")
    assert record.hash != key and key not in json.dumps(record.__dict__)
    other = await Gateway(settings(tmp_path / "b", LLMPROXY_KEY_PEPPER="another-pepper")).ready()
    assert other.keys.hash(key) != record.hash           # keyed: the pepper matters
    raw = (tmp_path / "llmproxy.sqlite3").read_bytes()
    assert key.encode() not in raw
    await gw.close()
    await other.close()


async def test_a_key_seen_before_is_not_hashed_again_and_its_revocation_is_immediate(tmp_path):
    gw = await Gateway(settings(tmp_path)).ready()
    key, record = await gw.keys.issue("p1")
    headers = {"authorization": f"Bearer {key}"}
    hashed = []
    real_hash = gw.keys.hash
    gw.keys.hash = lambda k: hashed.append(k) or real_hash(k)        # type: ignore[method-assign]
    first = await gw.keys.authenticate(headers)
    again = await gw.keys.authenticate(headers)
    assert (first.project, first.key_id) == ("p1", record.key_id) and again is first
    assert hashed == [key]                        # the second call reused the digest
    await gw.keys.revoke(record.key_id)
    with pytest.raises(AuthenticationFailed):
        await gw.keys.authenticate(headers)       # no stale cache entry survives revocation
    with pytest.raises(AuthenticationFailed):
        await gw.keys.authenticate({"authorization": f"Bearer {key[:-1]}x"})
    await gw.close()


def test_json_codec_matches_the_standard_library():
    doc = {"model": "m", "messages": [{"role": "user", "content": "caf\u00e9 \u2603 \"q\" \n"}],
           "n": 1, "t": 0.5, "x": None, "ok": True, "big": 10**20, "nested": {"a": [1, [2, {}]]}}
    assert json_codec.dumps_compact(doc) == json.dumps(doc, separators=(",", ":")).encode()
    raw = json.dumps(doc).encode()
    assert json_codec.loads(raw) == json.loads(raw) == doc
    assert json_codec.loads(json.dumps(doc).encode("utf-16")) == doc        # sniffed, as before
    assert json_codec.loads(b"\xef\xbb\xbf{}") == json.loads(b"\xef\xbb\xbf{}") == {}
    for bad in (b"{", b'{"a": "\xff"}', b"[1,]", b"\xef\xbb\xbf"):
        with pytest.raises(ValueError) as ours:
            json_codec.loads(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert type(ours.value) is type(theirs.value)
    with pytest.raises(TypeError):
        json_codec.dumps_compact({"when": object()})


class RacingStore(SqliteStore):
    """Every revocation loses its optimistic-concurrency race (retries already spent)."""
    async def revoke_key(self, key_id):
        raise StoreConflict("the document changed since it was read")


async def test_a_lost_write_race_is_reported_as_409_not_dropped(tmp_path):
    gw = await Gateway(settings(tmp_path), store=RacingStore(tmp_path / "x.db")).ready()
    _, record = await gw.keys.issue("p")
    req = ApiRequest("DELETE", f"/v1/organization/projects/p/api_keys/{record.key_id}",
                     {"authorization": "Bearer admin-for-tests"},
                     path_params={"project_id": "p", "key_id": record.key_id})
    resp = await respond(gw, admin_handlers.revoke_key, req)
    assert resp.status == 409
    error = json.loads(resp.body)["error"]
    assert error["code"] == "conflict" and "retry" in error["message"]
    await gw.close()


def test_request_headers_are_read_from_the_asgi_list_by_any_case():
    from blueprints.host import RequestHeaders
    headers = RequestHeaders([(b"authorization", b"Bearer first"), (b"x-seen", b"1"),
                              (b"authorization", b"Bearer second")])
    assert headers.get("Authorization") == "Bearer first"        # the first, as Starlette
    assert headers["x-seen"] == "1" and "X-Seen" in headers and "api-key" not in headers
    assert headers.get("api-key") is None and headers.get("api-key", "") == ""
    with pytest.raises(KeyError):
        headers["api-key"]
    assert list(headers) == ["authorization", "x-seen"] and len(headers) == 2
    assert dict(headers) == {"authorization": "Bearer first", "x-seen": "1"}
