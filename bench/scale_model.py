"""A scale model of admission against Cosmos DB: `python -m bench.scale_model [--markdown]`.

Not a benchmark and not a timed test: a discrete-event simulation of what the store does when
N gateway instances send R requests per second, for one project (every request on the same
counter documents) or spread over many. It models what Cosmos DB does to concurrent writers:

- every operation is one round trip: `latency_ms` there and back (a parameter);
- writes to one document are applied one at a time, each holding it `write_ms` (a parameter);
- a replace carries the ETag its read returned and fails (412) if the document changed since;
  today's counters then pause (jittered, 2 ms x attempt, capped at 25) and read again, up to 80
  attempts (shared/store/cosmos_counters.py before this change);
- a conditional patch (the new counters) is applied atomically where the document is: no ETag,
  no retry while the limits hold;
- each physical partition serves at most `partition_ru` RU/s (10,000 provisioned, 5,000
  serverless); an operation waits for its share (the SDK's 429 retries, seen from outside).

Designs (operations per admitted request, from bench/store_ops.py's measurement):
  today   budget read, RPM read+replace, TPM read+replace, previous-bucket read, concurrency
          read+replace at admission; concurrency, TPM and spend read+replace at release
  after   one conditional patch of the project's counter document at admission, one at release
  approx  (per project, opt-in) each instance syncs its local counts with one patch a second

Outputs per design: admitted requests/s, conflict retries per request, admission latency added
(p50/p99, ms), RU/s, requests that failed after running out of attempts.
"""
from __future__ import annotations

import argparse
import heapq
import math
import json
import random
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import ru

ATTEMPTS = 80
PAUSE_S = 0.002
DOC_BYTES = 300          # a counter document with its system properties


@dataclass
class Params:
    instances: int = 50
    rate: float = 1000.0            # requests per second, all instances together
    projects: int = 1               # the load spread evenly over this many projects
    latency_ms: float = 5.0         # one round trip (same region)
    write_ms: float = 1.0           # how long one write holds a document
    partition_ru: float = 10_000.0  # RU/s one physical partition serves
    partitions: int = 1             # physical partitions of the counters container
    seconds: float = 5.0            # simulated time
    request_s: float = 1.0          # provider time between admission and release
    sync_s: float = 1.0             # approx mode: each instance's sync interval
    seed: int = 1


@dataclass
class Doc:
    version: int = 0
    free_at: float = 0.0            # when the current write lets go of it


@dataclass
class Stats:
    admitted: int = 0
    failed: int = 0
    conflicts: int = 0
    ops: int = 0
    ru: float = 0.0
    latencies: list[float] = field(default_factory=list)


class Sim:
    """An event loop over simulated time; requests are generators yielding operations."""

    def __init__(self, p: Params):
        self.p = p
        self.now = 0.0
        self.queue: list[tuple[float, int, Iterator, Any]] = []
        self.seq = 0
        self.docs: dict[str, Doc] = {}
        self.partition_free = [0.0] * p.partitions
        self.stats = Stats()
        self.rng = random.Random(p.seed)

    def admit(self, began: float) -> None:
        """A request admitted now; only admissions inside the simulated time count as rate."""
        if self.now <= self.p.seconds:
            self.stats.admitted += 1
        self.stats.latencies.append(self.now - began)

    def at(self, when: float, proc: Iterator, value: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, proc, value))

    def run(self) -> None:
        while self.queue:
            self.now, _, proc, value = heapq.heappop(self.queue)
            try:
                op = proc.send(value)
            except StopIteration:
                continue
            when, answer = self.serve(op)
            self.at(when, proc, answer)

    def _partition_time(self, key: str, cost: float) -> float:
        """When the partition holding `key` has RU for `cost`: a queue drained at the cap."""
        part = zlib.crc32(key.encode()) % self.p.partitions
        arrive = self.now + self.p.latency_ms / 2000
        start = max(arrive, self.partition_free[part])
        self.partition_free[part] = start + cost / self.p.partition_ru
        return start

    def serve(self, op: tuple) -> tuple[float, Any]:
        """(when the answer is back, the answer) for one operation sent now."""
        kind, key = op[0], op[1]
        half = self.p.latency_ms / 2000
        if kind == "sleep":
            return self.now + key, None
        doc = self.docs.setdefault(key, Doc())
        self.stats.ops += 1
        if kind == "read":
            cost = ru.op_ru("read_item", 0, DOC_BYTES)
            start = self._partition_time(key, cost)
            self.stats.ru += cost
            return start + half, doc.version        # a read sees the last applied write
        # writes: replace with an ETag, or a conditional patch
        cost = ru.op_ru("replace_item", DOC_BYTES, DOC_BYTES, indexed=op[3])
        start = self._partition_time(key, cost)
        begin = max(start, doc.free_at)
        doc.free_at = begin + self.p.write_ms / 1000
        if kind == "replace" and op[2] != doc.version:
            self.stats.ru += ru.REFUSED_PATCH_RU
            return doc.free_at + half, False
        doc.version += 1
        self.stats.ru += cost
        return doc.free_at + half, True


def rmw(sim: Sim, key: str, indexed: bool) -> Iterator:
    """Today's add_to_counter: read, replace if unchanged, pause and retry on a conflict."""
    for attempt in range(ATTEMPTS):
        version = yield ("read", key)
        ok = yield ("replace", key, version, indexed)
        if ok:
            return True
        sim.stats.conflicts += 1
        yield ("sleep", sim.rng.uniform(0, PAUSE_S * min(attempt + 1, 25)))
    return False


