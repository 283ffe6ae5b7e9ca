"""Direct producers' events (OpenAI Batch input lines) become jobs; malformed ones become failed
jobs that say what was wrong, so nothing a producer sent disappears without a trace.

A line is checked exactly as the HTTP API checks a submission (the same functions), and its id
comes from the project and `custom_id` (or `idempotency_key`), so a redelivered line finds its
job instead of making a second one.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..admin import check_project
from ..errors import GatewayError, InvalidRequest
from ..handlers.chat import validate_chat_request
from ..keys import Caller
from ..store import StoredJob, StoreUnavailable
from . import model
from .events import BATCH_URL, HubEvent, Parsed
from .options import JOB_FIELDS, take_job_options
from .ssrf import UnsafeWebhookUrl, WebhookGuard

log = logging.getLogger(__name__)


async def record_malformed(gw: Any, parsed: Parsed, event: HubEvent, problem: str,
                           project: str | None = None, key: str | None = None) -> StoredJob:
    data = parsed.data
    body = data.get("body") if isinstance(data.get("body"), dict) else {}
    custom_id = data.get("custom_id") if isinstance(data.get("custom_id"), str) else None
    project = project or model.INVALID_EVENTS_PROJECT
    doc = model.new_job(project=project, body=body, priority=parsed.priority,
                        ttl_hours=gw.settings.job_default_ttl_hours, custom_id=custom_id,
                        source="event_hub", created=event.enqueued_time,
                        job=model.job_id(project, key or "event:" + parsed.fingerprint))
    doc["error"] = {"message": f"Malformed event: {problem}", "type": "invalid_request_error",
                    "param": None, "code": "invalid_event", "status": 400}
    moment = model.now()
    doc["queue_seconds"] = model.seconds_between(doc["created_at"], moment)
    doc["started_at"] = model.iso(moment)
    model.finish(doc, model.FAILED, moment)
    stored, created = await gw.store.create_job(doc)
    if created:
        log.error("malformed hub event recorded as failed job %s (project %s): %s",
                  doc["id"], project, problem)
    return stored


def _line_problem(data: dict[str, Any]) -> str | None:
    if not isinstance(data.get("custom_id"), str) or not data["custom_id"]:
        return "'custom_id' must be a non-empty string"
    if data.get("method") != "POST":
        return "'method' must be \"POST\""
    if data.get("url") != BATCH_URL:
        return f"'url' must be \"{BATCH_URL}\" (only chat completions run as jobs)"
    if not isinstance(data.get("body"), dict):
        return "'body' must be a chat completion request object"
    return None


async def _project_of(gw: Any, data: dict[str, Any], known: dict[str, bool]) -> str:
    """The line's project, which must exist (have an active key). `known` remembers the answer
    for the rest of the batch: a thousand lines for one project cost one lookup."""
    project = data.get("project")
    if not isinstance(project, str):
        raise InvalidRequest("'project' must name the project the job bills to.",
                             param="project")
    check_project(project)
    if project not in known:
        known[project] = any(k.active for k in await gw.store.list_keys(project))
    if not known[project]:
        raise InvalidRequest(f"Unknown project '{project}' (it has no active key).",
                             param="project")
    return project


async def record_unparsed(gw: Any, parsed: Parsed, event: HubEvent,
                          known: dict[str, bool]) -> StoredJob:
    """A malformed event's failed job: under its own project and custom_id when it names a
    project that exists (so its producer finds it), else among the invalid events."""
    data = parsed.data
    key = data.get("idempotency_key") or data.get("custom_id")
    key = key if isinstance(key, str) and key else None
    project = None
    if "project" in data:
        try:
            project = await _project_of(gw, data, known)
        except InvalidRequest:
            project = None
    return await record_malformed(gw, parsed, event, parsed.problem, project,
                                  key if project else None)


async def ingest_line(gw: Any, guard: WebhookGuard, parsed: Parsed, event: HubEvent,
                      known: dict[str, bool]) -> StoredJob:
    data = parsed.data
    try:
        project = await _project_of(gw, data, known)
    except InvalidRequest as err:
        return await record_malformed(gw, parsed, event, err.message)
    problem = _line_problem(data)
    key = data.get("idempotency_key") or data.get("custom_id")
    key = key if isinstance(key, str) and key else None
    if problem:
        return await record_malformed(gw, parsed, event, problem, project, key)
    try:
        options = take_job_options({k: data[k] for k in JOB_FIELDS if k in data},
                                   gw.settings.job_default_ttl_hours)
        body = dict(data["body"])
        if body.get("stream"):
            raise InvalidRequest("An async job cannot stream.", param="body.stream")
        await validate_chat_request(gw, Caller(project=project, key_id=""), dict(body))
        if options.webhook_url:
            await guard.resolve(options.webhook_url)
            if await gw.store.get_webhook_secret(project) is None:
                raise InvalidRequest("The project has no webhook secret.", param="webhook_url")
    except UnsafeWebhookUrl as exc:
        return await record_malformed(gw, parsed, event, str(exc), project, key)
    except GatewayError as err:
        if err.status == 503:           # the catalog's store is down: not the event's fault
            raise StoreUnavailable(err.message) from err
        return await record_malformed(gw, parsed, event, err.message, project, key)
    except (StoreUnavailable, asyncio.CancelledError):
        raise
    except Exception as exc:            # a check that broke on this event: the event's failure
        log.exception("checking hub event %s failed", data.get("custom_id"))
        return await record_malformed(gw, parsed, event, "the request could not be checked "
                                      f"({type(exc).__name__})", project, key)
    doc = model.new_job(project=project, body=body, priority=options.priority,
                        ttl_hours=options.ttl_hours, webhook_url=options.webhook_url,
                        idempotency_key=key, custom_id=data["custom_id"], source="event_hub",
                        key_id="event_hub", created=event.enqueued_time)
    stored, _created = await gw.store.create_job(doc)
    return stored
