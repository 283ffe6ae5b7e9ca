"""What travels on the Event Hub.

Three shapes, told apart by their fields:

* a job reference, sent by the HTTP API after it stored the job:
  `{"execution_id": "job_...", "project": "alpha", "priority": 5}`
* an OpenAI Batch input line from a direct producer, plus the project it bills to:
  `{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...},
    "project": "alpha", "priority": 5, "webhook_url": "https://...", "ttl_hours": 24}`
  (`priority`, `webhook_url`, `ttl_hours`, `idempotency_key` optional; `custom_id` is the
  idempotency key unless `idempotency_key` is given).

* a step of an OpenAI Batch API batch (shared/batches/steps.py):
  `{"batch_id": "batch_...", "project": "alpha", "step": "expand", "priority": 5, ...}`

Anything else is malformed and becomes a failed job saying why.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import json_codec

BATCH_URL = "/v1/chat/completions"


@dataclass
class HubEvent:
    """The host-neutral form of one delivered event (the blueprint converts func.EventHubEvent)."""
    body: bytes
    sequence_number: int | None = None
    partition_key: str | None = None
    enqueued_time: datetime | None = None


@dataclass
class Parsed:
    kind: str                           # "reference" | "line" | "batch" | "malformed"
    priority: int = 5
    data: dict[str, Any] = field(default_factory=dict)
    problem: str = ""
    fingerprint: str = ""               # identifies a malformed event across redeliveries


def reference(doc: dict[str, Any]) -> str:
    return json.dumps({"execution_id": doc["id"], "project": doc["project"],
                       "priority": doc["priority"]})


def _priority(data: dict[str, Any]) -> int:
    value = data.get("priority", 5)
    return value if isinstance(value, int) and not isinstance(value, bool) else 5


# A line's ids, read without decoding: an event refused before decoding (nested too deep, ...)
# still names the project and custom_id its failed job is filed under, when it has them.
_ID_FIELDS = {name: re.compile(rb'"%s"\s*:\s*"([A-Za-z0-9_.:@-]{1,256})"' % name.encode())
              for name in ("project", "custom_id", "idempotency_key")}


def _salvaged_ids(body: bytes) -> dict[str, Any]:
    found = {}
    for name, pattern in _ID_FIELDS.items():
        match = pattern.search(body)
        if match:
            found[name] = match.group(1).decode()
    return found


def parse(event: HubEvent) -> Parsed:
    """Never raises: whatever is wrong with one event stays with that event."""
    fingerprint = hashlib.sha256(event.body).hexdigest()[:32]
    try:
        # One level deeper than an HTTP body may be: the request sits under "body".
        data = json_codec.loads(event.body, max_depth=json_codec.MAX_DEPTH + 1)
    except json_codec.UnsafeJson as exc:
        return Parsed("malformed", problem=f"the event is not accepted JSON ({exc.msg})",
                      data=_salvaged_ids(event.body), fingerprint=fingerprint)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return Parsed("malformed", problem=f"the event is not JSON ({type(exc).__name__}: "
                                           f"{str(exc)[:200]})", fingerprint=fingerprint)
    if not isinstance(data, dict):
        return Parsed("malformed", problem="the event must be a JSON object",
                      fingerprint=fingerprint)
    if "execution_id" in data:
        if isinstance(data.get("execution_id"), str) and isinstance(data.get("project"), str):
            return Parsed("reference", _priority(data), data)
        return Parsed("malformed", data=data, fingerprint=fingerprint,
                      problem="a job reference needs string 'execution_id' and 'project'")
    if "batch_id" in data:
        if all(isinstance(data.get(k), str) for k in ("batch_id", "project", "step")):
            return Parsed("batch", _priority(data), data)
        return Parsed("malformed", data=data, fingerprint=fingerprint,
                      problem="a batch step needs string 'batch_id', 'project' and 'step'")
    return Parsed("line", _priority(data), data, fingerprint=fingerprint)
