"""One job's provider call, retried on transient failures.

Retried: 429 (waiting at least the provider's `Retry-After`, up to a configured cap), 5xx other
than a catalog misconfiguration, timeouts. Not retried: the provider rejected the request (4xx),
refused the gateway's credentials, or the model is gone. Each retry is recorded on the job with
a conditional write, which is also how a cancel reaches a job between attempts.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .. import dispatch
from ..batches import responses_lines
from ..catalog import Operation
from ..errors import GatewayError, RateLimited
from ..handlers.chat import validate_chat_request
from ..handlers.embeddings import check_embeddings_fields
from ..keys import Caller
from ..providers import Completion
from .model import RESPONSES_SOURCE

log = logging.getLogger(__name__)
_NEVER_RETRY = {"upstream_auth_failed", "upstream_not_found", "model_misconfigured",
                "upstream_invalid_request"}


@dataclass
class Outcome:
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, int] | None = None
    cost: float | None = None


def error_of(err: GatewayError) -> dict[str, Any]:
    return {**err.envelope()["error"], "status": err.status}


def retryable(err: GatewayError) -> bool:
    return err.status in (429, 500, 502, 503, 504) and err.code not in _NEVER_RETRY


def retry_delay(settings: Any, attempt: int, err: GatewayError) -> float:
    """Exponential backoff from the base; a 429's Retry-After (seconds) wins when longer, up
    to the configured cap (a longer wait would hold the batch; the job then fails instead)."""
    delay = settings.job_retry_base * 2 ** attempt
    if isinstance(err, RateLimited):
        try:
            asked = max(0.0, float(err.headers.get("Retry-After", "")))
        except ValueError:
            asked = 0.0
        delay = max(delay, min(asked, settings.job_max_retry_after))
    return delay


async def _embeddings_once(gw: Any, caller: Caller, body: dict[str, Any]) -> Outcome:
    name = check_embeddings_fields(body)
    model = await dispatch.resolve(gw, caller, name, Operation.EMBEDDINGS)
    result = await dispatch.create_embeddings(gw, caller, name, body)
    tokens = result.usage.prompt_tokens
    usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
    cost = model.doc.costs.cost(tokens, 0)
    return Outcome(result=json.loads(result.body), usage=usage, cost=round(cost, 10))


async def _call_once(gw: Any, doc: dict[str, Any]) -> Outcome:
    """One provider call through the same path as the synchronous endpoint (checked again:
    the catalog may have changed since the job was accepted; metered like any call). Jobs are
    chat completions, except batch lines, which may be embeddings."""
    caller = Caller(project=doc["project"], key_id=doc["key_id"],
                    batch=bool(doc.get("batch_id")))
    body = dict(doc["request"])
    if doc.get("endpoint") == "/v1/embeddings":
        return await _embeddings_once(gw, caller, body)
    model, _stream = await validate_chat_request(gw, caller, body)
    # A background response (shared/responses_background.py) or a batch's `/v1/responses`
    # line (shared/batches/responses_lines.py) runs its translated chat body and is metered
    # as the surface its client spoke.
    spoke_responses = (doc.get("source") == RESPONSES_SOURCE
                       or doc.get("endpoint") == responses_lines.ENDPOINT)
    surface = Operation.RESPONSES if spoke_responses else Operation.CHAT
    result = await dispatch.chat(gw, caller, body["model"], body, False, metered_as=surface)
    assert isinstance(result, Completion)
    usage = {"prompt_tokens": result.usage.prompt_tokens,
             "completion_tokens": result.usage.completion_tokens,
             "total_tokens": result.usage.prompt_tokens + result.usage.completion_tokens}
    cost = model.doc.costs.cost_of(result.usage)
    answer = json.loads(result.body)
    if doc.get("endpoint") == responses_lines.ENDPOINT:
        answer = await responses_lines.finish(gw, caller, doc, answer)
    return Outcome(result=answer, usage=usage, cost=round(cost, 10))


Retry = Callable[[GatewayError], Awaitable[bool]]


async def call_with_retries(gw: Any, doc: dict[str, Any], record_retry: Retry) -> Outcome | None:
    """The outcome, or None when `record_retry` reports that the job is no longer ours."""
    settings = gw.settings
    for attempt in range(settings.job_max_retries + 1):
        try:
            return await _call_once(gw, doc)
        except GatewayError as err:
            if not retryable(err) or attempt == settings.job_max_retries:
                return Outcome(error=error_of(err))
            delay = retry_delay(settings, attempt, err)
            log.info("job %s attempt %d failed (%s); retrying in %.2fs", doc["id"],
                     attempt + 1, err.code, delay)
            if not await record_retry(err):
                return None
            await asyncio.sleep(delay)
    return None
