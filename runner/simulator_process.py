"""Start the bundled provider simulator as a child process and point the example catalog at it."""
from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from .environment import ROOT

SIM_AZURE_KEY = "sim-azure-key"
_children: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(port: int | None = None) -> str:
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--host", "127.0.0.1",
                             "--port", str(port), "--api-key", SIM_AZURE_KEY],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if not _children:
        atexit.register(stop_simulators)
    _children.append(proc)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening" not in line:
        proc.terminate()
        raise RuntimeError("the provider simulator did not start")
    return f"http://127.0.0.1:{port}"


def stop_simulators() -> None:
    """Stop the simulators this process started. The runner's shutdown calls it: uvicorn
    re-raises SIGTERM/SIGINT after its graceful shutdown, so atexit handlers never run then and
    the child would outlive the runner."""
    while _children:
        proc = _children.pop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_up(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/_sim/health", timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the provider simulator at {url} is not answering") from None
            time.sleep(0.1)


def use_simulator(url: str) -> None:
    """Set the settings the simulator catalog (catalog/simulator.json) reads."""
    wait_until_up(url)
    account = urllib.request.urlopen(url + "/_sim/vertex/service-account.json", timeout=5).read()
    os.environ["LLMPROXY_SIMULATOR_URL"] = url
    os.environ.setdefault("SIMULATOR_AZURE_API_KEY", SIM_AZURE_KEY)
    os.environ["SIMULATOR_VERTEX_CREDENTIALS"] = json.dumps(json.loads(account))
