"""What a realtime session's per-instance copy must never hide (shared/realtime/state.py).

An instance keeps the last copy of each session it served and writes from it without reading it
first; what another party changes must still take effect: the client's session.update on the
next turn, a session ended on another instance (refused even while the service has not dropped
the connection), expiry. Over real sockets: two gateway processes on one store stand for two
Function App instances (the second one's Web PubSub is unreachable, so its end of a session
cannot close the connection: only the store says the session ended). The cache's rules
themselves are checked on a real SQLite store below.
"""
from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
import websockets

from shared.config import Settings
from shared.errors import InvalidRequest
from shared.realtime.state import NotServed, SessionCache, SessionEnded, edit, mutate
from shared.store import RealtimeSession
from shared.store.base import utcnow
from shared.store.cosmos import CosmosStore
from shared.store.sqlite import SqliteStore

from .conftest import ADMIN_KEY, ISSUED_KEYS, cosmos_env, free_port, gateway_env, running_gateway
from .realtime_client import Client, audio_of, silence, types


@pytest.fixture(scope="module")
def instances(simulator, tmp_path_factory, logs_dir, store_kind, request):
    """Two gateways on one store: A serves the local Web PubSub the clients connect to; B's
    Web PubSub connection string points at a port nobody listens on."""
    extra = {}
    if store_kind == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), "freshness-tests")
    data = tmp_path_factory.mktemp("fresh-data")
    env = gateway_env(simulator, data, LLMPROXY_REALTIME_CHAT_MODEL="gpt-4o-mini", **extra)
    env.pop("WebPubSubConnectionString", None)
    other = {**env, "WebPubSubConnectionString":
             f"Endpoint=http://127.0.0.1:{free_port()};AccessKey=unreachable;Version=1.0;"}
    with running_gateway(env, logs_dir / f"gateway-fresh-a-{store_kind}.log") as a, \
            running_gateway(other, logs_dir / f"gateway-fresh-b-{store_kind}.log") as b:
        yield a, b


@pytest.fixture(scope="module")
def key(instances) -> str:
    resp = httpx.post(f"{instances[0]}/v1/organization/projects/fresh/api_keys",
                      json={"name": "fresh"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert resp.status_code == 201, resp.text
    ISSUED_KEYS.append(resp.json()["value"])
    return resp.json()["value"]


def api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"})


async def opened(url: str, key: str, **body) -> tuple[dict, Client]:
    resp = api(url, key).post("/v1/realtime/sessions", json=body)
    assert resp.status_code == 201, resp.text
    client = await Client.open(resp.json()["websocket_url"])
    await client.until("session.created")
    return resp.json(), client


async def text_turn(client: Client, words: str, **response) -> list[dict]:
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}})
    await client.until("conversation.item.created")
    await client.send({"type": "response.create", **({"response": response} if response else {})})
    return await client.until("response.done")


async def test_a_session_update_takes_effect_on_the_next_turn(instances, key, sim):
    a, _ = instances
    _, client = await opened(a, key, turn_detection=None, instructions="Be brief.")
    first = await text_turn(client, "hello")
    assert audio_of(first)                                  # text and audio, as created
    await client.send({"type": "session.update", "session": {
        "modalities": ["text"], "instructions": "Answer in French.",
        "input_audio_format": "g711_ulaw"}})
    await client.until("session.updated")
    second = await text_turn(client, "again")
    assert not audio_of(second) and "response.text.done" in types(second)
    chats = [r for r in sim.get("/_sim/requests").json()["requests"]
             if r["path"].endswith("chat/completions")]
    assert chats[-1]["body"]["messages"][0] == {"role": "system", "content": "Answer in French."}
    # Appends start from the instance's copy of the session: the new input format applies.
    # One second of g711 u-law is 8,000 bytes; read as pcm16 it would be a sixth of a second.
    await client.append(silence(1.0), fmt="g711_ulaw", realtime=False)
    await client.send({"type": "input_audio_buffer.commit"})
    done = (await client.until("conversation.item.input_audio_transcription.completed"))[-1]
    assert done["usage"]["seconds"] == 1.0
    await client.close()


async def test_a_session_ended_on_another_instance_refuses_the_next_event(instances, key):
    a, b = instances
    session, client = await opened(a, key, turn_detection=None)
    frame = base64.b64encode(silence(0.1)).decode()
    await client.send({"type": "input_audio_buffer.append", "audio": frame})
    await client.send({"type": "session.update", "session": {}})
    await client.until("session.updated")                  # A now holds a live copy
    # Ended through B: stored as closed, but B cannot reach the Web PubSub service, so the
    # client stays connected to A (as it may for a moment in Azure, or if a close is lost).
    ended = api(b, key).delete(f"/v1/realtime/sessions/{session['id']}")
    assert ended.status_code == 200 and ended.json()["status"] == "closed"
    await client.send({"type": "input_audio_buffer.append", "audio": frame})
    refused = (await client.until("error"))[-1]
    assert refused["error"]["code"] == "session_closed"
    with pytest.raises(websockets.ConnectionClosed):       # and A closes the connection
        while True:
            await client.next()


