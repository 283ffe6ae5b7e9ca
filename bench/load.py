"""The load generator: `python -m bench.load SPEC_JSON`, run in its own process so the client's
CPU is never the servers' CPU. Prints one JSON object (the phase's summary) on stdout.

Spec: {"url", "headers", "body", "mode": "sequential" | "concurrent" | "stream",
       "concurrency", "warmup" (requests, or seconds for "concurrent"),
       "requests" (upper bound), "seconds" (upper bound),
       "done_marker" (a stream's last event; default "data: [DONE]")}

- sequential: one request at a time; latency of each.
- concurrent: `concurrency` closed-loop clients for a fixed window after a warm-up window;
  throughput = responses completed inside the window / window length.
- stream: one streamed request at a time; time to the first SSE event and to the end, the
  number of events and of separate network reads (chunks relayed as they arrive arrive in
  many reads, a buffered stream in one or two).
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Awaitable, Callable

import aiohttp


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile, no interpolation (p99 of 1,000 samples is the 990th)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def latency_summary(latencies_ms: list[float]) -> dict[str, Any]:
    return {"count": len(latencies_ms), "p50_ms": percentile(latencies_ms, 50),
            "p99_ms": percentile(latencies_ms, 99),
            "mean_ms": sum(latencies_ms) / len(latencies_ms) if latencies_ms else None}


class Errors:
    def __init__(self) -> None:
        self.count = 0
        self.sample = ""

    def add(self, what: str) -> None:
        self.count += 1
        self.sample = self.sample or what[:300]


async def _one(session: aiohttp.ClientSession, spec: dict, errors: Errors) -> float | None:
    started = time.perf_counter()
    try:
        async with session.post(spec["url"], data=spec["payload"], headers=spec["headers"]) as resp:
            data = await resp.read()
            if resp.status != 200:
                errors.add(f"{resp.status}: {data[:200]!r}")
                return None
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        errors.add(type(exc).__name__)
        return None
    return (time.perf_counter() - started) * 1000


async def _one_at_a_time(one: Callable[..., Awaitable[Any]], session: aiohttp.ClientSession,
                         spec: dict) -> tuple[list, Errors]:
    """`one` repeated, one request at a time: `warmup` untimed, then until `requests` (answered
    or failed) or `seconds` is up. The answers of those that succeeded, and the failures."""
    errors = Errors()
    for _ in range(spec["warmup"]):
        await one(session, spec, errors)
    errors = Errors()
    results: list = []
    deadline = time.perf_counter() + spec["seconds"]
    while len(results) + errors.count < spec["requests"] and time.perf_counter() < deadline:
        result = await one(session, spec, errors)
        if result is not None:
            results.append(result)
    return results, errors


async def sequential(session: aiohttp.ClientSession, spec: dict) -> dict[str, Any]:
    latencies, errors = await _one_at_a_time(_one, session, spec)
    return {**latency_summary(latencies), "errors": errors.count, "error_sample": errors.sample}


async def concurrent(session: aiohttp.ClientSession, spec: dict) -> dict[str, Any]:
    """Closed loop: each client sends its next request when the last one is answered. A response
    counts when it completes inside the window, so slow servers are not undercounted."""
    errors = Errors()
    latencies: list[float] = []
    window_start = time.perf_counter() + spec["warmup"]
    window_end = window_start + spec["seconds"]
    errors_in_window = 0

    async def client() -> None:
        nonlocal errors_in_window
        while time.perf_counter() < window_end:
            failed_before = errors.count
            took = await _one(session, spec, errors)
            if window_start <= time.perf_counter() <= window_end:
                if took is not None:
                    latencies.append(took)
                errors_in_window += errors.count - failed_before

    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    return {**latency_summary(latencies), "concurrency": spec["concurrency"],
            "window_s": spec["seconds"], "throughput_rps": len(latencies) / spec["seconds"],
            "errors": errors_in_window, "error_sample": errors.sample}


async def _one_stream(session: aiohttp.ClientSession, spec: dict, errors: Errors) -> dict | None:
    started = time.perf_counter()
    first = None
    events = reads = 0
    done = False
    try:
        async with session.post(spec["url"], data=spec["payload"], headers=spec["headers"]) as resp:
            if resp.status != 200:
                errors.add(f"{resp.status}: {(await resp.read())[:200]!r}")
                return None
            async for data in resp.content.iter_any():
                if first is None:
                    first = time.perf_counter()
                reads += 1
                events += data.count(b"data:")
                done = done or spec["done_marker"] in data
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        errors.add(type(exc).__name__)
        return None
    if not done or first is None:
        errors.add(f"stream ended without {spec['done_marker'].decode()}")
        return None
    end = time.perf_counter()
    return {"ttfc_ms": (first - started) * 1000, "total_ms": (end - started) * 1000,
            "events": events, "reads": reads}


async def stream(session: aiohttp.ClientSession, spec: dict) -> dict[str, Any]:
    runs, errors = await _one_at_a_time(_one_stream, session, spec)
    ttfc = [r["ttfc_ms"] for r in runs]
    total = [r["total_ms"] for r in runs]
    return {"count": len(runs), "ttfc_p50_ms": percentile(ttfc, 50),
            "ttfc_p99_ms": percentile(ttfc, 99), "total_p50_ms": percentile(total, 50),
            "total_p99_ms": percentile(total, 99),
            "events_p50": percentile([r["events"] for r in runs], 50),
            "reads_p50": percentile([r["reads"] for r in runs], 50),
            "errors": errors.count, "error_sample": errors.sample}


MODES = {"sequential": sequential, "concurrent": concurrent, "stream": stream}


def prepare(spec: dict) -> dict[str, Any]:
    """A phase's spec as the request loops take it: the body encoded once, the stream's end
    marker as bytes, JSON's content type added to the headers."""
    return {**spec, "payload": json.dumps(spec["body"]).encode(),
            # How a stream's last event shows: OpenAI's [DONE], Anthropic's message_stop.
            "done_marker": spec.get("done_marker", "data: [DONE]").encode(),
            "headers": {"Content-Type": "application/json", **spec["headers"]}}


async def run(spec: dict) -> dict[str, Any]:
    spec = prepare(spec)
    connector = aiohttp.TCPConnector(limit=max(1, spec.get("concurrency", 1)), force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await MODES[spec["mode"]](session, spec)


def main(phase: Callable[[dict], Awaitable[dict[str, Any]]] = run) -> None:
    """Run `phase` on the spec given as the first argument; print its result as JSON."""
    spec = json.loads(sys.argv[1])
    try:
        import uvloop                    # a faster client loop leaves more CPU to the servers
        result = uvloop.run(phase(spec))
    except ImportError:
        result = asyncio.run(phase(spec))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
