"""Helpers for the async-jobs tests: a gateway process of their own (settings tuned for tests,
restartable on the same data folder), a webhook receiver on a real socket, the local hub; and
the fixtures every jobs test module shares (import them by name: `gw`, `admin`, `project`)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import ADMIN_KEY, ROOT, cosmos_env, free_port, gateway_env, start, wait_for

JOB_SETTINGS = dict(
    LLMPROXY_WEBHOOK_ALLOW_HOSTS="127.0.0.1", LLMPROXY_JOB_RETRY_BASE_SECONDS="0.05",
    LLMPROXY_WEBHOOK_RETRY_BASE_SECONDS="0.05", LLMPROXY_WEBHOOK_MAX_ATTEMPTS="3",
    LLMPROXY_JOB_MAX_RETRIES="2", LLMPROXY_JOB_LEASE_SECONDS="30",
    LLMPROXY_JOB_CONCURRENCY="8")
PATIENCE = 180.0          # a guard against hanging, never an assertion about speed


class GatewayProcess:
    def __init__(self, simulator: str, data_dir: Path, log: Path, **settings: str):
        self.env = gateway_env(simulator, data_dir, **{**JOB_SETTINGS, **settings})
        self.data_dir, self.log = data_dir, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        self.proc = start(["-m", "runner", "--port", str(self.port)], self.env, self.log)
        wait_for(self.url + "/health", self.proc, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, nothing flushed, like a crashed host."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def pending_hub_events(self) -> int:
        import sqlite3
        with sqlite3.connect(self.data_dir / "llmproxy.sqlite3", timeout=30) as conn:
            try:
                return conn.execute("SELECT COUNT(*) FROM local_hub_events").fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    def drop_hub_events(self, marker: str) -> int:
        """Lose the local hub's events that mention `marker`, as a failed send would."""
        import sqlite3
        with sqlite3.connect(self.data_dir / "llmproxy.sqlite3", timeout=30) as conn:
            return conn.execute("DELETE FROM local_hub_events WHERE CAST(body AS TEXT) LIKE ?",
                                (f"%{marker}%",)).rowcount

    def invalid_event_jobs(self) -> list[dict]:
        """Failed jobs of events that named no usable project (not visible through the API),
        read from the gateway's store with the gateway's own settings."""
        import asyncio

        from shared.config import Settings
        from shared.store import create_store

        async def read() -> list[dict]:
            store = create_store(Settings.from_env(self.env))
            await store.open()
            try:
                return await store.list_jobs("_invalid_events", None, 100, None)
            finally:
                await store.close()
        return asyncio.run(read())

    def produce(self, lines: list, project: str | None = None, tmp: Path | None = None) -> None:
        """Send events through the producer script, as a direct producer would."""
        path = (tmp or self.data_dir) / f"lines-{time.monotonic_ns()}.jsonl"
        path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n"
                                for l in lines))
        args = [sys.executable, "scripts/produce_jobs.py", str(path), "--local",
                str(self.data_dir)] + (["--project", project] if project else [])
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    def wait_hub_drained(self) -> None:
        eventually(lambda: self.pending_hub_events() == 0, "the local hub to drain")


ISSUED: list[str] = []          # keys and webhook secrets, for the jobs log hygiene check


@pytest.fixture(scope="module")
def gw(simulator, tmp_path_factory, logs_dir, store_kind, request):
    """A jobs gateway of the test module's own, on each store (the local hub is SQLite either
    way), its data folder, log and Cosmos database named after the module."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    extra = {}
    if store_kind == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), f"{name}-tests")
    process = GatewayProcess(simulator, tmp_path_factory.mktemp(f"{name}-data"),
                             logs_dir / f"{name}-gateway-{store_kind}.log", **extra).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(gw):
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                      timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def project(admin, gw):
    """`project(name)`: a new key of that project, as its view of the jobs API."""
    def make(name: str) -> "Jobs":
        resp = admin.post(f"/v1/organization/projects/{name}/api_keys", json={"name": "jobs"})
        assert resp.status_code == 201, resp.text
        ISSUED.append(resp.json()["value"])
        return Jobs(gw.url, resp.json()["value"])
    return make


def eventually(check, what: str, patience: float = PATIENCE):
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class _Prefixed(httpx.Client):
    """Paths relative to the jobs route: "" is the collection, "/{id}" a job."""
    PREFIX = "/v1/chat/completions/async"

    def request(self, method, url, *args, **kwargs):
        return super().request(method, self.PREFIX + str(url), *args, **kwargs)


class Jobs:
    """A project's view of the jobs API."""

    def __init__(self, base: str, key: str):
        self.http = _Prefixed(base_url=base, headers={"Authorization": f"Bearer {key}"},
                              timeout=30)

    def submit(self, content: str = "hi", model: str = "gpt-4o-mini", **fields) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **fields}
        return self.http.post("", json=body)

    def get(self, job_id: str) -> dict:
        resp = self.http.get(f"/{job_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, job_id: str, *statuses: str) -> dict:
        statuses = statuses or ("completed", "failed", "cancelled")
        return eventually(lambda: (j := self.get(job_id))["status"] in statuses and j,
                          f"job {job_id} to reach {statuses}")

    def all(self, **query) -> list[dict]:
        jobs, after = [], None
        while True:
            params = {**query, **({"after": after} if after else {})}
            page = self.http.get("", params=params).json()
            jobs += page["data"]
            if not page["has_more"]:
                return jobs
            after = page["last_id"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 (allow-listed for the tests' gateway)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []      # planned (status, headers), then 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append({"path": self.path, "body": body,
                                          "headers": {k.lower(): v for k, v in
                                                      self.headers.items()}})
                status, headers = receiver.answers.pop(0) if receiver.answers else (204, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def for_job(self, job_id: str) -> list[dict]:
        return [r for r in self.requests if json.loads(r["body"])["data"]["execution_id"] == job_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def line(custom_id: str, content: str, project: str | None = None, model: str = "gpt-4o-mini",
         **extra) -> dict:
    data = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": content}]},
            **extra}
    if project:
        data["project"] = project
    return data


def provider_calls(sim: httpx.Client, marker: str) -> int:
    return sum(marker in json.dumps(r["body"]) for r in sim.get("/_sim/requests").json()["requests"])
