"""The usage API over a month of traffic: `python -m bench.usage_rollups [--rows N]`.

Makes N usage rows (default 1,000,000) spread evenly over 30 days, 8 projects x 4 models x 2 keys
each, and times the answer to a 30-day, 1d-bucket query (`usage_api.costs` and
`usage_api.usage("completions")`, grouped by project and model) on each store:

- SQLite: every row goes through `record_usage` in batches of 500 (the recorder's batch size),
  which writes the rows and their rollups in one transaction; the ingest rate is reported, and
  the same query answered by a GROUP BY over the raw rows, for comparison.
- Cosmos DB test server (tests/cosmos_test_server.js, started here): writing a million rows
  one HTTPS upsert each would take most of an hour on this machine, and the query never reads
  rows, so the rollup documents those rows produce (`rollups.deltas` over all of them) are
  created directly; `--cosmos-rows` rows also go through `record_usage`, to time that path.

Prints one JSON object. Not a test: CI does not run it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from shared import rollups, usage_api
from shared.config import Settings
from shared.store.base import UsageRecord
from shared.store.cosmos import CosmosStore
from shared.store.cosmos_rollups import CONTAINER
from shared.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
DAYS = 30
START = 1_772_323_200            # 2026-03-01T00:00:00Z
COSMOS_KEY = ("C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nIuKNVdVXTD4fTyw1Z+LpQy+9NTZDWyxDmv/"
              "7oYQ==")
QUERY = {"start_time": str(START), "end_time": str(START + DAYS * 86400), "bucket_width": "1d",
         "limit": "31"}
GROUPS = ("project_id", "model")


class Query(dict):
    """A query string with repeated `group_by`, as the Functions host parses one."""
    def getlist(self, name: str) -> list[str]:
        return list(GROUPS) if name == "group_by" else []


def rows(n: int, seed: int = 7) -> list[UsageRecord]:
    rng = random.Random(seed)
    step = DAYS * 86400 / n
    out = []
    for i in range(n):
        at = START + i * step
        project = f"project-{rng.randrange(8)}"
        prompt, completion = rng.randrange(10, 2000), rng.randrange(1, 800)
        out.append(UsageRecord(
            id=f"row{i:09d}", project=project, model=f"model-{rng.randrange(4)}",
            operation="ChatCompletion", prompt_tokens=prompt, completion_tokens=completion,
            cost=round((prompt * 0.15 + completion * 0.6) / 1e6, 10),
            latency_ms=round(rng.uniform(50, 3000), 3), status=200 if rng.random() > 0.01 else 502,
            created_at=datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="microseconds"),
            key_id=f"{project}-key{rng.randrange(2)}", cached_input_tokens=prompt // 4))
    return out


async def timed_queries(store, repeat: int = 5) -> dict:
    """Median seconds of the costs and completions queries, and the costs total."""
    costs_s, usage_s, total = [], [], 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        page = await usage_api.costs(store, Query(QUERY))
        costs_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        await usage_api.usage(store, "completions", Query(QUERY))
        usage_s.append(time.perf_counter() - started)
        total = sum(r["amount"]["value"] for b in page["data"] for r in b["results"])
        buckets = len(page["data"])
    return {"costs_query_s": round(statistics.median(costs_s), 4),
            "completions_query_s": round(statistics.median(usage_s), 4),
            "buckets": buckets, "costs_total": round(total, 6)}


async def bench_sqlite(data: list[UsageRecord], folder: Path) -> dict:
    store = SqliteStore(folder / "bench.sqlite3")
    await store.open()
    started = time.perf_counter()
    for i in range(0, len(data), 500):
        await store.record_usage(data[i:i + 500])
    ingest = time.perf_counter() - started
    result = {"rows": len(data), "ingest_s": round(ingest, 1),
              "ingest_rows_per_s": round(len(data) / ingest),
              **await timed_queries(store)}
    sql = ("SELECT substr(created_at, 1, 10), project, model, sum(cost) FROM usage "
           "WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2, 3")
    started = time.perf_counter()
    await store._run(lambda c: c.execute(sql, ("2026-03-01", "2026-03-31")).fetchall())
    result["raw_group_by_s"] = round(time.perf_counter() - started, 4)
    result["rollup_documents"] = (await store._run(
        lambda c: c.execute("SELECT count(*) FROM usage_rollups").fetchone()))[0]
    await store.close()
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def bench_cosmos(data: list[UsageRecord], through_recorder: int) -> dict:
    port = _free_port()
    server = subprocess.Popen(["node", str(ROOT / "tests" / "cosmos_test_server.js"), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.sleep(2)
        settings = Settings.from_env({
            "LLMPROXY_STORE": "cosmos", "COSMOS_ENDPOINT": f"https://127.0.0.1:{port}",
            "COSMOS_KEY": COSMOS_KEY, "COSMOS_DATABASE": "bench", "COSMOS_VERIFY_TLS": "false",
            "COSMOS_CREATE_IF_MISSING": "true"})
        store = CosmosStore(settings)
        for _ in range(50):
            try:
                await store.open()
                break
            except Exception:
                await asyncio.sleep(0.3)
        docs = [rollups.merge(None, delta) for delta in rollups.deltas(data).values()]
        limit = asyncio.Semaphore(32)

        async def create(doc: dict) -> None:
            async with limit:
                await store.container(CONTAINER[doc["width"]]).create_item(doc)
        started = time.perf_counter()
        await asyncio.gather(*(create(d) for d in docs))
        result = {"rows": len(data), "rollup_documents": len(docs),
                  "rollup_load_s": round(time.perf_counter() - started, 1),
                  **await timed_queries(store)}
        if through_recorder:
            sample = [UsageRecord(**{**r.__dict__, "id": "rec" + r.id,
                                     "project": "recorded-" + r.project})
                      for r in data[:through_recorder]]
            started = time.perf_counter()
            for i in range(0, len(sample), 500):
                await store.record_usage(sample[i:i + 500])
            seconds = time.perf_counter() - started
            result["record_usage_rows"] = len(sample)
            result["record_usage_rows_per_s"] = round(len(sample) / seconds)
        await store.close()
        return result
    finally:
        server.terminate()
        server.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,cosmos")
    parser.add_argument("--cosmos-rows", type=int, default=5000,
                        help="rows also written through record_usage on Cosmos")
    args = parser.parse_args()
    data = rows(args.rows)
    expected = round(sum(r.cost for r in data), 6)
    out: dict = {"rows": args.rows, "days": DAYS, "expected_costs_total": expected}
    with tempfile.TemporaryDirectory() as folder:
        if "sqlite" in args.stores:
            out["sqlite"] = await bench_sqlite(data, Path(folder))
    if "cosmos" in args.stores:
        out["cosmos"] = await bench_cosmos(data, args.cosmos_rows)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
