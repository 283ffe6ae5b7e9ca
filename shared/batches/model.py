"""The batch document and its life, as OpenAI documents it:

    validating -> failed                      (bad input: an error file names the lines)
    validating -> in_progress -> finalizing -> completed
                  in_progress -> cancelling -> cancelled      (POST /v1/batches/{id}/cancel)
                  in_progress -> expired                      (the 24 h window passed)

The document lives in object storage (`batches` container, `<project>/<batch id>`) and changes
only by conditional writes. `stop` says why lines that have not started must not run
("cancel" or "expire"); request counts are kept in the store's atomic counters while lines run
and written into the document when it is finalized.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from ..jobs import model as jobs_model

VALIDATING, FAILED, IN_PROGRESS, FINALIZING, COMPLETED, EXPIRED, CANCELLING, CANCELLED = (
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling",
    "cancelled")
TERMINAL = frozenset({FAILED, COMPLETED, EXPIRED, CANCELLED})
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
# Azure OpenAI's batch quickstart writes the endpoint and each line's `url` without the version
# ("/chat/completions"); the same endpoints, accepted on every surface. The batch keeps the
# spelling its creator used; lines may use either.
AZURE_SPELLINGS = {"/chat/completions": "/v1/chat/completions", "/embeddings": "/v1/embeddings"}
WINDOW = "24h"
WINDOW_SECONDS = 24 * 3600
LINE_PRIORITY = 10                   # the lowest: interactive async jobs go first
COUNTS = ("completed", "failed", "skipped")
SHOWN_ERRORS = 100                   # validation errors listed on the batch (all in the file)


def canonical_endpoint(value: str) -> str:
    return AZURE_SPELLINGS.get(value, value)


def new_id() -> str:
    return f"batch_{time.time_ns() // 1000:014x}{secrets.token_hex(8)}"


def new_batch(*, project: str, key_id: str, endpoint: str, input_file_id: str,
              metadata: dict[str, str] | None,
              output_expires_after: int | None = None) -> dict[str, Any]:
    """`output_expires_after`: seconds the output and error files live after they are written
    (None: until deleted); kept in the document, not shown (OpenAI's Batch has no such field)."""
    created = int(time.time())
    return {
        "id": new_id(), "object": "batch", "project": project, "key_id": key_id,
        "endpoint": endpoint, "input_file_id": input_file_id, "completion_window": WINDOW,
        "status": VALIDATING, "created_at": created, "expires_at": created + WINDOW_SECONDS,
        "in_progress_at": None, "finalizing_at": None, "completed_at": None,
        "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "metadata": metadata, "model": None, "errors": None, "output_file_id": None,
        "error_file_id": None, "total": 0, "stop": None, "final_counts": None, "usage": None,
        "output_expires_after": output_expires_after,
    }


def line_job_id(project: str, batch_id: str, index: int) -> str:
    """Line `index` (0-based, among the file's requests) of a batch: the same id every time,
    so re-expanding after a redelivery finds the job instead of making a second one."""
    return jobs_model.job_id(project, f"batch:{batch_id}:{index}")


def request_id(batch_id: str, index: int) -> str:
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{index}".encode()).hexdigest()[:32]


def output_file_id(batch_id: str, kind: str) -> str:
    """The batch's output or error file: named after the batch, so finalizing twice (a
    redelivery, a restart) finds the file it already wrote."""
    return "file-" + hashlib.sha256(f"{batch_id}:{kind}".encode()).hexdigest()[:40]


def counter_key(doc: dict[str, Any], kind: str) -> str:
    return f"batch:{doc['project']}:{doc['id']}:{kind}"


def counter_expiry(doc: dict[str, Any]) -> float:
    return float(doc["expires_at"] + 30 * 24 * 3600)


def public(doc: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """OpenAI's Batch object; `counts` are the live (or final) completed/failed lines."""
    view = {k: doc[k] for k in (
        "id", "object", "endpoint", "input_file_id", "completion_window", "status",
        "created_at", "expires_at", "in_progress_at", "finalizing_at", "completed_at",
        "failed_at", "expired_at", "cancelling_at", "cancelled_at", "metadata", "model",
        "errors", "output_file_id", "error_file_id", "usage")}
    view["request_counts"] = {"total": doc["total"], "completed": counts["completed"],
                              "failed": counts["failed"]}
    return view
