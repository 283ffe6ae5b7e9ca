"""Per-project job metrics, from one count per status and two sums (no GROUP BY: the local
Cosmos DB stand-in does not parse it, and per-status queries hit the same partition anyway)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from . import model

_FINISHED = (model.COMPLETED, model.FAILED)
_GUESS_SECONDS = 10.0          # per job, until the project has finished jobs to learn from


async def project_metrics(gw: Any, project: str) -> dict[str, Any]:
    store = gw.store
    counts = {s: await store.count_jobs(project, s) for s in model.STATUSES}
    finished = sum(counts[s] for s in _FINISHED)
    queue = sum([await store.sum_job_field(project, s, "queue_seconds") for s in _FINISHED])
    work = sum([await store.sum_job_field(project, s, "processing_seconds") for s in _FINISHED])
    return {"object": "chat.completion.job.metrics", "project": project, "counts": counts,
            "total": sum(counts.values()), "finished": finished,
            "avg_queue_seconds": round(queue / finished, 3) if finished else None,
            "avg_processing_seconds": round(work / finished, 3) if finished else None}


_AVERAGE_TTL = 30.0            # seconds a project's average time per job is reused
_averages: dict[str, tuple[float, float]] = {}     # project -> (computed at, seconds per job)


async def _seconds_per_job(store: Any, project: str) -> float:
    cached = _averages.get(project)
    if cached is not None and time.monotonic() - cached[0] < _AVERAGE_TTL:
        return cached[1]
    finished = sum([await store.count_jobs(project, s) for s in _FINISHED])
    per_job = _GUESS_SECONDS
    if finished:
        work = sum([await store.sum_job_field(project, s, "processing_seconds")
                    for s in _FINISHED])
        per_job = max(work / finished, 0.001)
    if len(_averages) > 10_000:
        _averages.clear()
    _averages[project] = (time.monotonic(), per_job)
    return per_job


async def estimate_completion(gw: Any, project: str, created: datetime) -> datetime:
    """When a new job should finish: the jobs queued ahead of it, shared across the worker's
    concurrent lanes, times this project's average time per job (a fixed guess before it has
    any history; the average is recomputed at most every 30 s, the queue read every time)."""
    store = gw.store
    per_job = await _seconds_per_job(store, project)
    ahead = await store.count_jobs(project, model.QUEUED)
    rounds = ahead // max(1, gw.settings.job_concurrency) + 1
    return created + timedelta(seconds=rounds * per_job)