async def test_an_event_after_the_session_ended_elsewhere_is_refused_mid_conversation(
        instances, key):
    a, b = instances
    session, client = await opened(a, key, turn_detection=None, modalities=["text"])
    await text_turn(client, "hello")                       # A's copy: live, idle
    assert api(b, key).delete(f"/v1/realtime/sessions/{session['id']}").status_code == 200
    await client.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    assert (await client.until("error"))[-1]["error"]["code"] == "session_closed"
    await client.close()


async def test_revoking_the_key_that_made_a_session_does_not_end_it(instances, key):
    """Unchanged behaviour, kept: a session's events are not re-authenticated (its client token
    is short-lived, LLMPROXY_REALTIME_TOKEN_MINUTES, and the session ends on its own)."""
    a, _ = instances
    admin = httpx.Client(base_url=a, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    made = admin.post("/v1/organization/projects/fresh/api_keys", json={"name": "brief"}).json()
    ISSUED_KEYS.append(made["value"])
    _, client = await opened(a, made["value"], turn_detection=None, modalities=["text"])
    assert admin.delete(f"/v1/organization/projects/fresh/api_keys/{made['id']}").status_code \
        == 200
    assert api(a, made["value"]).get("/v1/realtime/sessions").status_code == 401
    done = (await text_turn(client, "still there?"))[-1]
    assert done["response"]["status"] == "completed"
    await client.close()


# -- the cache's rules, on a real store --------------------------------------------------------
@pytest.fixture(params=["sqlite", "cosmos"])
async def two(request, tmp_path):
    """Two instances' views of one store: their own store object and session cache (on Cosmos
    a write is one ETag-conditional replace, with no read first)."""
    if request.param == "sqlite":
        path = tmp_path / "shared.sqlite3"
        stores = [SqliteStore(path), SqliteStore(path)]
    else:
        env = cosmos_env(request.getfixturevalue("cosmos_server"),
                         f"fresh-{uuid.uuid4().hex[:10]}")
        stores = [CosmosStore(Settings.from_env(env)), CosmosStore(Settings.from_env(env))]
    for store in stores:
        await store.open()
    yield [SimpleNamespace(store=s, sessions=SessionCache()) for s in stores]
    for store in stores:
        await store.close()


def live_session(**fields) -> RealtimeSession:
    values = {"id": "sess_fresh", "project": "p", "key_id": "k", "models": {}, "config": {},
              "connection_id": "conn", "status": "connected",
              "expires_at": (utcnow() + timedelta(minutes=5)).isoformat(), **fields}
    return RealtimeSession(**values)


async def test_a_cached_copy_is_trusted_to_write_never_to_refuse(two):
    a, b = two
    await a.store.create_session(live_session())
    await edit(a, "conn", "sess_fresh", lambda s: setattr(s, "buffer_ms", 100))   # A caches it
    # B starts a response; A's copy still says there is none, and must not refuse the cancel.
    await edit(b, "conn", "sess_fresh",
               lambda s: setattr(s, "response", {"id": "resp_1", "cancelled": None}))

    def cancel(s: RealtimeSession) -> None:
        if not s.response:
            raise InvalidRequest("no active response")
        s.response = {**s.response, "cancelled": "client_cancelled"}
    stored, _ = await edit(a, "conn", "sess_fresh", cancel)
    assert stored.response == {"id": "resp_1", "cancelled": "client_cancelled"}
    assert stored.buffer_ms == 100                          # B's write was not undone
    # B ends the session: A's next write from its (now stale) copy is refused and redone fresh.
    await mutate(b.store, "sess_fresh", lambda s: setattr(s, "status", "closed"),
                 cache=b.sessions)
    assert a.sessions.get("sess_fresh").active
    with pytest.raises(SessionEnded):
        await edit(a, "conn", "sess_fresh", lambda s: setattr(s, "buffer_ms", 200))
    assert (await a.store.get_session("sess_fresh")).buffer_ms == 100


async def test_expired_or_foreign_or_missing_sessions_are_not_served(two):
    a, _ = two
    await a.store.create_session(live_session(
        expires_at=(utcnow() - timedelta(seconds=1)).isoformat()))
    with pytest.raises(SessionEnded):
        await edit(a, "conn", "sess_fresh", lambda s: None)
    with pytest.raises(NotServed):                          # another connection's session
        await edit(a, "other-conn", "sess_fresh", lambda s: None)
    with pytest.raises(NotServed):
        await edit(a, "conn", "sess_missing", lambda s: None)


async def test_the_cache_keeps_the_newest_copy_and_wakes_watchers(two):
    a, _ = two
    cache = a.sessions
    newer, older = live_session(version=3), live_session(version=2)
    cache.put(newer)
    cache.put(older)                                        # a read that raced a write
    assert cache.get("sess_fresh").version == 3
    copy = cache.get("sess_fresh")
    copy.items.append({"id": "x"})
    assert cache.get("sess_fresh").items == []              # copies out, never the held one
    waiter = asyncio.ensure_future(cache.wait("sess_fresh", 5))
    await asyncio.sleep(0)
    cache.put(live_session(version=4))
    assert await waiter is True
    assert await cache.wait("sess_fresh", 0.01) is False
