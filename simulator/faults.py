"""Queued fault injections, configured through `POST /_sim/faults`.

A fault applies to the next `count` provider requests whose path, or whose
body's `model`, contains `match` (an empty match matches everything).  The first
queued fault that matches wins and is consumed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_FIELDS = {"match", "status", "retry_after", "latency_ms", "cut_after_chunks", "chunk_interval_ms",
           "hang", "count", "body"}


@dataclass
class Fault:
    match: str = ""
    status: int | None = None  # answer with this status and a provider-shaped error body
    retry_after: float | None = None  # Retry-After header on the error answer
    latency_ms: int = 0  # wait this long before answering (or before the error)
    cut_after_chunks: int | None = None  # abort a stream's TCP connection after N events
    chunk_interval_ms: int = 0  # pause between stream events (a model generating at a pace)
    hang: bool = False  # never answer (until the client goes away)
    count: int = 1
    body: dict[str, Any] | None = None  # custom error JSON for `status`

    @classmethod
    def from_json(cls, data: Any) -> "Fault":
        if not isinstance(data, dict):
            raise ValueError("fault must be a JSON object")
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**{k: v for k, v in data.items() if v is not None})
        if fault.count < 1:
            raise ValueError("count must be >= 1")
        return fault

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]

    def take(self, path: str, model: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.match in path or (model is not None and fault.match in model):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None


async def hang_until_disconnect(request: web.Request) -> None:
    """Never answer; return once the client has closed the connection."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.1)
