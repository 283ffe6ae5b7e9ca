"""The job document and its life: queued -> processing -> completed | failed, or cancelled.

One document per job, partitioned by `project` (Cosmos DB: pk `/project`, `ttl` in seconds from
`ttl_hours`). Every state change is a conditional write against the version the writer read, so
two workers, or a worker and a cancel, can never both win.
"""
from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED = (
    "queued", "processing", "completed", "failed", "cancelled")
STATUSES = (QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
OBJECT = "chat.completion.job"
RESPONSES_SOURCE = "responses"       # a background response's job (shared/responses_background)
INVALID_EVENTS_PROJECT = "_invalid_events"   # can never be a real project id (leading '_')


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def job_id(project: str, idempotency_key: str | None = None) -> str:
    """Random, or derived from the project and its idempotency key so that a retried submission
    (or a redelivered direct event) lands on the same document: create-if-absent by id."""
    if idempotency_key is None:
        return "job_" + uuid.uuid4().hex
    digest = hashlib.sha256(f"{project}\0{idempotency_key}".encode()).hexdigest()
    return "job_" + digest[:32]


def new_job(*, project: str, body: dict[str, Any], priority: int, ttl_hours: int,
            webhook_url: str | None = None, idempotency_key: str | None = None,
            custom_id: str | None = None, key_id: str = "", source: str = "api",
            created: datetime | None = None, job: str | None = None) -> dict[str, Any]:
    created = created or now()
    return {
        "id": job or job_id(project, idempotency_key), "object": OBJECT, "project": project,
        "key_id": key_id, "source": source, "status": QUEUED, "priority": priority,
        "model": body.get("model"), "request": body, "custom_id": custom_id,
        "idempotency_key": idempotency_key, "ttl_hours": ttl_hours,
        "created_at": iso(created), "expires_at": iso(created + timedelta(hours=ttl_hours)),
        "sent_at": iso(created),        # when its hub event was last sent (see sweeper.py)
        "started_at": None, "completed_at": None, "cancelled_at": None,
        "attempts": 0, "retry_count": 0, "lease_until": None, "claim": None,
        "result": None, "error": None, "usage": None, "cost": None,
        "queue_seconds": None, "processing_seconds": None,
        "webhook": {"url": webhook_url, "state": None, "attempts": []},
    }


def seconds_between(start: str | None, end: datetime) -> float:
    begun = parse_iso(start)
    return round((end - begun).total_seconds(), 3) if begun else 0.0


def finish(doc: dict[str, Any], status: str, moment: datetime) -> None:
    """Move a document to a terminal state (the caller writes it conditionally)."""
    doc["status"] = status
    doc["lease_until"] = None
    doc["claim"] = None
    if status == CANCELLED:
        doc["cancelled_at"] = iso(moment)
    else:
        doc["completed_at"] = iso(moment)
        doc["processing_seconds"] = seconds_between(doc.get("started_at") or iso(moment), moment)
    if doc["webhook"].get("url"):
        doc["webhook"]["state"] = "pending"


def progress(doc: dict[str, Any], max_attempts: int) -> dict[str, Any]:
    return {"stage": doc["status"], "attempts": doc["attempts"], "max_attempts": max_attempts}


def public(doc: dict[str, Any], max_attempts: int) -> dict[str, Any]:
    """What a project sees of its job: no lease, claim or key internals."""
    hook = doc["webhook"]
    return {
        "execution_id": doc["id"], "object": OBJECT, "status": doc["status"],
        "model": doc["model"], "priority": doc["priority"], "custom_id": doc["custom_id"],
        "idempotency_key": doc["idempotency_key"], "source": doc["source"],
        "created_at": doc["created_at"], "started_at": doc["started_at"],
        "completed_at": doc["completed_at"], "cancelled_at": doc["cancelled_at"],
        "expires_at": doc["expires_at"], "progress": progress(doc, max_attempts),
        "retry_count": doc["retry_count"], "result": doc["result"], "error": doc["error"],
        "usage": doc["usage"], "cost": doc["cost"],
        "webhook": None if not hook.get("url") else
        {"url": hook["url"], "state": hook["state"], "attempts": hook["attempts"]},
    }


def seconds_left(doc: dict[str, Any]) -> int:
    """Cosmos DB's `ttl` for a write now: it counts from the item's last write."""
    left = (parse_iso(doc["expires_at"]) - now()).total_seconds()
    return max(1, math.ceil(left))


def result_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A finished job as an OpenAI Batch output line (plus `project` and `ttl` for Cosmos DB):
    what the trigger's `cosmos_db_output` binding writes for downstream readers."""
    response = None
    if doc["status"] == COMPLETED:
        response = {"status_code": 200, "request_id": doc["id"], "body": doc["result"]}
    return {"id": doc["id"], "project": doc["project"], "custom_id": doc["custom_id"],
            "status": doc["status"], "response": response, "error": doc["error"],
            "usage": doc["usage"], "cost": doc["cost"], "completed_at": doc["completed_at"]
            or doc["cancelled_at"], "expires_at": doc["expires_at"], "ttl": seconds_left(doc)}
