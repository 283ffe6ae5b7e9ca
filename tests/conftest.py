"""Shared fixtures: the provider simulator and the gateway's local runner, each a real process
on a real socket, and clients that call them the way users do (the official openai SDK)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "llmp-admin-test-0123456789abcdef"
PEPPER = "test-pepper-5f0e1d2c3b4a"
MAX_BODY = 1024 * 1024
MAX_AUDIO = 2 * 1024 * 1024         # above MAX_BODY: uploads to transcribe have their own limit
# The Cosmos DB emulator's published, well-known key; the local Cosmos test server accepts it.
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nIuKNVdVXTD4fTyw1Z+LpQy+9NTZDWyxDmv/7oYQ=="
COSMOS_PACKAGE = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public; it works only against the emulator).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")
STORES = ["sqlite", "cosmos"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60,
             verify: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-4000:]}")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=fh,
                            stderr=subprocess.STDOUT)


@contextmanager
def running(module: str, env: dict[str, str], log: Path, health: str) -> Iterator[str]:
    """`python -m module --port P` on a free port, up and answering `health`; stopped on exit."""
    port = free_port()
    proc = start(["-m", module, "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + health, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def running_gateway(env: dict[str, str], log: Path):
    """A local runner process on a free port, up and answering /health; stopped on exit."""
    return running("runner", env, log, "/health")


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def simulator(logs_dir) -> str:
    with running("simulator", dict(os.environ), logs_dir / "simulator.log", "/_sim/health") as url:
        yield url


@pytest.fixture(scope="session")
def cosmos_server(logs_dir) -> str:
    """The Cosmos DB REST server (npm @vercel/cosmosdb-server), HTTPS on a free loopback port."""
    if not COSMOS_PACKAGE.exists():
        pytest.fail("The Cosmos test server is not installed: run `npm ci` (`make test` does).")
    port = free_port()
    log = logs_dir / "cosmosdb-server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(["node", str(ROOT / "tests" / "cosmos_test_server.js"), str(port)],
                                cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for(url + "/", proc, log, verify=False)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def azurite(logs_dir, tmp_path_factory) -> str:
    """Azurite's Blob service (npm `azurite`) on a free loopback port: a connection string."""
    if not AZURITE_BLOB.exists():
        pytest.fail("Azurite is not installed: run `npm ci` (`make test` does).")
    port = free_port()
    log = logs_dir / "azurite.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(["npx", "azurite-blob", "--blobHost", "127.0.0.1", "--blobPort",
                                 str(port), "--location", str(tmp_path_factory.mktemp("azurite")),
                                 "--skipApiVersionCheck", "--silent"],
                                cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    try:
        wait_for(url + "?comp=list", proc, log)
        yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
               f"AccountKey={AZURITE_KEY};BlobEndpoint={url};")
    finally:
        # npx runs Azurite as its child, which does not stop on SIGTERM: kill the whole group,
        # or node outlives the suite. Its data is a temporary folder.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def blob_env(connection_string: str) -> dict[str, str]:
    """Settings that put the gateway's files on Azurite."""
    return {"LLMPROXY_BLOB_CONNECTION_STRING": connection_string,
            "LLMPROXY_BLOB_CREATE_CONTAINERS": "true"}


def cosmos_env(endpoint: str, database: str) -> dict[str, str]:
    """Settings that point the gateway at the local Cosmos test server, one database per use."""
    return {"LLMPROXY_STORE": "cosmos", "COSMOS_ENDPOINT": endpoint, "COSMOS_KEY": COSMOS_KEY,
            "COSMOS_DATABASE": database, "COSMOS_CREATE_IF_MISSING": "true",
            "COSMOS_VERIFY_TLS": "false"}


def gateway_env(simulator: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "COSMOS_"))}
    env.update(LLMPROXY_DATA_DIR=str(data_dir), LLMPROXY_SIMULATOR_URL=simulator,
               LLMPROXY_ADMIN_KEY=ADMIN_KEY, LLMPROXY_KEY_PEPPER=PEPPER,
               LLMPROXY_MAX_BODY_BYTES=str(MAX_BODY), LLMPROXY_MAX_AUDIO_BYTES=str(MAX_AUDIO),
               LLMPROXY_REQUEST_TIMEOUT_SECONDS="3",
               LLMPROXY_LOG_LEVEL="DEBUG", **extra)
    return env


@pytest.fixture(scope="session", params=STORES)
def store_kind(request) -> str:
    """The store behind the `gateway` fixture: every API test runs once per backend."""
    return request.param


@pytest.fixture(scope="session")
def gateway_log(logs_dir, store_kind) -> Path:
    return logs_dir / f"gateway-{store_kind}.log"


@pytest.fixture(scope="session")
def gateway(simulator, tmp_path_factory, gateway_log, store_kind, request) -> str:
    extra = {}
    if store_kind == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), "gateway-api-tests")
    env = gateway_env(simulator, tmp_path_factory.mktemp("data"), **extra)
    with running_gateway(env, gateway_log) as url:
        yield url


@pytest.fixture(scope="session")
def admin(gateway) -> httpx.Client:
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                      timeout=30) as client:
        yield client


ISSUED_KEYS: list[str] = []        # every project key the tests made, for the hygiene check
ERROR_RESPONSES: list[httpx.Response] = []   # every error answer any test received, likewise


@pytest.fixture(scope="session", autouse=True)
def capture_error_responses():
    """Keep every HTTP error answer of the run (httpx underlies the openai SDK too), so the
    last test can search them all for secrets."""
    original = httpx.Client.send

    def send(self, request, *args, **kwargs):
        response = original(self, request, *args, **kwargs)
        if response.status_code >= 400:
            ERROR_RESPONSES.append(response)
        return response
    httpx.Client.send = send
    yield
    httpx.Client.send = original


@pytest.fixture(scope="session")
def make_key(admin):
    def make(project: str) -> str:
        resp = admin.post(f"/v1/organization/projects/{project}/api_keys", json={"name": "test"})
        assert resp.status_code == 201, resp.text
        ISSUED_KEYS.append(resp.json()["value"])
        return resp.json()["value"]
    return make


@pytest.fixture(scope="session")
def key(make_key) -> str:
    return make_key("alpha")


@pytest.fixture(scope="session")
def client(gateway, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0, timeout=60)


@pytest.fixture
def sim(simulator):
    """Control the simulator: queue faults, read what it received; cleaned after each test."""
    with httpx.Client(base_url=simulator, timeout=10) as c:
        c.delete("/_sim/faults")
        c.delete("/_sim/requests")
        yield c
        c.delete("/_sim/faults")
