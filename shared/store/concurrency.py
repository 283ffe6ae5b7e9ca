"""Optimistic concurrency shared by every backend: a value read with its ETag, and one
read-modify-write loop that retries when another writer got there first.

Cosmos DB gives each document an `_etag`; SQLite rows carry a `version` column that plays the
same part. A write made with a stale ETag fails with `StoreConflict` instead of overwriting the
other writer's change, and `read_modify_write` re-reads and re-applies the change, so no update
is ever lost; when the retries run out the conflict is reported (409), not swallowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, TypeVar

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
# The version of a document that does not exist: a conditional write with it creates the
# document only if nobody else has meanwhile (HTTP `If-Match: "absent"`).
ABSENT = "absent"


def content_version(text: str | bytes) -> str:
    """An opaque version of a stored document, the same for the same stored content."""
    import hashlib
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:20]


class StoreConflict(Exception):
    """A write was refused because the stored value changed (stale ETag) or already exists."""


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A stored value and the ETag it had when it was read."""
    value: T
    etag: str


async def read_modify_write(read: Callable[[], Awaitable[Versioned[T] | None]],
                            write: Callable[[T, str], Awaitable[str]],
                            mutate: Callable[[T], T | None], *,
                            attempts: int = DEFAULT_ATTEMPTS) -> T | None:
    """Apply `mutate` to the current value and write it back only if nobody changed it since.

    `read()` returns the value with its ETag (None when it does not exist: returned as is).
    `mutate(value)` returns the new value, or None when no change is needed (the current value is
    returned without a write); it may run several times, so it must not have side effects.
    `write(value, etag)` stores the value if the ETag still matches and raises `StoreConflict`
    otherwise. After `attempts` conflicts in a row, the last `StoreConflict` is raised.
    """
    for attempt in range(attempts):
        current = await read()
        if current is None:
            return None
        changed = mutate(current.value)
        if changed is None:
            return current.value
        try:
            await write(changed, current.etag)
            return changed
        except StoreConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
