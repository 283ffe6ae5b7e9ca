"""The request id: one per HTTP request, the client's own `x-request-id` when it is a sane
token (so a caller can follow its id through our logs), else a new `req_...`. It answers in the
`x-request-id` response header (what the OpenAI SDKs read into `request_id`), is on every log
record written while the request runs (`%(request_id)s`; `-` outside one), on the request's
usage rows and on its trace span.

A context variable carries it: asyncio copies the context into every task a request starts, so
the stream that outlives the handler and the usage row written at its end see the same id."""
from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar
from typing import Any, Mapping

HEADER = "x-request-id"
# Printable, no spaces or separators that a log line or a header could be split on; long enough
# for UUIDs, trace ids and the ids other gateways make.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

current: ContextVar[str] = ContextVar("llmproxy_request_id", default="")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(16)


def begin(headers: Mapping[str, str]) -> str:
    """The id of the request with these headers, made current for the rest of its task."""
    given = headers.get(HEADER)
    request_id = given if given and _SANE.fullmatch(given) else new_request_id()
    current.set(request_id)
    return request_id


_default_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _default_factory(*args, **kwargs)
    record.request_id = current.get() or "-"
    return record


def install_log_field() -> None:
    """Put `request_id` on every log record (a record factory, not a filter: filters on a logger
    do not reach its children's records, and the Functions worker brings its own handlers)."""
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)


install_log_field()
