"""`python -m bench.messages`: Anthropic's Messages API against chat on the same gateway.

One provider simulator, one gateway on the local runner with the simulator catalog. Rows, each
measured by the load generator (`bench.load`) in its own process, in --rounds rounds taking
turns, best round per row:

  chat gpt-4o-mini            Chat Completions pass-through on Azure OpenAI (the reference)
  messages claude (native)    /v1/messages on Claude on Vertex, rawPredict relayed
  messages gpt-4o-mini        /v1/messages translated to chat and back
  chat claude (LiteLLM)       Chat Completions on the same Claude model, through LiteLLM

c=1 latency (p50/p99) and a 200-word stream (time to first event, to the end). Targets (issue
18): native within +0.5 ms p50 of the chat pass-through; translated within +1 ms of its chat
path. Prints a table; not a test.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import servers

PROMPT = "Hello from the benchmark"
STREAM_PROMPT = "Stream a long answer please [sim:words=200]"


def rows(base: str, key: str) -> dict[str, tuple[str, dict, dict]]:
    chat, messages = base + "/v1/chat/completions", base + "/v1/messages"
    bearer = {"Authorization": f"Bearer {key}"}
    anthropic = {"x-api-key": key, "anthropic-version": "2023-06-01"}

    def chat_body(model: str, text: str) -> dict:
        return {"model": model, "messages": [{"role": "user", "content": text}]}

    def messages_body(model: str, text: str) -> dict:
        return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": text}]}
    return {
        "chat gpt-4o-mini": (chat, bearer, {"build": chat_body, "model": "gpt-4o-mini"}),
        "messages claude (native)": (messages, anthropic,
                                     {"build": messages_body, "model": "claude-sonnet-4"}),
        "messages gpt-4o-mini": (messages, anthropic,
                                 {"build": messages_body, "model": "gpt-4o-mini"}),
        "chat claude (LiteLLM)": (chat, bearer, {"build": chat_body, "model": "claude-sonnet-4"}),
    }


def load(url: str, headers: dict, body: dict, spec: dict) -> dict:
    full = {**spec, "url": url, "headers": headers, "body": body}
    out = subprocess.run([sys.executable, "-m", "bench.load", json.dumps(full)], cwd=servers.ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout)


def start(logs: Path) -> tuple[servers.Target, subprocess.Popen, str, str]:
    simulator = servers.start_simulator(logs)
    sim_base = simulator.extra["base"]
    port = servers.free_port()
    proc, _ = servers._spawn([sys.executable, "-m", "runner", "--port", str(port)],
                             servers.gateway_env(sim_base, Path(tempfile.mkdtemp())),
                             logs / "gateway.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + 120
    while True:
        try:
            status, data = servers.post(base + "/v1/organization/projects/bench/api_keys",
                                        {"name": "bench"},
                                        {"Authorization": f"Bearer {servers.ADMIN_KEY}"})
            if status == 201:
                return simulator, proc, base, json.loads(data)["value"]
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() > deadline:
            raise RuntimeError((logs / "gateway.log").read_text()[-3000:])
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-messages-"))
    simulator, gateway, base, key = start(logs)
    try:
        table = rows(base, key)
        for url, headers, row in table.values():        # warm every path (LiteLLM's import)
            for _ in range(3):
                servers.post(url, row["build"](row["model"], PROMPT), headers, timeout=120)
        best: dict[str, dict] = {}
        c1 = {"mode": "sequential", "warmup": 100, "requests": args.requests, "seconds": 8}
        stream = {"mode": "stream", "warmup": 5, "requests": 60, "seconds": 8}
        for _ in range(args.rounds):
            for name, (url, headers, row) in table.items():
                latency = load(url, headers, row["build"](row["model"], PROMPT), c1)
                body = {**row["build"](row["model"], STREAM_PROMPT), "stream": True}
                marker = "message_stop" if url.endswith("/messages") else "data: [DONE]"
                streamed = load(url, headers, body, {**stream, "done_marker": marker})
                kept = best.get(name)
                if kept is None or latency["p50_ms"] < kept["c1"]["p50_ms"]:
                    best[name] = {**(kept or {}), "c1": latency}
                if "stream" not in best[name] or \
                        streamed["ttfc_p50_ms"] < best[name]["stream"]["ttfc_p50_ms"]:
                    best[name]["stream"] = streamed
        print(f"{'row':28} {'c1 p50':>8} {'c1 p99':>8} {'stream 1st':>10} {'stream end':>10}")
        for name, result in best.items():
            c1r, st = result["c1"], result["stream"]
            print(f"{name:28} {c1r['p50_ms']:8.2f} {c1r['p99_ms']:8.2f} "
                  f"{st['ttfc_p50_ms']:10.2f} {st['total_p50_ms']:10.2f}")
        print(json.dumps(best, indent=1), file=open(logs / "results.json", "w"))
        print(f"(details: {logs / 'results.json'})")
    finally:
        gateway.terminate()
        gateway.wait(15)
        simulator.stop()


if __name__ == "__main__":
    main()
