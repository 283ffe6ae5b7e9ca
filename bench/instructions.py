"""`python -m bench.instructions [--requests N] [--concurrency C] [--rev REV]`: the gateway's CPU
instructions per chat completion, counted by valgrind's callgrind over real sockets.

Timings on a shared 2-core machine move by ±20% from run to run; instruction counts of the
same code and inputs repeat to within about 1%, so this is how a change to the hot path is
judged before a full `make bench`. The gateway runs on the local runner under callgrind (about
50 times slower, which is fine: only instructions are counted) against the provider simulator;
counting is switched on after a warm-up, for exactly N requests from C concurrent clients, and
every thread of the gateway counts (the usage writer included). User-space instructions only:
the kernel's share (socket reads and writes) is not in the figure.

`--rev REV` measures a git revision instead of the work tree (checked out into a temporary
worktree), to compare before and after in one sitting. Needs `valgrind` (a Debian package).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import servers


def totals(dump: Path) -> int:
    """The instructions a callgrind dump counted (its `totals:` line; `summary:` may be 0)."""
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return 0


async def _send(url: str, headers: dict[str, str], requests: int, concurrency: int) -> int:
    """`requests` chat completions from `concurrency` keep-alive clients; how many failed."""
    import aiohttp
    payload = json.dumps({"model": servers.MODEL, "messages": [
        {"role": "user", "content": "Hello from the benchmark"}]}).encode()
    left, failed = [requests], [0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, data=payload, headers={
                        "Content-Type": "application/json", **headers}) as resp:
                    await resp.read()
                    failed[0] += resp.status != 200
        await asyncio.gather(*(client() for _ in range(concurrency)))
    return failed[0]


def measure(root: Path, requests: int, concurrency: int, work: Path) -> float:
    logs, data = work / "logs", work / "data"
    data.mkdir(parents=True)
    simulator = servers.start_simulator(logs)
    base = simulator.extra["base"]
    dump = work / "callgrind.out"
    servers.ROOT = root                     # the runner of the revision being measured
    try:
        key = servers.create_gateway_key(base, data, logs)
        port = servers.free_port()
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}",
             sys.executable, "-m", "runner", "--port", str(port),
             "--catalog", str(root / "bench" / "catalog.json")],
            cwd=root, env=servers.gateway_env(base, data),
            stdout=open(logs / "gateway.log", "w"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        target = servers.Target("gateway", proc, url, {"Authorization": f"Bearer {key}"},
                                time.perf_counter())
        try:
            servers.wait_first_200(target, logs / "gateway.log", timeout=600)
            asyncio.run(_send(url, target.headers, 300, concurrency))          # warm-up
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True)
            failed = asyncio.run(_send(url, target.headers, requests, concurrency))
            subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True)
            time.sleep(1.0)
        finally:
            proc.terminate()
            proc.wait(60)
        if failed:
            raise RuntimeError(f"{failed} of {requests} requests failed; see {logs}")
        return sum(totals(f) for f in work.glob("callgrind.out*")) / requests
    finally:
        simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rev", help="a git revision to measure instead of the work tree")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    root = servers.ROOT
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.rev:
            tree = work / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), args.rev],
                           cwd=root, check=True)
            root = tree
        try:
            per_request = measure(root, args.requests, args.concurrency, work / "run")
        finally:
            if args.rev:
                subprocess.run(["git", "worktree", "remove", "--force", str(root)],
                               cwd=servers.ROOT, capture_output=True)
    label = args.rev or "work tree"
    print(f"{label}: {per_request:,.0f} instructions per chat completion "
          f"({args.requests} requests, {args.concurrency} concurrent)")


if __name__ == "__main__":
    main()
