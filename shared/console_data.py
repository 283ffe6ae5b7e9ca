"""What the console shows beyond the usage and costs API: per model, error rate and latency
percentiles; per project, limits with current consumption, async jobs by status and live
realtime sessions. Read from the hourly rollups and a few point reads per project."""
from __future__ import annotations

import time
from typing import Any, Mapping

from . import rollups
from .errors import InvalidRequest
from .jobs.model import STATUSES
from .limits import ProjectLimits, consumption

_MAX_RANGE = 93 * 86400         # a quarter of hourly rollups, at most


def _range(query: Mapping[str, str]) -> tuple[int, int]:
    now = int(time.time())
    try:
        end = int(query.get("end_time") or now + 3600)
        start = int(query.get("start_time") or end - 86400)
    except ValueError:
        raise InvalidRequest("'start_time' and 'end_time' are Unix seconds.",
                             param="start_time") from None
    if end <= start or end - start > _MAX_RANGE:
        raise InvalidRequest("'end_time' must be after 'start_time', at most 93 days later.",
                             param="end_time")
    return start - start % 3600, end


def _totals(docs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        t = out.setdefault(doc[key], {"requests": 0, "errors": 0, "cost": 0.0,
                                      "input_tokens": 0, "output_tokens": 0,
                                      "hist": [0] * len(doc["latency_hist"])})
        t["requests"] += doc["requests"]
        t["errors"] += doc["errors"]
        t["cost"] += doc["cost"]
        t["input_tokens"] += doc["prompt_tokens"]
        t["output_tokens"] += doc["completion_tokens"]
        t["hist"] = [a + b for a, b in zip(t["hist"], doc["latency_hist"])]
    rows = []
    for name, t in out.items():
        hist = t.pop("hist")
        rows.append({key: name, **t, "cost": round(t["cost"], 10),
                     "error_rate": round(t["errors"] / t["requests"], 4) if t["requests"] else 0,
                     "latency_p50_ms": rollups.percentile(hist, 0.5),
                     "latency_p95_ms": rollups.percentile(hist, 0.95)})
    return sorted(rows, key=lambda r: (-r["cost"], -r["requests"], r[key]))


async def summary(store: Any, query: Mapping[str, str]) -> dict[str, Any]:
    start, end = _range(query)
    docs = await store.query_rollups("1h", start, end)
    return {"object": "organization.usage.summary", "start_time": start, "end_time": end,
            "latency_bounds_ms": list(rollups.LATENCY_BOUNDS_MS),
            "models": _totals(docs, "model"), "projects": _totals(docs, "project")}


async def project(store: Any, project_id: str) -> dict[str, Any]:
    limits = ProjectLimits.model_validate(await store.get_limits(project_id) or {})
    sessions = await store.list_sessions(project_id, 100)
    return {
        "object": "organization.project.status", "project_id": project_id,
        "limits": limits.model_dump(mode="json"),
        "consumption": await consumption(store, project_id, limits),
        "jobs": {status: await store.count_jobs(project_id, status) for status in STATUSES},
        "realtime_sessions": [{"id": s.id, "status": s.status, "created_at": s.created_at,
                               "models": s.models} for s in sessions if s.active],
    }
