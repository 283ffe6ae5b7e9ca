"""The three targets as processes: the provider simulator (direct), this gateway on the local
runner, and LiteLLM's proxy in its own virtual environment. Each is started, timed from process
start to its first 200 on a chat completion (cold start), sampled for RSS, and stopped."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SIM_AZURE_KEY = "sim-azure-key"
ADMIN_KEY = "llmp-admin-bench-0123456789abcdef"
PEPPER = "bench-pepper-0123456789"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"
MODEL = "gpt-4o-mini"
# bench/catalog.json's models for realtime turns: all OpenAI wire, so LiteLLM is never imported.
REALTIME_MODELS = {"chat": MODEL, "transcription": "whisper-1", "speech": "tts-1"}
API_VERSION = "2024-10-21"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Target:
    """A running server and how to call its chat completions endpoint."""
    name: str
    proc: subprocess.Popen
    url: str                      # the chat completions URL
    headers: dict[str, str]
    started_at: float             # perf_counter() just before the process was created
    cold_start_s: float | None = None
    idle_rss_mb: float | None = None
    extra: dict = field(default_factory=dict)

    def body(self, content: str = "Hello from the benchmark", stream: bool = False) -> dict:
        body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
        if stream:
            body["stream"] = True
        return body

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (LiteLLM may fork a worker)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen, float]:
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "w")
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return proc, started


def post(url: str, body: dict, headers: dict[str, str], timeout: float = 30) -> tuple[int, bytes]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_first_200(target: Target, log: Path, timeout: float = 180) -> float:
    """Poll every 5 ms until a chat completion answers 200; the seconds since process start."""
    deadline = time.perf_counter() + timeout
    last = ""
    while time.perf_counter() < deadline:
        if target.proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited early:\n{log.read_text()[-3000:]}")
        try:
            status, data = post(target.url, target.body(), target.headers, timeout=30)
            if status == 200:
                return time.perf_counter() - target.started_at
            last = f"{status} {data[:200]!r}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.005)
    raise RuntimeError(f"{target.name} gave no 200 within {timeout} s (last: {last}):\n"
                       f"{log.read_text()[-3000:]}")


def finish_start(target: Target, log: Path) -> Target:
    target.cold_start_s = wait_first_200(target, log)
    time.sleep(1.0)                   # let start-up work (background imports, GC) settle
    target.idle_rss_mb = target.rss_mb()
    return target


# -- direct: the simulator ---------------------------------------------------------------------
def start_simulator(logs: Path) -> Target:
    port = free_port()
    log = logs / "simulator.log"
    proc, started = _spawn([sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port",
                            str(port), "--api-key", SIM_AZURE_KEY], dict(os.environ), log)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/openai/deployments/{MODEL}/chat/completions?api-version={API_VERSION}"
    target = Target("direct", proc, url, {"api-key": SIM_AZURE_KEY}, started,
                    extra={"base": base})
    return finish_start(target, log)


# -- this gateway on the local runner ----------------------------------------------------------
def gateway_env(simulator_base: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_"))}
    env.update(LLMPROXY_DATA_DIR=str(data_dir), LLMPROXY_SIMULATOR_URL=simulator_base,
               LLMPROXY_ADMIN_KEY=ADMIN_KEY, LLMPROXY_KEY_PEPPER=PEPPER,
               LLMPROXY_LOG_LEVEL="WARNING",
               # Empty, not unset: a local.settings.json cannot fill it in (the runner only
               # sets what is missing), so the runner always serves its local Web PubSub and
               # the realtime phase never reaches a real service.
               WebPubSubConnectionString="")
    return env


def _gateway_process(simulator_base: str, data_dir: Path, log: Path):
    port = free_port()
    args = [sys.executable, "-m", "runner", "--port", str(port),
            "--catalog", str(BENCH / "catalog.json")]
    proc, started = _spawn(args, gateway_env(simulator_base, data_dir), log)
    return proc, started, f"http://127.0.0.1:{port}"


def create_gateway_key(simulator_base: str, data_dir: Path, logs: Path) -> str:
    """Start the gateway once to make a project key through the admin API, then stop it, so the
    measured start below begins from a prepared store as a deployed instance would."""
    log = logs / "gateway-setup.log"
    proc, started, base = _gateway_process(simulator_base, data_dir, log)
    setup = Target("gateway-setup", proc, base + "/v1/organization/projects/bench/api_keys",
                   {"Authorization": f"Bearer {ADMIN_KEY}"}, started)
    try:
        deadline = time.perf_counter() + 60
        while True:
            try:
                status, data = post(setup.url, {"name": "bench"}, setup.headers)
                if status == 201:
                    return json.loads(data)["value"]
                raise RuntimeError(f"creating a key failed: {status} {data[:300]!r}")
            except OSError:
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError(f"the gateway did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
    finally:
        setup.stop()


def start_gateway(simulator_base: str, data_dir: Path, key: str, logs: Path) -> Target:
    log = logs / "gateway.log"
    proc, started, base = _gateway_process(simulator_base, data_dir, log)
    target = Target("gateway", proc, base + "/v1/chat/completions",
                    {"Authorization": f"Bearer {key}"}, started,
                    extra={"base": base, "key": key, "data_dir": str(data_dir)})
    return finish_start(target, log)


# -- LiteLLM proxy ------------------------------------------------------------------------------
def litellm_config(simulator_base: str, path: Path) -> Path:
    """The same simulator deployment, as LiteLLM's proxy config (JSON is valid YAML)."""
    config = {
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": f"azure/{MODEL}", "api_base": simulator_base, "api_key": SIM_AZURE_KEY,
            "api_version": API_VERSION}}],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def start_litellm(venv: Path, simulator_base: str, logs: Path) -> Target:
    log = logs / "litellm.log"
    config = litellm_config(simulator_base, logs / "litellm-config.yaml")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    proc, started = _spawn([str(venv / "bin" / "litellm"), "--config", str(config), "--host",
                            "127.0.0.1", "--port", str(port), "--num_workers", "1"], env, log)
    target = Target("litellm", proc, f"http://127.0.0.1:{port}/v1/chat/completions",
                    {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}, started)
    return finish_start(target, log)


class RssSampler:
    """Samples a target's RSS every 50 ms in a thread while load runs; keeps the peak."""

    def __init__(self, target: Target):
        self.target = target
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.target.rss_mb())
            self._stop.wait(0.05)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
