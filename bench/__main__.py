"""`python -m bench`: this gateway side by side with LiteLLM's proxy and the upstream itself.

One run, one provider simulator: the simulator called directly (the floor), this gateway on the
local runner, and LiteLLM's proxy (installed on first use into bench/.venv-litellm). For each:
cold start, c=1 latency, c=32 and c=128 throughput, a 200-chunk stream, a paced stream, RSS. The
load generator (`bench.load`) runs in its own process per phase. Each phase runs in --rounds
rounds, the targets taking turns, and each target's best round counts. Then the gateway's own
paths, which the others lack: async jobs end to end through the local hub (`bench.jobs`) and
realtime commit-to-first-audio over the providers' own time (`bench.realtime`); --skip-async
leaves them out. Writes results.json, results.md and chart.png to --out (default
bench/results). Not a test: CI does not run it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import report, servers
from .litellm_env import ensure_litellm

STREAM_PROMPT = "Stream a long answer please [sim:words={words}]"


def phases(quick: bool) -> dict[str, dict]:
    """Bounded request counts and windows: a full run takes a few minutes on 2 cores."""
    scale = 0.3 if quick else 1.0
    return {
        "c1": {"mode": "sequential", "warmup": 100, "requests": int(1500 * scale),
               "seconds": 6 * scale},
        "c32": {"mode": "concurrent", "concurrency": 32, "warmup": 1.5, "seconds": 5 * scale},
        "c128": {"mode": "concurrent", "concurrency": 128, "warmup": 2.0, "seconds": 5 * scale},
        "stream": {"mode": "stream", "words": 200, "warmup": 5, "requests": int(100 * scale),
                   "seconds": 6 * scale},
        # The simulator pauses 5 ms between events: each should reach the client on its own.
        "stream_paced": {"mode": "stream", "words": 20, "pace_ms": 5, "warmup": 2,
                         "requests": int(15 * scale), "seconds": 5},
    }


def gateway_phases(quick: bool) -> dict[str, dict]:
    """The gateway's own paths, which direct and LiteLLM do not have: async jobs through the
    local hub (submitted over HTTP, and by a direct producer), realtime voice turns, and the
    Responses API next to chat (native and translated)."""
    jobs = {"mode": "jobs", "jobs": 300 if quick else 1000, "concurrency": 16, "hub_batch": 100,
            "seconds": 60 if quick else 120}
    return {
        "jobs_api": {**jobs, "submit": "api"},
        "jobs_hub": {**jobs, "submit": "hub"},
        "realtime": {"mode": "realtime", "turns": 8 if quick else 20, "warmup": 2,
                     "audio_ms": 1000, "seconds": 30 if quick else 60},
        "responses": {"mode": "responses", "warmup": 30, "requests": 300 if quick else 1200,
                      "stream_requests": 30 if quick else 90, "seconds": 20 if quick else 60},
    }


def run_load(target: servers.Target, spec: dict, simulator_base: str) -> dict:
    body = (target.body(STREAM_PROMPT.format(words=spec["words"]), stream=True)
            if spec["mode"] == "stream" else target.body())
    full = {**spec, "url": target.url, "headers": target.headers, "body": body}
    if spec.get("pace_ms"):
        servers.post(simulator_base + "/_sim/faults", {
            "match": servers.MODEL, "chunk_interval_ms": spec["pace_ms"],
            "count": spec["warmup"] + spec["requests"] + 5}, {})
    try:
        out = subprocess.run([sys.executable, "-m", "bench.load", json.dumps(full)],
                             cwd=servers.ROOT, capture_output=True, text=True, timeout=600)
    finally:
        if spec.get("pace_ms"):
            urllib.request.urlopen(urllib.request.Request(
                simulator_base + "/_sim/faults", method="DELETE"), timeout=10).read()
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed for {target.name}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def run_gateway_phase(target: servers.Target, spec: dict, simulator_base: str) -> dict:
    """`bench.jobs` or `bench.realtime` in a process of its own, against the running gateway."""
    full = {**spec, "base": target.extra["base"], "key": target.extra["key"],
            "admin_key": servers.ADMIN_KEY, "data_dir": target.extra["data_dir"],
            "simulator": simulator_base, "simulator_key": servers.SIM_AZURE_KEY,
            "models": servers.REALTIME_MODELS}
    out = subprocess.run([sys.executable, "-m", f"bench.{spec['mode']}", json.dumps(full)],
                         cwd=servers.ROOT, capture_output=True, text=True,
                         timeout=spec["seconds"] + 120)
    if out.returncode != 0:
        raise RuntimeError(f"bench.{spec['mode']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


# Which round of a phase counts: the one least disturbed by whatever else the machine runs.
BEST_OF = {"sequential": ("p99_ms", min), "concurrent": ("throughput_rps", max),
           "stream": ("ttfc_p50_ms", min), "jobs": ("jobs_per_s", max),
           "realtime": ("added_p50_ms", min), "responses": ("translated_added_p50_ms", min)}


def _pick(rounds: list[dict], mode: str) -> dict:
    key, pick = BEST_OF[mode]
    done = [r for r in rounds if r.get(key) is not None]
    return pick(done, key=lambda r: r[key]) if done else {}


def measure(targets: list[servers.Target], plan: dict[str, dict], rounds: int,
            simulator_base: str) -> dict[str, dict]:
    """Each phase, round by round, target after target: the targets meet the machine's other
    load close together in time, and each keeps its best round (all rounds go in the JSON)."""
    figures = {t.name: {"cold_start_s": t.cold_start_s, "idle_rss_mb": t.idle_rss_mb,
                        "rounds": {}} for t in targets}
    samplers = [servers.RssSampler(t) for t in targets]
    for sampler in samplers:
        sampler.__enter__()
    try:
        for phase, spec in plan.items():
            for round_ in range(rounds):
                for target in targets:
                    result = run_load(target, spec, simulator_base)
                    figures[target.name]["rounds"].setdefault(phase, []).append(result)
                    errors = result.get("errors")
                    print(f"  {target.name:8} {phase:12} {round_ + 1}/{rounds} {_brief(result)}"
                          f"{f'  ERRORS {errors}: ' + result['error_sample'] if errors else ''}",
                          flush=True)
            for target in targets:
                figures[target.name][phase] = _pick(figures[target.name]["rounds"][phase],
                                                    spec["mode"])
    finally:
        for sampler in samplers:
            sampler.__exit__()
    for target, sampler in zip(targets, samplers):
        figures[target.name]["peak_rss_mb"] = sampler.peak_mb
    return figures


def measure_gateway(target: servers.Target, figures: dict, plan: dict[str, dict], rounds: int,
                    simulator_base: str) -> None:
    """The gateway-only phases, after the chat phases (and outside their RSS sampling). A
    phase that breaks is reported and left out of the table; the chat figures still count."""
    for phase, spec in plan.items():
        for round_ in range(rounds):
            try:
                result = run_gateway_phase(target, spec, simulator_base)
                brief = _brief(result)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                result, brief = {"error": str(exc)[-3000:]}, f"FAILED: {str(exc)[-3000:]}"
            figures["rounds"].setdefault(phase, []).append(result)
            print(f"  {target.name:8} {phase:12} {round_ + 1}/{rounds} {brief}", flush=True)
        figures[phase] = _pick(figures["rounds"][phase], spec["mode"])


def _brief(f: dict) -> str:
    if "jobs_per_s" in f:
        problems = f"  FAILED {f['failed']}: {f['error_sample']}" if f["failed"] else ""
        return (f"{f['jobs_per_s'] or 0:8.0f} jobs/s  submit {f['submit_per_s']:.0f}/s  "
                f"latency p50 {f['latency_p50_ms'] or 0:.0f} ms  p99 "
                f"{f['latency_p99_ms'] or 0:.0f} ms  ({f['completed']}/{f['jobs']}){problems}")
    if "translated_added_p50_ms" in f:
        return "  ".join(f"{name} +{f[name]['added_p50_ms'] or 0:.2f} ms"
                         for name in ("native", "translated", "stream")) + \
            (f"  ERRORS {f['errors']}" if f["errors"] else "")
    if "added_p50_ms" in f:
        problems = f"  ERRORS {f['errors']}: {f['error_sample']}" if f["errors"] else ""
        return (f"commit to first audio p50 {f['gateway_p50_ms'] or 0:.1f} ms, providers "
                f"{f['provider_p50_ms'] or 0:.1f} ms, added {f['added_p50_ms'] or 0:.1f} ms "
                f"(p99 {f['added_p99_ms'] or 0:.1f})  ({f['turns']} turns){problems}")
    if "throughput_rps" in f:
        return (f"{f['throughput_rps']:8.0f} req/s  p50 {f['p50_ms']:.2f} ms  "
                f"p99 {f['p99_ms']:.2f} ms")
    if "ttfc_p50_ms" in f:
        return (f"first chunk p50 {f['ttfc_p50_ms']:.2f} ms  total p50 {f['total_p50_ms']:.2f} ms"
                f"  events {f['events_p50']} in {f['reads_p50']} reads")
    return f"p50 {f['p50_ms']:.3f} ms  p99 {f['p99_ms']:.3f} ms  (n={f['count']})"


def _started(target: servers.Target) -> None:
    print(f"{target.name}: first 200 after {target.cold_start_s:.2f} s, "
          f"idle RSS {target.idle_rss_mb:.0f} MB", flush=True)


def run(args: argparse.Namespace) -> dict:
    """Start the targets one at a time (each cold start on a quiet machine), then measure them
    together. LiteLLM's proxy idles while the others are measured, and the other way round."""
    plan = phases(args.quick)
    logs = args.out / "logs"
    if "litellm" in args.targets:
        ensure_litellm(args.litellm_venv)
    started: list[servers.Target] = []
    with tempfile.TemporaryDirectory(prefix="llmproxy-bench-") as data_dir:
        try:
            sim = servers.start_simulator(logs)
            started.append(sim)
            _started(sim)
            base = sim.extra["base"]
            if "gateway" in args.targets:
                key = servers.create_gateway_key(base, Path(data_dir), logs)
                started.append(servers.start_gateway(base, Path(data_dir), key, logs))
                _started(started[-1])
            if "litellm" in args.targets:
                started.append(servers.start_litellm(args.litellm_venv, base, logs))
                _started(started[-1])
            measured = [t for t in started if t.name in args.targets]
            figures = measure(measured, plan, args.rounds, base)
            if "gateway" in figures and not args.skip_async:
                gateway = next(t for t in measured if t.name == "gateway")
                measure_gateway(gateway, figures["gateway"], gateway_phases(args.quick),
                                args.rounds, base)
            return figures
        finally:
            for target in reversed(started):
                target.stop()


