"""Core pieces of async jobs where a direct call says more than an HTTP round trip."""
from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from shared.config import Settings
from shared.gateway import Gateway
from shared.jobs import model
from shared.jobs.events import HubEvent, reference
from shared.jobs.ssrf import Destination, UnsafeWebhookUrl, WebhookGuard
from shared.jobs.webhook_http import PinnedResolver
from shared.jobs.webhooks import sign, verify
from shared.jobs.worker import process_batch


@pytest.mark.parametrize("url, why", [
    ("http://example.com/", "https"),
    ("https://localhost/", "loopback"),
    ("https://127.0.0.1/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://10.0.0.1/", "private"),
    ("https://192.168.0.1/", "private"),
    ("https://169.254.169.254/", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://169.254.10.10/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://u:p@example.com/", "credentials"),
    ("https://no-such-host.invalid/", "does not resolve"),
    ("not a url", "https"),
])
async def test_guard_refuses(url, why):
    with pytest.raises(UnsafeWebhookUrl, match=why):
        await WebhookGuard().resolve(url)


async def test_guard_accepts_public_addresses_and_the_allow_list():
    assert (await WebhookGuard().resolve("https://8.8.8.8/hook")).addresses == ("8.8.8.8",)
    allowed = WebhookGuard(("127.0.0.1", "10.0.0.0/8", "intranet.example"))
    assert (await allowed.resolve("http://127.0.0.1:9/x")).addresses == ("127.0.0.1",)
    assert (await allowed.resolve("https://10.2.3.4/x")).port == 443
    with pytest.raises(UnsafeWebhookUrl):
        await allowed.resolve("https://127.0.0.2/")
    with pytest.raises(UnsafeWebhookUrl):
        await allowed.resolve("http://8.8.8.8/")          # http only for allow-listed hosts


async def test_the_connection_uses_the_checked_addresses_only():
    resolver = PinnedResolver(Destination("https://hooks.example/x", "hooks.example", 443,
                                          ("93.184.216.34",)))
    answer = await resolver.resolve("hooks.example", 443)
    assert [a["host"] for a in answer] == ["93.184.216.34"]
    assert answer[0]["flags"] == socket.AI_NUMERICHOST
    with pytest.raises(OSError):
        await resolver.resolve("other.example", 443)


def test_signature_matches_the_standard_webhooks_reference_vector():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_rejects_stale_timestamps():
    import time
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    old = int(time.time()) - 3600
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(old),
               "webhook-signature": sign(secret, "msg_1", old, b"{}")}
    assert not verify(secret, headers, b"{}")
    headers["webhook-timestamp"] = str(int(time.time()))
    headers["webhook-signature"] = sign(secret, "msg_1", int(headers["webhook-timestamp"]), b"{}")
    assert verify(secret, headers, b"{}")


async def test_an_expired_job_is_skipped_by_the_worker(tmp_path):
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests"}
    gw = await Gateway(Settings.from_env(env)).ready()
    try:
        doc = model.new_job(project="p", body={"model": "m", "messages": []}, priority=5,
                            ttl_hours=1, created=model.now() - timedelta(hours=2))
        await gw.store.create_job(doc)
        finished = await process_batch(gw, [HubEvent(reference(doc).encode())])
        assert finished == []
        assert await gw.store.get_job("p", doc["id"]) is None
    finally:
        await gw.close()


def test_retry_delay_honours_retry_after_up_to_the_cap():
    from shared.errors import RateLimited, UpstreamError
    from shared.jobs.attempts import retry_delay
    settings = Settings.from_env({"LLMPROXY_JOB_RETRY_BASE_SECONDS": "2",
                                  "LLMPROXY_JOB_MAX_RETRY_AFTER_SECONDS": "60"})
    assert retry_delay(settings, 0, UpstreamError("x")) == 2
    assert retry_delay(settings, 2, UpstreamError("x")) == 8
    assert retry_delay(settings, 0, RateLimited("x", headers={"Retry-After": "7"})) == 7
    assert retry_delay(settings, 0, RateLimited("x", headers={"Retry-After": "600"})) == 60
    assert retry_delay(settings, 3, RateLimited("x", headers={"Retry-After": "1"})) == 16
    assert retry_delay(settings, 0, RateLimited("x", headers={"Retry-After": "soon"})) == 2


async def test_a_job_that_hits_a_gateway_bug_ends_failed_not_processing(tmp_path):
    from shared.jobs.worker import _Worker
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests"}
    gw = await Gateway(Settings.from_env(env)).ready()
    try:
        doc = model.new_job(project="p", body={"model": "m", "messages": []}, priority=5,
                            ttl_hours=1)
        stored, _ = await gw.store.create_job(doc)
        stored.doc["status"] = model.PROCESSING
        await gw.store.replace_job(stored.doc, stored.etag)
        await _Worker(gw)._give_up(stored.doc)
        final = (await gw.store.get_job("p", doc["id"])).doc
        assert final["status"] == model.FAILED
        assert final["error"]["code"] == "internal_error"
    finally:
        await gw.close()


def test_the_producer_script_reads_batch_lines(tmp_path):
    import importlib.util
    from .conftest import ROOT
    spec = importlib.util.spec_from_file_location("produce_jobs", ROOT / "scripts" / "produce_jobs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = tmp_path / "lines.jsonl"
    path.write_text('{"custom_id": "a", "body": {}}\n\n{"custom_id": "b", "project": "own"}\n'
                    'not json\n')
    events = script.read_events(str(path), "alpha")
    assert [json.loads(e)["project"] for e in events[:2]] == ["alpha", "own"]
    assert events[2] == b"not json"           # sent as is: the worker records it as malformed


async def test_a_response_cancel_that_loses_the_race_to_the_worker_says_it_finished(tmp_path):
    """The worker finishes a background response between the cancel's look at its job and the
    cancel's write: the client hears that the response finished (400, its id), as when it had
    finished earlier, not a 409 about a job id it never saw (found by the Node SDK tests)."""
    from shared.errors import GatewayError
    from shared.keys import Caller
    from shared.responses_background import cancel
    env = {"LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": "pepper-for-tests"}
    gw = await Gateway(Settings.from_env(env)).ready()
    try:
        job = model.new_job(project="p", body={"model": "m", "messages": []}, priority=5,
                            ttl_hours=1, custom_id="resp_race", source=model.RESPONSES_SOURCE)
        await gw.store.create_job(job)
        await gw.store.put_response({
            "id": "resp_race", "project": "p", "expires_at": 2**40, "job": job["id"],
            "response": {"id": "resp_race", "object": "response", "status": "queued",
                         "output": [], "usage": None, "error": None},
            "input_items": [], "conversation": []})
        get_job, looks = gw.store.get_job, []

        async def finishes_after_the_first_look(project, job_id):
            stored = await get_job(project, job_id)
            if not looks:                       # the worker commits right after this read
                done = dict(stored.doc, result={"choices": [{"message": {
                    "role": "assistant", "content": "done"}, "finish_reason": "stop"}]})
                model.finish(done, model.COMPLETED, model.now())
                await gw.store.replace_job(done, stored.etag)
            looks.append(job_id)
            return stored
        gw.store.get_job = finishes_after_the_first_look
        with pytest.raises(GatewayError) as info:
            await cancel(gw, Caller(project="p", key_id="k"), "resp_race")
        assert (info.value.status, info.value.code, info.value.param) == (
            400, "response_already_finished", "response_id")
        assert job["id"] not in info.value.message and "resp_race" in info.value.message
        stored = await gw.store.get_response("p", "resp_race")
        assert stored["response"]["status"] == "completed"
    finally:
        await gw.close()
