"""Per-project job metrics, from one count per status and two sums (no GROUP BY: the local
Cosmos DB stand-in does not parse it, and per-status queries hit the same partition anyway)."""
from __future__ import annotations

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


async def estimate_completion(gw: Any, project: str, created: datetime) -> datetime:
    """When a new job should finish: the jobs queued ahead of it, shared across the worker's
    concurrent lanes, times this project's average time per job (a fixed guess before it has
    any history)."""
    store = gw.store
    finished = sum([await store.count_jobs(project, s) for s in _FINISHED])
    per_job = _GUESS_SECONDS
    if finished:
        work = sum([await store.sum_job_field(project, s, "processing_seconds")
                    for s in _FINISHED])
        per_job = max(work / finished, 0.001)
    ahead = await store.count_jobs(project, model.QUEUED)
    rounds = ahead // max(1, gw.settings.job_concurrency) + 1
    return created + timedelta(seconds=rounds * per_job)