def environment() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=servers.ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "litellm": "litellm[proxy]==1.106.12"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=servers.BENCH / "results")
    parser.add_argument("--targets", default="direct,gateway,litellm",
                        help="comma-separated subset of direct,gateway,litellm")
    parser.add_argument("--quick", action="store_true", help="shorter phases (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per phase and target; the best one counts (default 3)")
    parser.add_argument("--skip-async", action="store_true",
                        help="skip the gateway's async-jobs and realtime phases")
    parser.add_argument("--litellm-venv", type=Path, default=servers.BENCH / ".venv-litellm")
    args = parser.parse_args()
    args.targets = set(args.targets.split(","))
    args.out.mkdir(parents=True, exist_ok=True)

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"Note: the machine is busy (1-minute load average {load:.1f}); figures will be "
              f"noisy. Ratios from one run are comparable, absolutes less so.", flush=True)
    load_before = round(load, 2)
    results = run(args)
    report.with_added(results)
    checks = report.target_checks(results)
    env = {**environment(), "load_average_1m_before": load_before}
    (args.out / "results.json").write_text(json.dumps(
        {"environment": env, "phases": phases(args.quick),
         "gateway_phases": {} if args.skip_async else gateway_phases(args.quick),
         "rounds": args.rounds,
         "targets": results,
         "checks": checks,
         "paired_c32_ratios": report.paired_rounds(results)}, indent=2))
    table = report.markdown_table(results)
    md = (f"Run {env['when']}, commit {env['commit']}, Python {env['python']}, "
          f"{env['cpus']} CPUs, load average {env['load_average_1m_before']} before and "
          f"{env['load_average_1m']} after.\n\n{table}\n{report.checks_markdown(checks)}\n"
          f"{report.paired_markdown(results)}"
          f"{report.gateway_markdown(results.get('gateway', {}))}")
    (args.out / "results.md").write_text(md)
    report.chart(results, args.out / "chart.png")
    print("\n" + md)
    print(f"Wrote {args.out / 'results.json'}, results.md and chart.png.")


if __name__ == "__main__":
    main()
