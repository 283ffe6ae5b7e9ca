"""The input file, line by line, and the checks every line passes before anything runs: the
same checks the synchronous endpoint applies (fields, a model the project may see that offers
the operation, the model's request limits; for `/v1/responses` those of responses_lines.py),
plus the batch's own (`custom_id` unique, `method` POST, `url` the batch's endpoint, no
streaming).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from .. import dispatch
from ..catalog import Operation
from ..errors import GatewayError
from ..handlers.chat import check_chat_fields
from ..handlers.embeddings import check_embeddings_fields
from ..handlers.request_checks import check_chat_limits
from ..keys import Caller
from . import model, responses_lines

MAX_CUSTOM_ID = 512


@dataclass
class Line:
    number: int            # 1-based line number in the file (what error messages name)
    raw: bytes
    end: int               # byte offset just past this line (where the next read starts)


async def read_lines(chunks: AsyncIterator[bytes], first_number: int = 1,
                     offset: int = 0) -> AsyncIterator[Line]:
    """Non-blank lines (a trailing newline or blank lines between requests are allowed).
    `first_number` and `offset` say where `chunks` start in the file."""
    pending, number = b"", first_number - 1
    async for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            raw = pending[start:end]
            number += 1
            offset += end + 1 - start
            start = end + 1
            if raw.strip():
                yield Line(number, raw, offset)
        pending = pending[start:]
    if pending.strip():
        yield Line(number + 1, pending, offset + len(pending))


@dataclass
class Checked:
    custom_id: str | None
    body: dict[str, Any] | None = None
    model: str | None = None
    error: dict[str, Any] | None = None       # OpenAI's BatchError: code, line, message, param


def _problem(line: Line, custom_id: str | None, code: str, message: str,
             param: str | None = None) -> Checked:
    return Checked(custom_id, error={"code": code, "line": line.number,
                                     "message": f"Line {line.number}: {message}",
                                     "param": param})


def _shape(line: Line, data: Any, endpoint: str, seen: set[str]) -> Checked | None:
    if not isinstance(data, dict):
        return _problem(line, None, "invalid_request", "each line must be a JSON object.")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        return _problem(line, None, "invalid_custom_id", "'custom_id' must be a non-empty "
                        f"string of at most {MAX_CUSTOM_ID} characters.", "custom_id")
    if custom_id in seen:
        return _problem(line, custom_id, "duplicate_custom_id",
                        f"the custom_id '{custom_id}' is used by an earlier line.", "custom_id")
    seen.add(custom_id)
    unknown = sorted(set(data) - {"custom_id", "method", "url", "body"})
    if unknown:
        return _problem(line, custom_id, "invalid_request",
                        f"unknown field '{unknown[0]}'.", unknown[0])
    if data.get("method") != "POST":
        return _problem(line, custom_id, "invalid_method", "'method' must be \"POST\".",
                        "method")
    url = data.get("url")
    if not isinstance(url, str) or model.canonical_endpoint(url) != endpoint:
        return _problem(line, custom_id, "invalid_url", f"'url' must be the batch's endpoint "
                        f"\"{endpoint}\".", "url")
    if not isinstance(data.get("body"), dict):
        return _problem(line, custom_id, "invalid_request", "'body' must be a request object.",
                        "body")
    if data["body"].get("stream"):
        return _problem(line, custom_id, "invalid_request", "a batch line cannot stream.",
                        "body.stream")
    return None


async def check_request(gw: Any, caller: Caller, endpoint: str, body: dict[str, Any]) -> str:
    """The synchronous endpoint's checks for one request body; the model name, or the
    GatewayError the endpoint would have answered."""
    if endpoint == responses_lines.ENDPOINT:
        return (await responses_lines.check(gw, caller, body)).request.model
    if endpoint == "/v1/chat/completions":
        name, _stream = check_chat_fields(body)
        model = await dispatch.resolve(gw, caller, name, Operation.CHAT)
        check_chat_limits(model.policy, body)
        return name
    name = check_embeddings_fields(body)
    await dispatch.resolve(gw, caller, name, Operation.EMBEDDINGS)
    return name


async def check_line(gw: Any, caller: Caller, endpoint: str, line: Line,
                     seen: set[str]) -> Checked:
    """One line checked against the batch's `endpoint` (canonical: model.canonical_endpoint);
    a 503 (the catalog's store is down) is raised, not blamed on it."""
    try:
        data = json.loads(line.raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _problem(line, None, "invalid_json", f"not valid JSON ({exc}).")
    problem = _shape(line, data, endpoint, seen)
    if problem is not None:
        return problem
    try:
        name = await check_request(gw, caller, endpoint, dict(data["body"]))
    except GatewayError as err:
        if err.status >= 500:
            raise
        param = f"body.{err.param}" if err.param else "body"
        return _problem(line, data["custom_id"], err.code or "invalid_request",
                        err.message, param)
    return Checked(data["custom_id"], body=data["body"], model=name)


