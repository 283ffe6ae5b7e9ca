"""Per-application state shared by the middleware, the providers and the control plane."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .faults import FaultQueue
from .vertex_auth import VertexAuth

REQUEST_LOG_SIZE = 1000


@dataclass
class SimState:
    api_key: str
    faults: FaultQueue = field(default_factory=FaultQueue)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    vertex_auth: VertexAuth = field(default_factory=VertexAuth)
    # Claude's prompt cache: hashes of the prefixes written so far (see anthropic.py).
    claude_cache: set[str] = field(default_factory=set)


STATE = web.AppKey("sim_state", SimState)


def state(request: web.Request) -> SimState:
    return request.app[STATE]


def base_url(request: web.Request) -> str:
    """This server's own base URL, as the client reached it."""
    return f"{request.scheme}://{request.host}"
