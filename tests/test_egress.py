"""The gateway connects to nothing but its configured providers and webhook targets (issue 20
item 3): every provider path runs in a gateway process whose every outbound connection is
recorded twice, by the kernel's view (`strace -e connect`, which also sees native code such as
a Rust tokenizer download) and by Python's audit hooks (`socket.connect`, `getaddrinfo`).
Any destination but the simulator, the webhook receiver and the gateway itself fails."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import wave

import httpx
import pytest

from .conftest import ADMIN_KEY, ROOT, free_port, gateway_env, wait_for
from .jobs_support import JOB_SETTINGS, Receiver, eventually

VERTEX_TYPES = {   # every Vertex model type the catalog knows, with a code of its family
    "GoogleVertexDeepSeek": "deepseek-ai/deepseek-v3.1-maas",
    "GoogleVertexMistral": "mistral-small-2503",
    "GoogleVertexJamba": "jamba-1.5-mini",
    "GoogleVertexQwen": "qwen/qwen3-235b-a22b-instruct-2507-maas",
    "GoogleVertexOpenAI": "openai/gpt-oss-120b-maas",
}
_CONNECT = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), '
                      r'(?:inet_pton\(AF_INET6, |sin6?_addr=inet_addr\()"([^"]+)"')


@pytest.fixture(scope="module")
def guarded(simulator, tmp_path_factory, logs_dir):
    if shutil.which("strace") is None:
        pytest.fail("strace is needed to watch native connections: apt-get install strace")
    data = tmp_path_factory.mktemp("egress")
    trace, audit = data / "connect.strace", data / "audit.jsonl"
    # HF_HUB_OFFLINE=0: whatever the host's environment says, the gateway downloads nothing.
    env = gateway_env(simulator, data, **JOB_SETTINGS, EGRESS_LOG=str(audit),
                      PYTHONPATH=str(ROOT / "tests" / "egress_hook"), HF_HUB_OFFLINE="0")
    port = free_port()
    log = logs_dir / "egress-gateway.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=connect", "-e",
                                 "signal=none", "-o", str(trace), sys.executable, "-m", "runner",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/health", proc, log, timeout=120)
        yield url, trace, audit, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)         # strace and the gateway it runs
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 16000)
    return buf.getvalue()


def exercise_every_provider_path(url: str, simulator: str, receiver: Receiver) -> int:
    """Each model of the simulator catalog through its operations (chat also streamed, and as
    a job with a webhook), plus one model per other Vertex model type. Returns the calls made."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                         timeout=120)
    for model_type, code in VERTEX_TYPES.items():
        doc = {"id": f"egress-{model_type}", "code": code, "provider": "Google",
               "model_type": model_type, "operations": ["ChatCompletion"],
               "parameters": {"vertex_project": "sim-project", "vertex_location": "us-central1",
                              "vertex_credentials": "$SIMULATOR_VERTEX_CREDENTIALS",
                              "api_base": "$LLMPROXY_SIMULATOR_URL"}}
        assert admin.put(f"/v1/organization/models/{doc['id']}", json=doc).status_code == 200
    key = admin.post("/v1/organization/projects/egress/api_keys", json={"name": "e"}).json()["value"]
    assert admin.post("/v1/organization/projects/egress/webhook_secret").status_code == 201
    api = httpx.Client(base_url=url + "/v1", headers={"Authorization": f"Bearer {key}"},
                       timeout=120)
    msg = [{"role": "user", "content": "hello there, how are you today?"}]
    calls = 0
    for model in admin.get("/v1/organization/models").json()["data"]:
        ops, name = model["operations"], model["id"]
        answers = []
        if "ChatCompletion" in ops:
            answers.append(api.post("/chat/completions", json={"model": name, "messages": msg}))
            answers.append(api.post("/chat/completions", json={
                "model": name, "messages": msg, "stream": True,
                "stream_options": {"include_usage": True}}))
            job = api.post("/chat/completions/async", json={
                "model": name, "messages": msg, "webhook_url": receiver.url + "/hook"})
            assert job.status_code == 202, job.text
            eventually(lambda: api.get(f"/chat/completions/async/{job.json()['execution_id']}")
                       .json()["status"] in ("completed", "failed"), f"the job on {name}")
        if "embeddings" in ops:
            answers.append(api.post("/embeddings", json={"model": name, "input": ["a", "b"]}))
        if "images" in ops:
            answers.append(api.post("/images/generations", json={"model": name, "prompt": "x"}))
        if "audio_tts" in ops:
            answers.append(api.post("/audio/speech", json={"model": name, "input": "hi",
                                                           "voice": "alloy"}))
        if "audio_stt" in ops:
            answers.append(api.post("/audio/transcriptions", data={"model": name},
                                    files={"file": ("a.wav", wav_bytes(), "audio/wav")}))
        calls += len(answers)
        for answer in answers:
            assert answer.status_code < 500, (name, answer.text)
    return calls


def test_no_connection_leaves_for_anywhere_but_the_configured_targets(guarded, simulator):
    url, trace, audit, port = guarded
    receiver = Receiver()
    try:
        calls = exercise_every_provider_path(url, simulator, receiver)
    finally:
        receiver.close()
    assert calls > 20
    allowed_ports = {port, int(simulator.rsplit(":", 1)[1]),
                     int(receiver.url.rsplit(":", 1)[1])}
    seen = [(m.group(2), int(m.group(1))) for m in _CONNECT.finditer(trace.read_text())]
    assert seen, "strace recorded no connection at all: the guard is not watching"
    foreign = sorted({(host, p) for host, p in seen
                      if host not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")
                      or p not in allowed_ports})
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(r["event"] == "connect" for r in records), "the audit hook recorded nothing"
    foreign += sorted({(r["host"], r["port"]) for r in records
                       if r["host"] not in ("127.0.0.1", "localhost", "::1")
                       or (r["event"] == "connect" and r["port"] not in allowed_ports)})
    assert foreign == [], f"connections outside the configured targets: {foreign}"
