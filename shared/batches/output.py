"""The batch's output and error files, in OpenAI's batch output format, one line per request
keyed by `custom_id`:

    {"id": "batch_req_...", "custom_id": "r1", "response": {"status_code": 200,
     "request_id": "...", "body": {...}}, "error": null}

Successful requests go to the output file; requests the provider or gateway refused go to the
error file with their HTTP status and error body; requests that never ran (cancelled, expired,
input missing) go to the error file with `response: null` and an `error` saying why. Lines are
produced by streaming over the line jobs in file order, so no file is ever built in memory.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from ..files import files
from ..files.storage import BATCH_INPUT, BATCH_OUTPUT
from ..jobs import model as jobs_model
from . import model
from .lines import read_lines

_PREFETCH = 64                 # line jobs read at once


@dataclass
class Tally:
    completed: int = 0
    failed: int = 0
    usage: dict[str, int] = field(default_factory=lambda: {
        "input_tokens": 0, "output_tokens": 0, "total_tokens": 0})

    def openai_usage(self) -> dict[str, Any]:
        return {"input_tokens": self.usage["input_tokens"],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.usage["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.usage["total_tokens"]}


async def _custom_ids(gw: Any, doc: dict[str, Any]) -> AsyncIterator[str | None]:
    """The custom_id of each request in file order (None for all once the file is gone:
    lines that never became jobs then have no id to report)."""
    stream = await gw.objects.read(BATCH_INPUT, files.object_name(doc["project"],
                                                                  doc["input_file_id"]))
    if stream is not None:
        lines = read_lines(stream)
        try:
            async for line in lines:
                try:
                    yield json.loads(line.raw).get("custom_id")
                except (ValueError, AttributeError):
                    yield None
        finally:
            await lines.aclose()
            await stream.aclose()
    while True:
        yield None


async def line_jobs(gw: Any, doc: dict[str, Any]) -> AsyncIterator[tuple[int, Any]]:
    """(index, stored job or None) for every line, in order, a few reads ahead."""
    total, project = doc["total"], doc["project"]
    for start in range(0, total, _PREFETCH):
        indexes = range(start, min(start + _PREFETCH, total))
        found = await asyncio.gather(*(gw.store.get_job(
            project, model.line_job_id(project, doc["id"], i)) for i in indexes))
        for i, stored in zip(indexes, found):
            yield i, stored


def _never_ran(doc: dict[str, Any]) -> dict[str, str]:
    why = doc.get("stop") or "cancel"
    code, message = {
        "cancel": ("batch_cancelled", "The batch was cancelled before this request ran."),
        "expire": ("batch_expired", "The batch's completion window passed before this "
                   "request ran."),
        "input": ("input_file_missing", "The input file was deleted before this request "
                  "ran."),
    }[why]
    return {"code": code, "message": message}


def render(doc: dict[str, Any], index: int, custom_id: str | None,
           job: dict[str, Any] | None) -> tuple[str, bytes]:
    """("output" | "error", the line) for one request."""
    line: dict[str, Any] = {"id": model.request_id(doc["id"], index),
                            "custom_id": (job or {}).get("custom_id") or custom_id,
                            "response": None, "error": None}
    if job is not None and job["status"] == jobs_model.COMPLETED:
        line["response"] = {"status_code": 200, "request_id": job["id"], "body": job["result"]}
        kind = "output"
    elif job is not None and job["status"] == jobs_model.FAILED and job.get("error"):
        err = job["error"]
        line["response"] = {"status_code": err.get("status", 500), "request_id": job["id"],
                            "body": {"error": {k: err.get(k) for k in
                                               ("message", "type", "param", "code")}}}
        kind = "error"
    else:
        line["error"] = _never_ran(doc)
        kind = "error"
    return kind, json.dumps(line).encode() + b"\n"


async def _lines_of(gw: Any, doc: dict[str, Any], kind: str) -> AsyncIterator[bytes]:
    ids = _custom_ids(gw, doc)
    async for index, stored in line_jobs(gw, doc):
        custom_id = await ids.__anext__()
        which, data = render(doc, index, custom_id, stored.doc if stored else None)
        if which == kind:
            yield data
    await ids.aclose()


async def write_file(gw: Any, doc: dict[str, Any], kind: str) -> str:
    """Write the output or error file, unless a finalizer before this one (a redelivery, a
    restart) already did: the file is named after the batch and a write is all-or-nothing,
    so there is only ever one, complete. Its id."""
    file_id = model.output_file_id(doc["id"], kind)
    if await gw.objects.info(BATCH_OUTPUT, files.object_name(doc["project"], file_id)) is None:
        await files.store(gw.objects, doc["project"], _lines_of(gw, doc, kind),
                          filename=f"{doc['id']}_{kind}.jsonl", purpose="batch_output",
                          limit=None, file_id=file_id,
                          expires_after=doc.get("output_expires_after"))
    return file_id


async def survey(gw: Any, doc: dict[str, Any]) -> Tally | None:
    """How the lines ended, or None while any line has not (queued, running, or not yet a
    job: it has still to be expanded, or settled by a stop)."""
    result = Tally()
    async for _index, stored in line_jobs(gw, doc):
        if stored is None or stored.doc["status"] not in jobs_model.TERMINAL:
            return None
        job = stored.doc
        if job["status"] == jobs_model.COMPLETED:
            result.completed += 1
            usage = job.get("usage") or {}
            result.usage["input_tokens"] += usage.get("prompt_tokens", 0)
            result.usage["output_tokens"] += usage.get("completion_tokens", 0)
            result.usage["total_tokens"] += usage.get("total_tokens", 0)
        else:
            result.failed += 1
    return result
