"""Reading and changing a session in the store.

Events of one session run as separate invocations, possibly at the same time (an audio append
while a turn streams, a cancel during a response). Every change is a read-modify-write that the
store accepts only if nobody wrote in between (`StaleWrite`), retried on a fresh copy, so the
change function must be a pure function of the session it is given.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from ..errors import NotFound, ServiceUnavailable
from ..store import RealtimeSession, StaleWrite

T = TypeVar("T")
_ATTEMPTS = 50


async def load(store: Any, session_id: str) -> RealtimeSession:
    session = await store.get_session(session_id)
    if session is None:
        raise NotFound(f"No realtime session '{session_id}'.", param="session_id",
                       code="session_not_found")
    return session


async def mutate(store: Any, session_id: str,
                 change: Callable[[RealtimeSession], T]) -> tuple[RealtimeSession, T]:
    """Apply `change` to the current session and store it; returns (stored session, result)."""
    for _ in range(_ATTEMPTS):
        session = await load(store, session_id)
        result = change(session)
        try:
            return await store.replace_session(session), result
        except StaleWrite:
            continue
    raise ServiceUnavailable("The realtime session is too busy to update; try again.")


def add_usage(totals: dict[str, Any], usage: dict[str, Any], cost: float) -> dict[str, Any]:
    """Session totals: responses, tokens and cost so far."""
    out = dict(totals)
    out["responses"] = out.get("responses", 0) + 1
    for name in ("input_tokens", "output_tokens", "total_tokens"):
        out[name] = out.get(name, 0) + int(usage.get(name, 0))
    out["cost"] = round(out.get("cost", 0.0) + cost, 10)
    return out


def add_cost(totals: dict[str, Any], cost: float) -> dict[str, Any]:
    """Cost outside a response (a turn's transcription)."""
    return {**totals, "cost": round(totals.get("cost", 0.0) + cost, 10)}
