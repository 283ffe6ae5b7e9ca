"""The runner's memory and open connections under unfinished heads and idle sockets (issue 20
item 12): RSS before and after ten connections each sending a 30 MB header that never ends,
then how many of 100 connections that send nothing are still open after SECONDS.

    python -m bench.protocol_limits_memory [--seconds 35]

Figures are in docs/reliability.md. Not part of the test suite (it waits for timeouts).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from .servers import free_port

ROOT = Path(__file__).resolve().parent.parent
CHUNK = b"v" * 2**20


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def unfinished_head(port: int) -> None:
    """A request whose one header grows by 30 MB and never ends."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        try:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(30):
                conn.sendall(CHUNK)
        except OSError:
            return          # the server refused the head and closed: what a limit looks like
        time.sleep(2)       # hold it open while memory is read


def still_open(conn: socket.socket) -> bool:
    """Open: nothing came back yet. Closed: EOF or the runner's 408."""
    conn.settimeout(0.5)
    try:
        data = conn.recv(100)
    except socket.timeout:
        return True
    except OSError:
        return False
    return bool(data) and not data.startswith(b"HTTP/1.1 408")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=35)
    args = parser.parse_args()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPROXY_")}
    env["LLMPROXY_DATA_DIR"] = tempfile.mkdtemp(prefix="protocol-limits-")
    proc = subprocess.Popen([sys.executable, "-m", "runner", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(20)          # LiteLLM's background import settles first
        before = rss_mb(proc.pid)
        floods = [threading.Thread(target=unfinished_head, args=(port,)) for _ in range(10)]
        for thread in floods:
            thread.start()
        for thread in floods:
            thread.join()
        during = rss_mb(proc.pid)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        time.sleep(args.seconds)
        alive = sum(still_open(conn) for conn in idle)
        print(f"RSS before {before} MB; after ten unfinished 30 MB heads {during} MB; "
              f"after 100 idle connections and {args.seconds:g} s {rss_mb(proc.pid)} MB, "
              f"{alive}/100 still open")
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
