"""The job fields that ride along with a chat request, taken out of the body and checked.

Each failure is a 400 naming its field; nothing is clamped or silently dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest

JOB_FIELDS = ("priority", "webhook_url", "ttl_hours", "idempotency_key", "custom_id")
MAX_TTL_HOURS = 168
_MAX_ID = 256


@dataclass
class JobOptions:
    priority: int
    ttl_hours: int
    webhook_url: str | None
    idempotency_key: str | None
    custom_id: str | None


def _int_in(data: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be an integer from {low} to {high}.", param=name)
    return value


def _optional_str(data: dict[str, Any], name: str, limit: int = _MAX_ID) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRequest(f"'{name}' must be a non-empty string of at most {limit} "
                             "characters.", param=name)
    return value


def take_job_options(body: dict[str, Any], default_ttl_hours: int) -> JobOptions:
    """Split `body` into the chat request (left in `body`) and the job's options."""
    fields = {name: body.pop(name) for name in JOB_FIELDS if name in body}
    options = JobOptions(
        priority=_int_in(fields, "priority", 1, 10, 5),
        ttl_hours=_int_in(fields, "ttl_hours", 1, MAX_TTL_HOURS, default_ttl_hours),
        webhook_url=_optional_str(fields, "webhook_url", 2048),
        idempotency_key=_optional_str(fields, "idempotency_key"),
        custom_id=_optional_str(fields, "custom_id"))
    if body.get("stream"):
        raise InvalidRequest("An async job cannot stream; poll the job or use a webhook.",
                             param="stream")
    return options
