"""Async chat jobs end to end: `python -m bench.jobs SPEC_JSON`, in its own process like
`bench.load`. Prints one JSON object on stdout.

Spec: {"base" (the gateway), "admin_key", "data_dir" (the gateway's), "submit": "api" | "hub",
       "jobs" (how many), "concurrency" (API submitters), "hub_batch" (events per send),
       "seconds" (upper bound for the whole run)}

- api: `concurrency` closed-loop clients POST /v1/chat/completions/async with a project key.
- hub: a direct producer writes OpenAI Batch lines into the local hub (the runner's queue table,
  what `scripts/produce_jobs.py --local` does), `hub_batch` events per send.

Either way the local hub's pump feeds `process_chat_jobs` (host.json's batch size, the default
LLMPROXY_JOB_CONCURRENCY) against the simulator. Each run uses a project of its own, so the
figures count only its jobs. Completion is noticed by reading the store's job counts (cheap,
and not the gateway's CPU: polling the API would load the process being measured); the figures
come from the job documents as the API returns them, every one of which is checked.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from .load import percentile

ROUTE = "/v1/chat/completions/async"
MODEL = "gpt-4o-mini"


def _body(index: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"Job {index} please"}]}


async def _new_project(http: aiohttp.ClientSession, spec: dict) -> tuple[str, str]:
    project = f"bench-jobs-{spec['submit']}-{secrets.token_hex(3)}"
    async with http.post(f"{spec['base']}/v1/organization/projects/{project}/api_keys", json={"name": "jobs"},
                         headers={"Authorization": f"Bearer {spec['admin_key']}"}) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating a key failed: {resp.status} {await resp.text()}")
        return project, (await resp.json())["value"]


async def submit_api(http: aiohttp.ClientSession, spec: dict, key: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    errors: list[str] = []
    took: list[float] = []
    indexes = iter(range(spec["jobs"]))

    async def client() -> None:
        for index in indexes:
            began = time.perf_counter()
            try:
                async with http.post(spec["base"] + ROUTE, json=_body(index),
                                     headers=headers) as resp:
                    if resp.status != 202:
                        errors.append(f"{resp.status}: {(await resp.text())[:200]}")
                    else:
                        await resp.read()
                        took.append((time.perf_counter() - began) * 1000)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors.append(type(exc).__name__)

    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    return {"submit_errors": len(errors), "submit_error_sample": errors[0] if errors else "",
            "submit_p50_ms": percentile(took, 50), "submit_p99_ms": percentile(took, 99),
            "submit_max_ms": max(took, default=None)}


def submit_hub(spec: dict, project: str) -> dict[str, Any]:
    """The local hub as a direct producer sees it: `LocalHub.send_now`, one transaction per
    batch of events (the runner's own class, so the table and encoding are the real ones)."""
    from runner.local_hub import LocalHub
    hub = LocalHub(Path(spec["data_dir"]) / "llmproxy.sqlite3")
    lines = [json.dumps({"custom_id": f"{project}-{i}", "method": "POST",
                         "url": "/v1/chat/completions", "body": _body(i),
                         "project": project}).encode() for i in range(spec["jobs"])]
    try:
        for start in range(0, len(lines), spec["hub_batch"]):
            hub.send_now(lines[start:start + spec["hub_batch"]])
    finally:
        hub.close()
    return {"submit_errors": 0, "submit_error_sample": ""}


def _finished_count(db: sqlite3.Connection, project: str) -> int:
    row = db.execute("SELECT COUNT(*) FROM jobs WHERE project = ? AND status IN "
                     "('completed', 'failed', 'cancelled')", (project,)).fetchone()
    return int(row[0])


async def wait_finished(spec: dict, project: str, deadline: float) -> bool:
    # Read-only and outside the gateway: WAL readers never block its writer.
    db = sqlite3.connect(f"file:{Path(spec['data_dir']) / 'llmproxy.sqlite3'}?mode=ro",
                         uri=True, timeout=10)
    try:
        while time.monotonic() < deadline:
            try:
                if _finished_count(db, project) >= spec["jobs"]:
                    return True
            except sqlite3.OperationalError:      # the table appears with the first job
                pass
            await asyncio.sleep(0.05)
        return False
    finally:
        db.close()


async def all_jobs(http: aiohttp.ClientSession, spec: dict, key: str) -> list[dict]:
    """Every job of the project through the public list API, 100 a page."""
    jobs, after = [], None
    while True:
        params = {"limit": "100", **({"after": after} if after else {})}
        async with http.get(spec["base"] + ROUTE, params=params,
                            headers={"Authorization": f"Bearer {key}"}) as resp:
            page = await resp.json()
        jobs += page["data"]
        if not page["has_more"]:
            return jobs
        after = page["last_id"]


def _at(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def summarize(jobs: list[dict], spec: dict, started: float, submitted: float) -> dict[str, Any]:
    done = [j for j in jobs if j["status"] == "completed" and j["result"]]
    statuses: dict[str, int] = {}
    for job in jobs:
        statuses[job["status"]] = statuses.get(job["status"], 0) + 1
    latency = [(_at(j["completed_at"]) - _at(j["created_at"])) * 1000 for j in done]
    queued = [(_at(j["started_at"]) - _at(j["created_at"])) * 1000 for j in done]
    working = [(_at(j["completed_at"]) - _at(j["started_at"])) * 1000 for j in done]
    last = max((_at(j["completed_at"]) for j in done), default=None)
    first_start = min((_at(j["started_at"]) for j in done), default=None)
    span = (last - started) if last else None
    failed = spec["jobs"] - len(done)
    sample = next((j["error"] for j in jobs if j["status"] != "completed"), None)
    return {
        "submit": spec["submit"], "jobs": spec["jobs"], "completed": len(done), "failed": failed,
        "statuses": statuses, "missing": spec["jobs"] - len(jobs),
        "error_sample": json.dumps(sample)[:300] if sample else "",
        "jobs_per_s": len(done) / span if span else None,
        "submit_per_s": spec["jobs"] / (submitted - started),
        "submit_s": submitted - started, "first_submit_to_last_completion_s": span,
        "latency_p50_ms": percentile(latency, 50), "latency_p99_ms": percentile(latency, 99),
        # How long the hub took to hand over the first job (the pump polls for events that
        # another process wrote; those of its own process wake it at once).
        "first_start_ms": (first_start - started) * 1000 if first_start else None,
        "queue_p50_ms": percentile(queued, 50), "processing_p50_ms": percentile(working, 50),
        "processing_p99_ms": percentile(working, 99),
    }


async def run(spec: dict) -> dict[str, Any]:
    deadline = time.monotonic() + spec["seconds"]
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=spec.get("concurrency", 1) + 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        project, key = await _new_project(http, spec)
        # Wall clock, not perf_counter: compared with the documents' timestamps (same host).
        started = time.time()
        if spec["submit"] == "api":
            submit = await submit_api(http, spec, key)
        else:
            submit = await asyncio.to_thread(submit_hub, spec, project)
        submitted = time.time()
        finished = await wait_finished(spec, project, deadline)
        result = summarize(await all_jobs(http, spec, key), spec, started, submitted)
    return {**result, **submit, "timed_out": not finished, "project": project}


def main() -> None:
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)


if __name__ == "__main__":
    main()