def today(sim: Sim, scope: str, release: bool = True) -> Iterator:
    began = sim.now
    yield ("read", f"{scope}|spend")
    ok = yield from rmw(sim, f"{scope}|rpm", True)
    ok = ok and (yield from rmw(sim, f"{scope}|tpm", True))
    if ok:
        yield ("read", f"{scope}|conc-previous")
        ok = yield from rmw(sim, f"{scope}|conc", True)
    if not ok:
        sim.stats.failed += 1
        return
    sim.admit(began)
    if release:
        yield ("sleep", sim.p.request_s)
        for name in ("conc", "tpm", "spend"):
            yield from rmw(sim, f"{scope}|{name}", True)


def after(sim: Sim, scope: str, release: bool = True) -> Iterator:
    began = sim.now
    yield ("patch", scope, None, False)      # counters: indexing off
    sim.admit(began)
    if release:
        yield ("sleep", sim.p.request_s)
        yield ("patch", scope, None, False)


def approx_syncer(sim: Sim, scope: str, until: float) -> Iterator:
    """One instance's sync of one project: a patch per interval in which it served the project
    (Poisson arrivals: with probability 1 - exp(-rate x interval))."""
    share = sim.p.rate / (sim.p.instances * sim.p.projects)
    busy = 1 - math.exp(-share * sim.p.sync_s)
    yield ("sleep", sim.rng.uniform(0, sim.p.sync_s))
    while sim.now < until:
        if sim.rng.random() < busy:
            yield ("patch", scope, None, False)
        yield ("sleep", sim.p.sync_s)


DESIGNS: dict[str, Callable[..., Iterator]] = {"today": today, "after": after}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def simulate(design: str, p: Params) -> dict[str, Any]:
    sim = Sim(p)
    rng = random.Random(p.seed + 1)
    scopes = [f"p:project-{i}" for i in range(p.projects)]
    if design == "approx":
        for instance in range(p.instances):
            for scope in scopes:
                sim.at(0.0, approx_syncer(sim, scope, p.seconds))
        # Admission itself is local: no store operation on the request path.
        sim.stats.admitted = int(p.rate * p.seconds)
        sim.stats.latencies = [0.0]
        requests = int(p.rate * p.seconds)
    else:
        t, requests = 0.0, 0
        while True:
            t += rng.expovariate(p.rate)
            if t >= p.seconds:
                break
            requests += 1
            sim.at(t, DESIGNS[design](sim, rng.choice(scopes)))
    sim.run()
    s = sim.stats
    offered = requests
    lat = [x * 1000 for x in s.latencies]
    return {"design": design, "admitted_per_s": round(s.admitted / p.seconds, 1),
            "offered_per_s": p.rate, "failed": s.failed,
            "conflicts_per_request": round(s.conflicts / max(1, offered), 2),
            "admission_p50_ms": round(percentile(lat, 50), 1),
            "admission_p99_ms": round(percentile(lat, 99), 1),
            # RU the offered load asks for each second (what provisioning must cover); above
            # `partition_ru` per partition the queue, and so the latency, grows without end.
            "ru_per_request": round(s.ru / max(1, offered), 1),
            "ru_per_s": round(s.ru / max(1, offered) * p.rate),
            "ops_per_request": round(s.ops / max(1, offered), 2)}


SCENARIOS = [
    ("50 instances, 1 project, 100 req/s", dict(instances=50, rate=100, projects=1)),
    ("50 instances, 1 project, 400 req/s", dict(instances=50, rate=400, projects=1)),
    ("50 instances, 1 project, 1,000 req/s", dict(instances=50, rate=1000, projects=1)),
    ("50 instances, 1,000 projects, 1,000 req/s", dict(instances=50, rate=1000, projects=1000)),
    ("50 instances, 1,000 projects, 1,000 req/s, serverless (5,000 RU/s)",
     dict(instances=50, rate=1000, projects=1000, partition_ru=5000)),
]


def run_all(seconds: float, **common: Any) -> list[dict[str, Any]]:
    rows = []
    for name, overrides in SCENARIOS:
        p = Params(seconds=seconds, **{**common, **overrides})
        for design in ("today", "after", "approx"):
            rows.append({"scenario": name, **simulate(design, p)})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| scenario | design | admitted/s | failed | conflict retries/req | admission p50 ms | "
           "p99 ms | RU/request | RU/s demanded |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['scenario']} | {r['design']} | {r['admitted_per_s']:g} | {r['failed']} |"
                   f" {r['conflicts_per_request']:g} | {r['admission_p50_ms']:g} | "
                   f"{r['admission_p99_ms']:g} | {r['ru_per_request']:g} | {r['ru_per_s']:,} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Admission against Cosmos DB, simulated.")
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated time per run")
    parser.add_argument("--latency-ms", type=float, default=Params.latency_ms,
                        help="one round trip")
    parser.add_argument("--write-ms", type=float, default=Params.write_ms,
                        help="how long one write holds a document")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rows = run_all(args.seconds, latency_ms=args.latency_ms, write_ms=args.write_ms)
    print(markdown(rows) if args.markdown else json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
