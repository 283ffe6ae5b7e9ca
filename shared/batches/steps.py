"""The batch's steps, each run by the job worker from a hub event and each sending the events
of what follows, so no invocation holds a batch for long:

    validate   every line checked; a bad file fails the batch with an error file, a good one
               goes `in_progress` and starts expanding
    expand     the next EXPAND_CHUNK lines become line jobs (ids derived from the batch and the
               line's index: a redelivered step finds its jobs) and their events are sent
    stop       after a cancel or expiry: the next STOP_CHUNK lines that have not started are
               settled (a line never expanded gets a settled job, so a late expand cannot
               start it); the last chunk asks for finalization
    finalize   once every line has ended: the output and error files, counts, final status

Events: `{"batch_id": ..., "project": ..., "step": ..., "priority": ...}` plus the step's
position (`index`, `line`, `offset` into the input file).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from ..errors import GatewayError
from ..files import files
from ..files.storage import BATCH_INPUT
from ..jobs import events, model as jobs_model
from ..jobs.attempts import error_of
from ..keys import Caller
from ..store import StoreConflict
from . import model, output, responses_lines, state
from .lines import Checked, check_line, read_lines

log = logging.getLogger(__name__)
EXPAND_CHUNK = 500
STOP_CHUNK = 500
MAX_ERROR_LINES = 10_000        # validation errors kept for the error file
_STEP_PRIORITY = 5              # steps run before the lines they release (priority 10)
_LINE_TTL_HOURS = 72            # line jobs outlive the 24 h window and the finalization
_WRITES = 16                    # line jobs written at once


def event(doc: dict[str, Any], step: str, **position: int) -> str:
    return json.dumps({"batch_id": doc["id"], "project": doc["project"], "step": step,
                       "priority": _STEP_PRIORITY, **position})


async def handle(gw: Any, data: dict[str, Any]) -> list[str]:
    """Run one step; the events to send next."""
    found = await state.load(gw.objects, data["project"], data["batch_id"])
    if found is None:
        log.warning("batch %s (project %s) is unknown; step %s skipped", data["batch_id"],
                    data["project"], data.get("step"))
        return []
    doc, step = found[0], data.get("step")
    if step == "validate":
        return await validate(gw, doc)
    if step == "expand":
        return await expand(gw, doc, data)
    if step == "stop":
        return await stop_lines(gw, doc, int(data.get("index", 0)))
    if step == "finalize":
        return await finalize(gw, doc)
    log.error("batch %s: unknown step %r skipped", doc["id"], step)
    return []


def _input(doc: dict[str, Any]) -> str:
    return files.object_name(doc["project"], doc["input_file_id"])


def _caller(doc: dict[str, Any]) -> Caller:
    """Who the batch's lines run as: its creator's project and key, marked batch."""
    return Caller(doc["project"], doc["key_id"], batch=True)


async def _check_all(gw: Any, doc: dict[str, Any]) -> tuple[int, list[Checked], str | None]:
    """(requests, bad lines, the first model) of the whole input file."""
    caller = _caller(doc)
    stream = await gw.objects.read(BATCH_INPUT, _input(doc))
    if stream is None:
        return 0, [Checked(None, error={"code": "input_file_missing", "line": None,
                                        "message": "The input file was deleted.",
                                        "param": "input_file_id"})], None
    total, bad, seen, first_model = 0, [], set(), None
    limit = gw.settings.batch_max_lines
    lines = read_lines(stream)
    try:
        async for line in lines:
            total += 1
            if total > limit:
                bad.append(Checked(None, error={
                    "code": "too_many_requests", "line": line.number, "param": None,
                    "message": f"Line {line.number}: a batch holds at most {limit} requests."}))
                break
            checked = await check_line(gw, caller, model.canonical_endpoint(doc["endpoint"]), line,
                                       seen)
            if checked.error is not None:
                if len(bad) < MAX_ERROR_LINES:
                    bad.append(checked)
            elif first_model is None:
                first_model = checked.model
    finally:
        await lines.aclose()
        await stream.aclose()
    if total == 0:
        bad.append(Checked(None, error={"code": "empty_file", "line": None, "param": None,
                                        "message": "The input file has no requests."}))
    return total, bad, first_model


async def _error_lines(doc: dict[str, Any], bad: list[Checked]):
    for i, checked in enumerate(bad):
        error = checked.error or {}
        yield json.dumps({"id": model.request_id(doc["id"], -1 - i),
                          "custom_id": checked.custom_id, "response": None,
                          "error": {"code": error.get("code"), "message": error.get("message"),
                                    "line": error.get("line"), "param": error.get("param")}}
                         ).encode() + b"\n"


async def validate(gw: Any, doc: dict[str, Any]) -> list[str]:
    if doc["status"] != model.VALIDATING:
        return []                                  # a redelivery, or cancelled meanwhile
    total, bad, first_model = await _check_all(gw, doc)
    now = int(time.time())
    if bad:
        file_id = model.output_file_id(doc["id"], "error")
        await files.store(gw.objects, doc["project"], _error_lines(doc, bad),
                          filename=f"{doc['id']}_error.jsonl", purpose="batch_output",
                          limit=None, file_id=file_id,
                          expires_after=doc.get("output_expires_after"))

        def failed(d: dict[str, Any]) -> bool:
            if d["status"] != model.VALIDATING:
                return False
            d.update(status=model.FAILED, failed_at=now, error_file_id=file_id,
                     final_counts={"completed": 0, "failed": 0, "skipped": 0},
                     errors={"object": "list",
                             "data": [c.error for c in bad[:model.SHOWN_ERRORS]]})
            return True
        await state.update(gw.objects, doc["project"], doc["id"], failed)
        log.info("batch %s failed validation: %d bad line(s)", doc["id"], len(bad))
        return []

    def started(d: dict[str, Any]) -> bool:
        if d["status"] != model.VALIDATING:
            return False
        d.update(status=model.IN_PROGRESS, in_progress_at=now, total=total, model=first_model)
        return True
    doc = await state.update(gw.objects, doc["project"], doc["id"], started)
    if doc is None or doc["status"] != model.IN_PROGRESS:
        return []
    return [event(doc, "expand", index=0, line=1, offset=0)]


async def _line_job(gw: Any, doc: dict[str, Any], index: int, raw: bytes) -> dict[str, Any]:
    """The line's job. A `/v1/responses` line is translated to the chat body it runs now; if
    that fails (the response a `previous_response_id` names was deleted since validation), the
    job is born failed with the error the endpoint would have answered."""
    data = json.loads(raw)
    endpoint = model.canonical_endpoint(doc["endpoint"])
    body, kept, error = data["body"], {}, None
    if endpoint == responses_lines.ENDPOINT:
        try:
            body, kept = await responses_lines.expand(gw, _caller(doc), data["body"])
        except GatewayError as err:
            if err.status >= 500:
                raise                          # the store is down: the step is redelivered
            error = error_of(err)
    job = jobs_model.new_job(project=doc["project"], body=body,
                             priority=model.LINE_PRIORITY, ttl_hours=_LINE_TTL_HOURS,
                             custom_id=data["custom_id"], key_id=doc["key_id"], source="batch",
                             job=model.line_job_id(doc["project"], doc["id"], index))
    job.update(batch_id=doc["id"], batch_index=index, endpoint=endpoint)
    if kept:
        job["responses"] = kept
    if error is not None:
        job["error"] = error
        jobs_model.finish(job, jobs_model.FAILED, jobs_model.now())
    return job


async def _create_line(gw: Any, doc: dict[str, Any], index: int, raw: bytes) -> Any:
    return await gw.store.create_job(await _line_job(gw, doc, index, raw))


async def _bounded(coros: list) -> list:
    gate = asyncio.Semaphore(_WRITES)

    async def one(coro):
        async with gate:
            return await coro
    return await asyncio.gather(*(one(c) for c in coros))


async def expand(gw: Any, doc: dict[str, Any], position: dict[str, Any]) -> list[str]:
    if doc["status"] != model.IN_PROGRESS or doc["stop"]:
        return []
    index, number, offset = (int(position[k]) for k in ("index", "line", "offset"))
    stream = await gw.objects.read(BATCH_INPUT, _input(doc), offset)
    if stream is None:
        return await request_stop(gw, doc, "input")
    chunk = []
    lines = read_lines(stream, number, offset)
    try:
        async for line in lines:
            chunk.append(line)
            if len(chunk) == EXPAND_CHUNK:
                break
    finally:                         # release the file or the blob download now, not at GC
        await lines.aclose()
        await stream.aclose()
    made = await _bounded([_create_line(gw, doc, index + i, line.raw)
                           for i, line in enumerate(chunk)])
    follow = [events.reference(stored.doc) for stored, _created in made
              if stored.doc["status"] == jobs_model.QUEUED]
    born_failed = sum(1 for stored, created in made
                      if created and stored.doc["status"] == jobs_model.FAILED)
    if born_failed and await count(gw, doc, "failed", born_failed) >= doc["total"]:
        follow.append(event(doc, "finalize"))
    if chunk and index + len(chunk) < doc["total"]:
        follow.append(event(doc, "expand", index=index + len(chunk),
                            line=chunk[-1].number + 1, offset=chunk[-1].end))
    return follow


async def request_stop(gw: Any, doc: dict[str, Any], why: str) -> list[str]:
    """Stop the batch's lines that have not started (cancel, expiry, input gone): the first
    writer of `stop` starts the walk over its lines."""
    now = int(time.time())

    def stopping(d: dict[str, Any]) -> bool:
        if d["status"] != model.IN_PROGRESS or d["stop"]:
            return False
        d["stop"] = why
        if why == "cancel":
            d.update(status=model.CANCELLING, cancelling_at=now)
        return True
    before = doc.get("stop")
    doc = await state.update(gw.objects, doc["project"], doc["id"], stopping)
    if doc is None or before or doc.get("stop") != why:
        return []
    return [event(doc, "stop", index=0)]


def _settle(job: dict[str, Any], why: str) -> None:
    job["error"] = {**output._never_ran({"stop": why}), "type": "invalid_request_error",
                    "param": None, "status": 400}
    jobs_model.finish(job, jobs_model.CANCELLED, jobs_model.now())


async def settle_line(gw: Any, doc: dict[str, Any], index: int) -> int:
    """Settle one line that has not started; 1 if this call settled it."""
    project = doc["project"]
    job_id = model.line_job_id(project, doc["id"], index)
    stored = await gw.store.get_job(project, job_id)
    if stored is None:
        tomb = jobs_model.new_job(project=project, body={}, priority=model.LINE_PRIORITY,
                                  ttl_hours=_LINE_TTL_HOURS, key_id=doc["key_id"],
                                  source="batch", job=job_id)
        tomb.update(batch_id=doc["id"], batch_index=index,
                    endpoint=model.canonical_endpoint(doc["endpoint"]))
        _settle(tomb, doc["stop"])
        stored, created = await gw.store.create_job(tomb)
        if created:
            return 1
    return await settle_job(gw, stored, doc["stop"])


async def settle_job(gw: Any, stored: Any, why: str) -> int:
    if stored.doc["status"] != jobs_model.QUEUED:
        return 0                     # running (it will finish and be counted) or ended
    _settle(stored.doc, why)
    try:
        await gw.store.replace_job(stored.doc, stored.etag)
        return 1
    except StoreConflict:
        return 0                     # a worker claimed it, or another settler won


async def count(gw: Any, doc: dict[str, Any], kind: str, n: int = 1) -> float:
    """Add to a live count; the sum of all counts afterwards."""
    result = await gw.store.add_to_counter(model.counter_key(doc, kind), n, limit=None,
                                           expires_at=model.counter_expiry(doc))
    others = [await gw.store.get_counter(model.counter_key(doc, k))
              for k in model.COUNTS if k != kind]
    return result.value + sum(others)


async def stop_lines(gw: Any, doc: dict[str, Any], start: int) -> list[str]:
    if doc["status"] in model.TERMINAL or not doc["stop"]:
        return []
    end = min(start + STOP_CHUNK, doc["total"])
    settled = sum(await _bounded([settle_line(gw, doc, i) for i in range(start, end)]))
    if settled:
        await count(gw, doc, "skipped", settled)
    if end < doc["total"]:
        return [event(doc, "stop", index=end)]
    return [event(doc, "finalize")]


_FINAL = {None: model.COMPLETED, "cancel": model.CANCELLED, "expire": model.EXPIRED,
          "input": model.FAILED}


async def finalize(gw: Any, doc: dict[str, Any]) -> list[str]:
    if doc["status"] in model.TERMINAL or doc["status"] == model.VALIDATING:
        return []
    tally = await output.survey(gw, doc)
    if tally is None:
        return []                    # a line is still to end; the last one asks again
    now = int(time.time())

    def finalizing(d: dict[str, Any]) -> bool:
        if d["status"] != model.IN_PROGRESS or d["stop"]:
            return False
        d.update(status=model.FINALIZING, finalizing_at=now)
        return True
    doc = await state.update(gw.objects, doc["project"], doc["id"], finalizing) or doc
    output_id = await output.write_file(gw, doc, "output") if tally.completed else None
    error_id = await output.write_file(gw, doc, "error") if tally.failed else None
    final = _FINAL[doc.get("stop")]

    def finished(d: dict[str, Any]) -> bool:
        if d["status"] in model.TERMINAL:
            return False
        stamp = {model.COMPLETED: "completed_at", model.CANCELLED: "cancelled_at",
                 model.EXPIRED: "expired_at", model.FAILED: "failed_at"}[final]
        d.update(status=final, output_file_id=output_id, error_file_id=error_id,
                 final_counts={"completed": tally.completed, "failed": tally.failed,
                               "skipped": 0},
                 usage=tally.openai_usage(), **{stamp: int(time.time())})
        if final == model.FAILED:
            d["errors"] = {"object": "list", "data": [{
                "code": "input_file_missing", "line": None, "param": "input_file_id",
                "message": "The input file was deleted while the batch ran."}]}
        return True
    await state.update(gw.objects, doc["project"], doc["id"], finished)
    log.info("batch %s %s: %d completed, %d failed", doc["id"], final, tally.completed,
             tally.failed)
    return []
