"""Capture what OpenAI's Codex CLI sends to the gateway's Responses API, for the replay in
tests/test_responses_codex.py (Codex itself, a ~400 MB native binary, is no test dependency).

Starts the provider simulator and the gateway (`python -m runner`, the simulator's catalog, a
temporary data folder), makes a project key, puts a recording proxy in front of the gateway,
points a temporary CODEX_HOME at it (the config.toml of docs/responses.md#codex-cli) and runs
`codex exec` on each simulator chat model: a plain answer, then a turn where the simulated model
calls Codex's shell tool (steered by the simulator's `[sim:tool=...]` / `[sim:arg.KEY=...]`
directives) and Codex sends the follow-up with the tool's output; on a model named like one
Codex knows (gpt-5.5), its apply_patch and tool_search tools too. Every request is stored with
its exact headers (the key replaced) and body; text shared by every request (Codex's
instructions, its tool list) is stored once, see `expand` in the test.

  mkdir /tmp/codex && cd /tmp/codex && npm init -y && npm install @openai/codex@0.171.0
  .venv/bin/python scripts/capture_codex.py --codex /tmp/codex/node_modules/.bin/codex
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "codex_cli.json"
PROMPTS = {
    "plain": "say hello [sim:tool=none]",
    "tool": "run the greeting [sim:tool=exec_command] [sim:arg.cmd=echo codex-was-here] "
            "[sim:arg.workdir=.]",
    # Codex's free-form apply_patch (a custom tool) and its client-run tool_search, which it
    # offers only to the model slugs it knows as GPT-5.5 and later
    "patch": "add a file [sim:tool=apply_patch] [sim:arg.input=*** Begin Patch\n"
             "*** Add File: hello.txt\n+hi from codex\n*** End Patch\n]",
    "search": "find the calendar tools [sim:tool=tool_search] [sim:arg.query=calendar]",
}
SANDBOX = {"patch": "workspace-write"}                  # apply_patch writes hello.txt
# The simulator's chat models; "gpt-5.5" is made by this script as a copy of the translated
# gpt-4o-mini under a name Codex knows (so Codex sends what it sends to GPT-5.5).
CONVERSATIONS = [(model, ["plain", "tool"]) for model in
                 ("gpt-4o-mini", "gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4",
                  "llama-3.3-70b")] + [("gpt-5.5", ["plain", "patch", "search"])]
ALIASES = {"gpt-5.5": "gpt-4o-mini"}
KEY_PLACEHOLDER = "<project key>"
SHARED_MIN = 1000            # an item or tool list this long, seen again, is stored once
CONFIG = """model_provider = "llmproxy"
web_search = "disabled"

[model_providers.llmproxy]
name = "LLM Proxy"
base_url = "{base}/v1"
env_key = "LLM_PROXY_API_KEY"
wire_api = "responses"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


