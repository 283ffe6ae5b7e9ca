"""Async chat jobs over HTTP: `/v1/chat/completions/async[...]`. Project-scoped: another
project's job is a 404, exactly like one that never existed.

Submitting stores the job first and then hands the event to the function's Event Hub output
binding (`outputs["events"]`). If that send fails the caller sees an error and retries with the
same `idempotency_key`: the same job comes back and, while it is still queued, its event is sent
again (processing is idempotent, so a second event costs nothing).
"""
from __future__ import annotations

from typing import Any

from ..errors import Conflict, InvalidRequest, NotFound
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from ..jobs import events, model
from ..jobs.cancel import cancel_job
from ..jobs.metrics import estimate_completion, project_metrics
from ..jobs.options import take_job_options
from ..jobs.ssrf import UnsafeWebhookUrl, WebhookGuard
from ..store import StoredJob
from .chat import validate_chat_request

EVENTS = "events"          # the output binding's name on the submit and cancel functions


def _attempts(gw: Gateway) -> int:
    return gw.settings.job_max_retries + 1


async def _check_webhook(gw: Gateway, project: str, url: str) -> None:
    try:
        await WebhookGuard(gw.settings.webhook_allow_hosts).resolve(url)
    except UnsafeWebhookUrl as exc:
        raise InvalidRequest(str(exc), param="webhook_url", code="unsafe_webhook_url") from None
    if await gw.store.get_webhook_secret(project) is None:
        raise InvalidRequest("This project has no webhook secret yet; an administrator creates "
                             "one with POST /v1/organization/projects/{project_id}/webhook_secret.",
                             param="webhook_url", code="webhook_secret_missing")


async def submit(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    body = req.json_object()
    options = take_job_options(body, gw.settings.job_default_ttl_hours)
    await validate_chat_request(gw, caller, body)
    if options.webhook_url:
        await _check_webhook(gw, caller.project, options.webhook_url)
    doc = model.new_job(project=caller.project, body=body, priority=options.priority,
                        ttl_hours=options.ttl_hours, webhook_url=options.webhook_url,
                        idempotency_key=options.idempotency_key, custom_id=options.custom_id,
                        key_id=caller.key_id)
    stored, created = await gw.store.create_job(doc)
    if not created and stored.doc["request"] != body:
        raise Conflict("This idempotency_key was already used with a different request.",
                       param="idempotency_key", code="idempotency_key_reused")
    doc = stored.doc
    eta = await estimate_completion(gw, caller.project, model.parse_iso(doc["created_at"]))
    view = {**model.public(doc, _attempts(gw)), "estimated_completion_time": model.iso(eta)}
    send = created or doc["status"] == model.QUEUED
    return ApiResponse.json(view, status=202,
                            headers={"Location": f"/v1/chat/completions/async/{doc['id']}"},
                            outputs={EVENTS: events.reference(doc)} if send else None)


async def _own_job(gw: Gateway, req: ApiRequest) -> StoredJob:
    caller = await gw.keys.authenticate(req.headers)
    job_id = req.path_params["id"]
    stored = await gw.store.get_job(caller.project, job_id)
    if stored is None:
        raise NotFound(f"No job '{job_id}'.", param="id", code="job_not_found")
    return stored


async def get_job(gw: Gateway, req: ApiRequest) -> ApiResponse:
    stored = await _own_job(gw, req)
    return ApiResponse.json(model.public(stored.doc, _attempts(gw)))


def _limit(req: ApiRequest) -> int:
    raw = req.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest("'limit' must be an integer from 1 to 100.", param="limit")
    return int(raw)


async def list_jobs(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    status = req.query.get("status") or None
    if status is not None and status not in model.STATUSES:
        raise InvalidRequest(f"'status' must be one of {', '.join(model.STATUSES)}.",
                             param="status")
    limit, after = _limit(req), None
    if req.query.get("after"):
        anchor = await gw.store.get_job(caller.project, req.query["after"])
        if anchor is None:
            raise InvalidRequest("'after' must be the execution_id of one of your jobs.",
                                 param="after")
        after = (anchor.doc["created_at"], anchor.doc["id"])
    docs = await gw.store.list_jobs(caller.project, status, limit + 1, after)
    data = [model.public(d, _attempts(gw)) for d in docs[:limit]]
    return ApiResponse.json({"object": "list", "data": data, "has_more": len(docs) > limit,
                             "first_id": data[0]["execution_id"] if data else None,
                             "last_id": data[-1]["execution_id"] if data else None})


async def cancel(gw: Gateway, req: ApiRequest) -> ApiResponse:
    """Cancel a job that has no result yet (see jobs/cancel.py). The cancellation webhook goes
    out through the same hub event a submission sends."""
    doc = await cancel_job(gw, lambda: _own_job(gw, req))
    outputs: dict[str, Any] = {EVENTS: events.reference(doc)} if doc["webhook"]["url"] else {}
    return ApiResponse.json(model.public(doc, _attempts(gw)), outputs=outputs)


async def metrics(gw: Gateway, req: ApiRequest) -> ApiResponse:
    caller = await gw.keys.authenticate(req.headers)
    return ApiResponse.json(await project_metrics(gw, caller.project))
