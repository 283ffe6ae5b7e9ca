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


_RESPONSES_KEPT = 100


def add_usage(totals: dict[str, Any], usage: dict[str, Any], cost: float, response_id: str,
              status: str) -> dict[str, Any]:
    """Session totals (responses, tokens, cost so far) and the latest responses' own usage."""
    out = dict(totals)
    out["responses"] = out.get("responses", 0) + 1
    for name in ("input_tokens", "output_tokens", "total_tokens"):
        out[name] = out.get(name, 0) + int(usage.get(name, 0))
    out["cost"] = round(out.get("cost", 0.0) + cost, 10)
    entry = {"id": response_id, "status": status, "input_tokens": usage.get("input_tokens", 0),
             "output_tokens": usage.get("output_tokens", 0), "cost": round(cost, 10)}
    out["by_response"] = (out.get("by_response", []) + [entry])[-_RESPONSES_KEPT:]
    return out


def add_cost(totals: dict[str, Any], cost: float) -> dict[str, Any]:
    """Cost outside a response (a turn's transcription)."""
    return {**totals, "cost": round(totals.get("cost", 0.0) + cost, 10)}