class Recorder:
    """A reverse proxy that keeps every request it passes on."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: list[dict] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length")}
        entry = {"method": request.method, "path": request.path_qs,
                 "headers": {k: (f"Bearer {KEY_PLACEHOLDER}" if k.lower() == "authorization"
                                 else v) for k, v in headers.items()},
                 "body": json.loads(raw) if raw else None}
        self.requests.append(entry)
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.request(request.method, self.upstream + request.path_qs,
                                       data=raw, headers=headers) as up:
                entry["status"] = up.status
                resp = web.StreamResponse(status=up.status)
                for k, v in up.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        resp.headers[k] = v
                await resp.prepare(request)
                try:
                    async for chunk in up.content.iter_any():
                        await resp.write(chunk)
                    await resp.write_eof()
                except (ConnectionError, aiohttp.ClientError):
                    pass             # Codex hangs up once it has response.completed
        return resp


def dedupe(conversations: list[dict]) -> dict:
    """Long input items and tool lists that recur are stored once under `shared` and referred
    to as {"$shared": key} (an item keeps its own `id` beside the reference)."""
    shared: dict[str, object] = {}

    def ref(value: object) -> dict:
        text = json.dumps(value, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:12]
        shared.setdefault(key, value)
        return {"$shared": key}

    seen: dict[str, int] = {}
    bodies = [r["body"] for c in conversations for run in c["runs"] for r in run["requests"]]
    for body in bodies:
        for item in body.get("input", []):
            text = json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True)
            seen[text] = seen.get(text, 0) + 1
    for body in bodies:
        if len(json.dumps(body.get("tools", []))) > SHARED_MIN:
            body["tools"] = ref(body["tools"])
        items = []
        for item in body.get("input", []):
            rest = {k: v for k, v in item.items() if k != "id"}
            text = json.dumps(rest, sort_keys=True)
            if len(text) > SHARED_MIN and seen[text] > 1:
                items.append({**ref(rest), **({"id": item["id"]} if "id" in item else {})})
            else:
                items.append(item)
        body["input"] = items
    return shared


async def run_codex(codex: str, home: Path, work: Path, key: str, model: str,
                    run: str) -> dict:
    last = home / "last-message.txt"
    last.unlink(missing_ok=True)
    env = {**os.environ, "CODEX_HOME": str(home), "LLM_PROXY_API_KEY": key}
    proc = await asyncio.create_subprocess_exec(
        codex, "exec", "--skip-git-repo-check", "--ephemeral", "-m", model,
        "-s", SANDBOX.get(run, "read-only"), "-o", str(last), PROMPTS[run], cwd=work, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 180)
    if proc.returncode != 0:
        print(output.decode(errors="replace")[-3000:], file=sys.stderr)
    return {"exit_code": proc.returncode,
            "last_message": last.read_text() if last.exists() else None}


async def capture(codex: str, gateway: str, key: str, tmp: Path) -> tuple[str, list[dict]]:
    recorder = Recorder(gateway)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    home, work = tmp / "codex-home", tmp / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(CONFIG.format(base=f"http://127.0.0.1:{port}"))
    version = subprocess.run([codex, "--version"], capture_output=True, text=True,
                             env={**os.environ, "CODEX_HOME": str(home)}).stdout.strip()
    conversations = []
    try:
        for model, names in CONVERSATIONS:
            runs = []
            for name in names:
                before = len(recorder.requests)
                result = await run_codex(codex, home, work, key, model, name)
                runs.append({"name": name, "prompt": PROMPTS[name], **result,
                             "requests": recorder.requests[before:]})
                print(f"{model} {name}: exit {result['exit_code']}, "
                      f"{len(recorder.requests) - before} request(s), "
                      f"last message {result['last_message']!r:.80}", file=sys.stderr)
            conversations.append({"model": model, "copy_of": ALIASES.get(model), "runs": runs})
    finally:
        await runner.cleanup()
    return version, conversations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codex", required=True, help="the codex executable")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="codex-capture-"))
    admin_key = "llmp-admin-" + secrets.token_hex(16)
    sim_port, gw_port = free_port(), free_port()
    simulator = f"http://127.0.0.1:{sim_port}"
    gateway = f"http://127.0.0.1:{gw_port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "COSMOS_"))}
    env.update(LLMPROXY_DATA_DIR=str(tmp / "data"), LLMPROXY_SIMULATOR_URL=simulator,
               LLMPROXY_ADMIN_KEY=admin_key, LLMPROXY_KEY_PEPPER=secrets.token_hex(16))
    logs = open(tmp / "servers.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", "simulator", "--port", str(sim_port)],
                              cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT)]
    try:
        wait_up(simulator + "/_sim/health")
        procs.append(subprocess.Popen([sys.executable, "-m", "runner", "--port", str(gw_port)],
                                      cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT))
        wait_up(gateway + "/health")
        admin = httpx.Client(base_url=gateway, timeout=30,
                             headers={"Authorization": f"Bearer {admin_key}"})
        made = admin.post("/v1/organization/projects/codex/api_keys",
                          json={"name": "codex capture"})
        made.raise_for_status()
        for alias, original in ALIASES.items():
            doc = admin.get(f"/v1/organization/models/{original}").json()
            admin.put(f"/v1/organization/models/{alias}",
                      json={**doc, "id": alias, "name": alias}).raise_for_status()
        version, conversations = asyncio.run(
            capture(args.codex, gateway, made.json()["value"], tmp))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)
    shared = dedupe(conversations)
    fixture = {
        "about": f"Requests {version} sent to the gateway's POST /v1/responses (through a "
                 "recording proxy), one `codex exec` per run, on the simulator's chat models "
                 "(gpt-4.1 is native pass-through, the others are translated; gpt-5.5 is a "
                 "copy of gpt-4o-mini under a name Codex knows). Made by "
                 "scripts/capture_codex.py; re-capture with a newer Codex by running it again "
                 "(see its docstring). The Authorization header's key is replaced; "
                 "`$shared` references stand for the `shared` entries.",
        "codex_version": version, "config_toml": CONFIG.format(base="http://127.0.0.1:PORT"),
        "conversations": conversations, "shared": shared}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
