"""Store work per request, measured: `python -m bench.store_ops [--store cosmos|sqlite] [-n 20]`.

Starts the provider simulator, (for cosmos) the local Cosmos test server, and the gateway on the
local runner with `--store-trace`, so every store contract call and every Cosmos DB operation is
recorded (shared/store/counting.py). Then, one scenario at a time, it sends requests the way a
user does and divides what the store did by the number of requests:

  chat-unlimited   chat completion, project without limits
  chat-limited     chat completion, project with RPM, TPM, concurrency and budget limits
  stream-limited   the same, streamed
  chat-approx      chat completion, the same limits with "enforcement": "approximate"
  job              async chat job (POST .../async, processed by the local Event Hub pump),
                   project without limits; reading the result back is not counted
  realtime-turn    one realtime voice turn (1 s of audio appended in 100 ms frames, a
                   session.update as a barrier, commit, response.create) in an open session
  realtime-text    one realtime text turn (conversation.item.create, response.create with
                   text only) in an open session

Requests of a scenario run one after another (no contention: conflicts are the scale model's
business, bench/scale_model.py). Usage rows are written in the background; each scenario waits
until the store has been quiet for a second so they are counted. Prints a JSON object and a
Markdown table (operations, bytes, estimated RU per request; bench/ru.py has the assumptions).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp

from . import ru, servers
from .realtime import Socket, gateway_turn, tone

COSMOS_KEY = ("C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nIuKNVdVXTD4fTyw1Z+LpQy+9NTZDWyxDmv"
              "/7oYQ==")   # the Cosmos emulator's published key; the local test server takes it
LIMITS = {"requests_per_minute": 1_000_000, "tokens_per_minute": 1_000_000_000,
          "concurrent_requests": 1000, "budget": 1_000_000.0, "budget_period": "day"}
PERIODIC = {"list_stale_jobs", "purge_expired_jobs"}     # timers, not any one request


def read_trace(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], offset
    with open(path) as fh:
        fh.seek(offset)
        data = fh.read()
    lines = [json.loads(line) for line in data.splitlines() if line.strip()]
    return [r for r in lines if r["op"] not in PERIODIC], offset + len(data.encode())


async def quiet(path: Path, offset: int, seconds: float = 1.0, limit: float = 30.0) -> None:
    """Wait until the trace has not grown for `seconds` (background writes have landed)."""
    deadline = time.monotonic() + limit
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now == size:
            return
        size = now
        await asyncio.sleep(seconds)


def summarize(records: list[dict[str, Any]], n: int) -> dict[str, Any]:
    store: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0])
    cosmos: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0])
    for r in records:
        if r["layer"] == "store":
            row = store[r["op"]]
            row[0] += 1
            row[1] += r["sent"]
            row[2] += r["received"]
        else:
            refused = r["status"] == "412"
            row = cosmos[(r["container"], r["op"], "refused" if refused else r["status"])]
            row[0] += 1
            row[1] += r["sent"]
            row[2] += r["received"]
            row[3] += ru.op_ru(r["op"], r["sent"], r["received"], refused=refused)
            row[4] += ru.op_ru(r["op"], r["sent"], r["received"], refused=refused,
                               indexed=ru.indexed_share(r["container"]))
    return {
        "store_calls": {op: {"per_request": v[0] / n, "bytes_per_request": (v[1] + v[2]) / n}
                        for op, v in sorted(store.items())},
        "cosmos_ops": {f"{c}.{op}" + ("" if s == "ok" else f" ({s})"):
                       {"per_request": v[0] / n, "bytes_per_request": (v[1] + v[2]) / n,
                        "ru_per_request": v[3] / n, "ru_per_request_as_indexed": v[4] / n}
                       for (c, op, s), v in sorted(cosmos.items())},
        "round_trips": sum(v[0] for v in cosmos.values()) / n if cosmos
        else sum(v[0] for v in store.values()) / n,
        "bytes": sum(v[1] + v[2] for v in (cosmos or store).values()) / n,
        "ru": sum(v[3] for v in cosmos.values()) / n,
        # With each container's indexing policy as CONTAINERS / infra.bicep declare it.
        "ru_as_indexed": sum(v[4] for v in cosmos.values()) / n,
    }


class Bench:
    def __init__(self, base: str, trace: Path, http: aiohttp.ClientSession):
        self.base, self.trace, self.http = base, trace, http
        self.offset = 0
        self.admin = {"Authorization": f"Bearer {servers.ADMIN_KEY}"}

    async def key(self, project: str, limits: dict | None = None) -> str:
        if limits:
            async with self.http.put(f"{self.base}/v1/organization/projects/{project}/limits",
                                     json=limits, headers=self.admin) as resp:
                assert resp.status == 200, await resp.text()
        async with self.http.post(f"{self.base}/v1/organization/projects/{project}/api_keys",
                                  json={"name": "ops"}, headers=self.admin) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["value"]

    async def measure(self, n: int, one: Callable[[int], Awaitable[None]]) -> dict[str, Any]:
        await one(-1)                                  # warm caches (key, catalog, limits)
        await quiet(self.trace, 0)
        _, self.offset = read_trace(self.trace, 0)
        for i in range(n):
            await one(i)
        await quiet(self.trace, self.offset)
        records, self.offset = read_trace(self.trace, self.offset)
        return summarize(records, n)

    def chat(self, key: str, stream: bool) -> Callable[[int], Awaitable[None]]:
        async def one(i: int) -> None:
            body = {"model": servers.MODEL, "messages": [{"role": "user", "content": f"hi {i}"}],
                    "max_tokens": 50, "stream": stream}
            async with self.http.post(self.base + "/v1/chat/completions", json=body,
                                      headers={"Authorization": f"Bearer {key}"}) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
        return one

    def job(self, key: str) -> Callable[[int], Awaitable[None]]:
        async def one(i: int) -> None:
            body = {"model": servers.MODEL, "messages": [{"role": "user", "content": f"job {i}"}]}
            async with self.http.post(self.base + "/v1/chat/completions/async", json=body,
                                      headers={"Authorization": f"Bearer {key}"}) as resp:
                assert resp.status == 202, await resp.text()
            await quiet(self.trace, 0, seconds=0.5)    # processed before the next one
        return one

    async def realtime(self, key: str, n: int, text: bool = False) -> dict[str, Any]:
        body = {"model": servers.REALTIME_MODELS["chat"],
                "speech_model": servers.REALTIME_MODELS["speech"],
                "input_audio_transcription": {"model": servers.REALTIME_MODELS["transcription"]},
                "turn_detection": None, "modalities": ["text", "audio"]}
        async with self.http.post(self.base + "/v1/realtime/sessions", json=body,
                                  headers={"Authorization": f"Bearer {key}"}) as resp:
            assert resp.status == 201, await resp.text()
            session = await resp.json()
        pcm = tone(1000)
        from websockets.asyncio.client import connect
        async with connect(session["websocket_url"], max_size=None) as ws:
            sock = Socket(ws)
            await sock.until("session.created")

            async def one(i: int) -> None:
                if text:
                    await text_turn(sock, f"Tell me something, {i}.")
                else:
                    await gateway_turn(sock, pcm)
            return await self.measure(n, one)


def start_cosmos(logs: Path) -> tuple[subprocess.Popen, str]:
    port = servers.free_port()
    fh = open(logs / "cosmos.log", "w")
    proc = subprocess.Popen(["node", str(servers.ROOT / "tests" / "cosmos_test_server.js"),
                             str(port)], cwd=servers.ROOT, stdout=fh, stderr=subprocess.STDOUT)
    time.sleep(1.5)
    return proc, f"https://127.0.0.1:{port}"


async def text_turn(sock: Socket, words: str) -> None:
    await sock.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}})
    await sock.until("conversation.item.created")
    await sock.send({"type": "response.create", "response": {"modalities": ["text"]}})
    done = await sock.until("response.done")
    if done["response"]["status"] != "completed":
        raise RuntimeError(f"response ended {done['response']['status']}")


SCENARIOS = ("chat-unlimited", "chat-limited", "stream-limited", "chat-approx", "job",
             "realtime-turn", "realtime-text")


async def scenarios(base: str, trace: Path, n: int,
                    only: tuple[str, ...] = SCENARIOS) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        b = Bench(base, trace, http)
        free = await b.key("ops-free")
        limited = await b.key("ops-limited", LIMITS)
        approx = await b.key("ops-approx", {**LIMITS, "enforcement": "approximate"})
        runs = {
            "chat-unlimited": lambda: b.measure(n, b.chat(free, False)),
            "chat-limited": lambda: b.measure(n, b.chat(limited, False)),
            "stream-limited": lambda: b.measure(n, b.chat(limited, True)),
            "chat-approx": lambda: b.measure(n, b.chat(approx, False)),
            "job": lambda: b.measure(max(3, n // 4), b.job(free)),
            "realtime-turn": lambda: b.realtime(free, max(3, n // 4)),
            "realtime-text": lambda: b.realtime(free, max(3, n // 4), text=True),
        }
        return {name: await runs[name]() for name in only}


def markdown(results: dict[str, Any]) -> str:
    lines = ["| scenario | round trips | bytes | est. RU (all indexed) | est. RU (indexing as "
             "deployed) | operations per request |", "|---|---:|---:|---:|---:|---|"]
    for name, r in results.items():
        ops = r["cosmos_ops"] or r["store_calls"]
        detail = ", ".join(f"{op} {v['per_request']:g}" for op, v in ops.items())
        lines.append(f"| {name} | {r['round_trips']:.2f} | {r['bytes']:.0f} | {r['ru']:.1f} | "
                     f"{r['ru_as_indexed']:.1f} | {detail} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["cosmos", "sqlite"], default="cosmos")
    parser.add_argument("-n", type=int, default=20, help="requests per scenario")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=SCENARIOS,
                        help="run these scenarios only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-ops-"))
    sim = servers.start_simulator(work)
    procs: list[subprocess.Popen] = []
    try:
        env = servers.gateway_env(sim.extra["base"], work / "data")
        env["SIMULATOR_AZURE_API_KEY"] = servers.SIM_AZURE_KEY
        if args.store == "cosmos":
            cosmos, endpoint = start_cosmos(work)
            procs.append(cosmos)
            env.update(LLMPROXY_STORE="cosmos", COSMOS_ENDPOINT=endpoint, COSMOS_KEY=COSMOS_KEY,
                       COSMOS_DATABASE="store-ops", COSMOS_CREATE_IF_MISSING="true",
                       COSMOS_VERIFY_TLS="false")
        port = servers.free_port()
        trace = work / "trace.jsonl"
        log = open(work / "gateway.log", "w")
        gw = subprocess.Popen([sys.executable, "-m", "runner", "--port", str(port), "--catalog",
                               str(servers.BENCH / "catalog.json"), "--store-trace", str(trace)],
                              cwd=servers.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(gw)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with servers.urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or gw.poll() is not None:
                    raise RuntimeError((work / "gateway.log").read_text()[-3000:])
                time.sleep(0.2)
        results = asyncio.run(scenarios(base, trace, args.n, tuple(args.only)))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)
        sim.stop()
    print(json.dumps({"store": args.store, "n": args.n, "results": results}, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
