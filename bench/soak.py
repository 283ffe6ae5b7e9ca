"""A bounded soak: mixed traffic from several projects against the local runner while the
provider simulator injects faults at random and the runner is restarted twice; then the books
are checked. Not part of the test suite (it runs for minutes); documented in docs/reliability.md.

    python -m bench.soak [--minutes 3] [--workers 8] [--seed 1]

Traffic: chat (Azure and Vertex), streamed chat, embeddings and async jobs with a webhook, from
four projects, one of them under a small budget. Faults (through the simulator's `/_sim/faults`):
429, 500, a hang (the gateway's 5 s timeout ends it) and a stream cut after its first event.
Restarts: SIGTERM (graceful, as the Functions host stops an instance) at 1/3 and 2/3 of the run
while the traffic goes on, then a new runner on the same port and data folder (requests sent
meanwhile get no answer).

Checks, printed with their figures; the exit status is 1 when one fails:
- every request that got an HTTP answer has exactly one usage row (matched by x-request-id), and
  one that got none (the runner was down) at most one;
- every job ended exactly once: a terminal status, exactly one webhook for it, no webhook for
  another terminal state, and no more provider calls than its attempts allow (one routed call
  per attempt, which may retry its deployment `retries` times on a 429/5xx);
- the budgeted project's spend passed its budget by no more than its in-flight requests can
  cost (its concurrency times the dearest request);
- the last runner's RSS at the end is within 10% of the first runner's after warm-up.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

from .servers import ADMIN_KEY, PEPPER, SIM_AZURE_KEY, free_port

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ("soak-a", "soak-b", "soak-c", "soak-budget")
BUDGET = 0.0005                     # dollars per day for soak-budget: crossed within the run
CHAT_MODELS = ("gpt-4o-mini", "gemini-2.5-flash")
FAULT_MODELS = CHAT_MODELS + ("text-embedding-3-small",)
TERMINAL = ("completed", "failed", "cancelled", "expired")
ROUTER_RETRIES = 2                  # the catalog's default policy `retries`


@dataclass
class Sent:
    request_id: str
    project: str
    kind: str
    status: int | None = None        # None: no HTTP answer (connection refused or reset)
    job_id: str | None = None


@dataclass
class Books:
    sent: list[Sent] = field(default_factory=list)
    provider_calls: dict[tuple, dict] = field(default_factory=dict)   # seen on the simulator
    in_flight: Counter = field(default_factory=Counter)
    peak_in_flight: Counter = field(default_factory=Counter)


class Receiver:
    """Webhook endpoint: every delivery, by job id and event type."""

    def __init__(self):
        self.deliveries: list[tuple[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                receiver.deliveries.append((body["data"]["execution_id"], body["type"]))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Runner:
    """The gateway on the local runner: started, stopped gracefully, started again."""

    def __init__(self, simulator: str, data: Path, logs: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs, self.proc, self.starts = logs, None, 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPROXY_")}
        self.env.update(LLMPROXY_DATA_DIR=str(data), LLMPROXY_SIMULATOR_URL=simulator,
                        LLMPROXY_ADMIN_KEY=ADMIN_KEY, LLMPROXY_KEY_PEPPER=PEPPER,
                        LLMPROXY_LOG_LEVEL="WARNING", LLMPROXY_REQUEST_TIMEOUT_SECONDS="5",
                        LLMPROXY_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
                        LLMPROXY_JOB_RETRY_BASE_SECONDS="0.2", LLMPROXY_JOB_MAX_RETRIES="2",
                        WebPubSubConnectionString="")

    def start(self) -> None:
        self.starts += 1
        log = open(self.logs / f"gateway-{self.starts}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "runner", "--port", str(self.port),
                                      "--catalog", str(ROOT / "catalog" / "simulator.json")],
                                     cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the runner did not start; see " + str(log.name))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20


def start_simulator(logs: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--port", str(port),
                             "--api-key", SIM_AZURE_KEY], cwd=ROOT,
                            stdout=open(logs / "simulator.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(url + "/_sim/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the simulator did not start")


def set_up(runner: Runner) -> dict[str, str]:
    admin = httpx.Client(base_url=runner.url + "/v1/organization",
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    keys = {}
    for project in PROJECTS:
        keys[project] = admin.post(f"/projects/{project}/api_keys",
                                   json={"name": "soak"}).json()["value"]
        assert admin.post(f"/projects/{project}/webhook_secret").status_code == 201
    assert admin.put("/projects/soak-budget/limits",
                     json={"budget": BUDGET, "budget_period": "day"}).status_code == 200
    return keys


async def one_request(api: httpx.AsyncClient, books: Books, keys: dict[str, str],
                      receiver: Receiver, rng: random.Random) -> Sent:
    project = rng.choice(PROJECTS)
    kind = rng.choices(("chat", "stream", "embeddings", "job"), (4, 3, 2, 1))[0]
    sent = Sent(f"soak-{uuid.uuid4().hex}", project, kind)
    headers = {"Authorization": f"Bearer {keys[project]}", "x-request-id": sent.request_id}
    text = f"soak {sent.request_id} " + "word " * rng.randint(5, 60)
    message = [{"role": "user", "content": text}]
    books.sent.append(sent)
    books.in_flight[project] += 1
    books.peak_in_flight[project] = max(books.peak_in_flight[project], books.in_flight[project])
    try:
        if kind == "embeddings":
            resp = await api.post("/v1/embeddings", headers=headers,
                                  json={"model": "text-embedding-3-small", "input": text})
        elif kind == "job":
            resp = await api.post("/v1/chat/completions/async", headers=headers, json={
                "model": rng.choice(CHAT_MODELS), "messages": message, "max_tokens": 50,
                "webhook_url": receiver.url})
            if resp.status_code == 202:
                sent.job_id = resp.json()["execution_id"]
        elif kind == "stream":
            async with api.stream("POST", "/v1/chat/completions", headers=headers, json={
                    "model": rng.choice(CHAT_MODELS), "messages": message, "stream": True,
                    "max_tokens": 50}) as resp:
                sent.status = resp.status_code          # answered, even if cut later
                async for _ in resp.aiter_bytes():
                    pass
        else:
            resp = await api.post("/v1/chat/completions", headers=headers, json={
                "model": rng.choice(CHAT_MODELS), "messages": message, "max_tokens": 50})
        sent.status = resp.status_code
    except httpx.HTTPError:
        pass              # no answer (the runner was down), or a stream cut after its head
    finally:
        books.in_flight[project] -= 1
    return sent


async def traffic(runner: Runner, keys, receiver, books: Books, seconds: float, workers: int,
                  rng: random.Random) -> None:
    end = time.monotonic() + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=runner.url, timeout=30) as api:
            while time.monotonic() < end:
                sent = await one_request(api, books, keys, receiver, rng)
                if sent.status is None:
                    await asyncio.sleep(0.05)       # the runner is restarting
    await asyncio.gather(*(worker() for _ in range(workers)))


async def faults(simulator: str, seconds: float, rng: random.Random, counts: Counter) -> None:
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=simulator, timeout=10) as sim:
        while time.monotonic() < end:
            fault = rng.choice(({"status": 429, "retry_after": 0.1}, {"status": 500},
                                {"hang": True}, {"cut_after_chunks": 1}))
            model = rng.choice(FAULT_MODELS)
            await sim.post("/_sim/faults", json={"match": model, "count": rng.randint(1, 3),
                                                 **fault})
            counts[str(fault.get("status") or next(iter(fault)))] += 1
            await asyncio.sleep(rng.uniform(0.5, 2.0))


async def watch_provider_calls(simulator: str, books: Books, stop: asyncio.Event) -> None:
    """The simulator keeps its last 1000 requests: read them often enough to see every one."""
    async with httpx.AsyncClient(base_url=simulator, timeout=10) as sim:
        while True:
            for r in (await sim.get("/_sim/requests")).json()["requests"]:
                books.provider_calls[(r["time"], r["path"], json.dumps(r.get("body"))[:200])] = r
            if stop.is_set():
                return
            await asyncio.sleep(0.5)


async def soak(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    sim_proc, simulator = start_simulator(work)
    runner = Runner(simulator, work, work)
    receiver, books, fault_counts = Receiver(), Books(), Counter()
    rss: dict[str, float] = {}
    try:
        runner.start()
        keys = set_up(runner)
        # Warm-up: every model and kind (LiteLLM's import and first Vertex token are part of
        # the process's steady size), then a pause for the background import to settle.
        async with httpx.AsyncClient(base_url=runner.url, timeout=60) as api:
            for seed in range(12):
                await one_request(api, Books(), keys, receiver, random.Random(seed))
        await asyncio.sleep(5)
        rss["first runner after warm-up"] = runner.rss_mb()
        seconds = args.minutes * 60
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(watch_provider_calls(simulator, books, stop_watch))
        injector = asyncio.create_task(faults(simulator, seconds, rng, fault_counts))
        restarts = asyncio.create_task(restart_twice(runner, seconds, rss))
        await traffic(runner, keys, receiver, books, seconds, args.workers, rng)
        await injector
        await restarts
        httpx.delete(simulator + "/_sim/faults")
        await settle_jobs(runner, keys, books)
        rss["last runner at the end"] = runner.rss_mb()
        stop_watch.set()
        await watcher
        return report(runner, books, receiver, fault_counts, rss, args)
    finally:
        runner.stop()
        sim_proc.terminate()
        receiver.server.shutdown()


async def restart_twice(runner: Runner, seconds: float, rss: dict[str, float]) -> None:
    """At 1/3 and 2/3 of the run, while traffic goes on: SIGTERM (uvicorn finishes the
    requests in flight) and a new runner on the same port and data folder."""
    for number in (1, 2):
        await asyncio.sleep(seconds / 3)
        rss[f"runner {number} before its restart"] = runner.rss_mb()
        await asyncio.to_thread(runner.stop)
        await asyncio.to_thread(runner.start)


async def settle_jobs(runner: Runner, keys, books: Books, patience: float = 180) -> None:
    jobs = [s for s in books.sent if s.job_id]
    deadline = time.monotonic() + patience
    async with httpx.AsyncClient(base_url=runner.url, timeout=30) as api:
        while time.monotonic() < deadline:
            pending = 0
            for project in PROJECTS:
                for status in ("queued", "processing"):
                    page = (await api.get("/v1/chat/completions/async", params={
                        "status": status, "limit": 100},
                        headers={"Authorization": f"Bearer {keys[project]}"})).json()
                    pending += len(page["data"])
            if pending == 0 and jobs:
                await asyncio.sleep(2)          # the last webhooks leave after the commit
                return
            await asyncio.sleep(1)


def report(runner: Runner, books: Books, receiver: Receiver, fault_counts: Counter,
           rss: dict[str, float], args: argparse.Namespace) -> int:
    admin = httpx.Client(base_url=runner.url + "/v1/organization",
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    rows = []
    for project in PROJECTS:
        rows += admin.get(f"/projects/{project}/usage", params={"limit": 10000}).json()["data"]
    per_request = Counter(r["request_id"] for r in rows)
    # A job submission calls no provider (its job's attempts are metered): checked below.
    metered = [s for s in books.sent if s.kind != "job"]
    answered = [s for s in metered if s.status is not None]
    unanswered = [s for s in metered if s.status is None]
    failures = []
    bad_answered = [s for s in answered if per_request[s.request_id] != 1]
    bad_unanswered = [s for s in unanswered if per_request[s.request_id] > 1]
    statuses = Counter(s.status for s in books.sent)
    print(f"soak: {args.minutes} min, {args.workers} workers, seed {args.seed}; "
          f"{len(books.sent)} requests ({Counter(s.kind for s in books.sent)}), "
          f"statuses {dict(sorted(statuses.items(), key=str))}")
    print(f"faults injected: {dict(fault_counts)}; runner restarts: {runner.starts - 1}")
    print(f"usage rows: {len(rows)}; answered requests with exactly one row: "
          f"{len(answered) - len(bad_answered)}/{len(answered)}; unanswered with at most one: "
          f"{len(unanswered) - len(bad_unanswered)}/{len(unanswered)}")
    if bad_answered or bad_unanswered:
        failures.append(f"usage rows: {[(s.request_id, s.status, per_request[s.request_id]) for s in (bad_answered + bad_unanswered)[:5]]}")

    # Jobs: one end each, one webhook for it, provider calls within the attempts.
    submitted = [s for s in books.sent if s.job_id]
    webhooks = Counter(receiver.deliveries)
    calls = Counter()
    for call in books.provider_calls.values():
        text = json.dumps(call.get("body"))
        for s in submitted:
            if s.request_id in text:
                calls[s.job_id] += 1
                break
    job_problems, retried_inside = [], 0
    keys_by_project = {}
    for project in PROJECTS:
        keys_by_project[project] = admin.post(f"/projects/{project}/api_keys",
                                              json={"name": "soak-check"}).json()["value"]
    for s in submitted:
        job = httpx.get(f"{runner.url}/v1/chat/completions/async/{s.job_id}", timeout=30,
                        headers={"Authorization": f"Bearer {keys_by_project[s.project]}"}).json()
        ends = {t: n for (j, t), n in webhooks.items() if j == s.job_id}
        if job.get("status") not in TERMINAL:
            job_problems.append((s.job_id, "not ended", job.get("status")))
        elif ends != {f"chat.completion.job.{job['status']}": 1}:
            job_problems.append((s.job_id, "webhooks", ends))
        else:
            attempts = job["progress"]["attempts"]
            retried_inside += calls[s.job_id] > attempts
            # One job attempt is one routed call, which may itself retry the deployment
            # (policy `retries`, 2 by default): more calls than that is a job run twice.
            if calls[s.job_id] > attempts * (1 + ROUTER_RETRIES):
                job_problems.append((s.job_id, "provider calls", calls[s.job_id], attempts))
    print(f"jobs: {len(submitted)} submitted, {len(submitted) - len(job_problems)} ended once "
          f"with exactly one webhook and provider calls within their attempts "
          f"({sum(calls.values())} calls; {retried_inside} jobs had a routed retry inside an "
          "attempt)")
    if job_problems:
        failures.append(f"jobs: {job_problems[:5]}")

    spent = sum(r["cost"] for r in rows if r["project"] == "soak-budget")
    dearest = max((r["cost"] for r in rows if r["project"] == "soak-budget"), default=0.0)
    allowance = BUDGET + books.peak_in_flight["soak-budget"] * dearest
    refused = sum(1 for s in books.sent if s.project == "soak-budget" and s.status == 403)
    print(f"budget: {BUDGET:.6f} $, spent {spent:.6f} $ (allowed up to {allowance:.6f} $: "
          f"{books.peak_in_flight['soak-budget']} in flight x {dearest:.6f} $), "
          f"{refused} requests refused over budget")
    if spent > allowance + 1e-12:
        failures.append(f"budget overshoot: {spent} > {allowance}")

    start, end = rss["first runner after warm-up"], rss["last runner at the end"]
    print("RSS (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
          + f"; end/start {end / start:.2f}")
    if end > start * 1.10:
        failures.append(f"RSS grew from {start:.0f} to {end:.0f} MB")
    for failure in failures:
        print("FAILED:", failure)
    print("soak passed" if not failures else f"soak FAILED ({len(failures)} checks)")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    return asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
