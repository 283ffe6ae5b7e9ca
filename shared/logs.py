"""Log hygiene: every log record, whoever creates it (our code, aiohttp, LiteLLM, the host), has
known secret values and credential-shaped strings blanked before any handler sees it.

A record factory rather than a filter: filters attach to one logger or handler and miss records
that propagate or handlers added later; the factory runs for every record in the process.
"""
from __future__ import annotations

import logging

from .errors import sanitize

_secrets: set[str] = set()
_installed = False


def install_redaction(secrets: tuple[str, ...] = ()) -> None:
    global _installed
    _secrets.update(s for s in secrets if s and len(s) >= 4)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            return record
        clean = sanitize(message, tuple(_secrets), limit=None)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
