"""When files expire, and how expired files leave storage.

OpenAI's policy (`FileExpirationAfter`, `BatchFileExpirationAfter`): `{"anchor": "created_at",
"seconds": 3600..2592000}`; a file with `purpose=batch` expires 30 days after its upload unless
the upload says otherwise, every other file (and a batch's output and error files, unless the
batch was created with `output_expires_after`) stays until deleted. A file's `expires_at` rides
in its object's metadata like its filename; once it has passed the file is gone: every lookup
answers as for a file that never existed (`files.find`, which deletes it on the spot), listings
leave it out.

Storage is reclaimed by `sweep`, run by the timer that sweeps jobs and batches (every 5
minutes). It must not list every file to find the few that are due, so each expiring file has a
*marker*: an empty object in the file's own container named
`_expires/<expires_at, 10 digits>/<project>/<file id>`. Names list in order, so the markers list
in order of expiry and a sweep reads only the head of the line. Project ids cannot begin with
`_` (shared/admin.py), so no project's listing ever sees a marker. Cost of one sweep on Blob
Storage: one List Blobs call per file container (three), whatever the number of files, plus,
per file due, one Get Blob Properties (the file's own `expires_at` is the truth: a marker
without its file, or ahead of it, deletes nothing) and two Delete Blob calls (file and marker).
At most `SWEEP_PAGE` files per container are reclaimed per sweep; the rest wait for the next.
The marker is written before the file is committed, so an expiring file always has one; a
marker whose file is gone (deleted by its owner, an upload that failed) is dropped when due.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from ..errors import InvalidRequest
from ..store import StoreUnavailable
from .storage import BATCH_INPUT, BATCH_OUTPUT, USER_DATA, ObjectInfo, ObjectStorage, one_chunk

log = logging.getLogger(__name__)

MIN_SECONDS, MAX_SECONDS = 3600, 30 * 24 * 3600        # OpenAI's range: 1 hour to 30 days
DEFAULT_SECONDS = {"batch": 30 * 24 * 3600}            # by purpose; others: never
ANCHOR = "created_at"
MARKERS = "_expires/"
SWEEP_PAGE = 1000
_DELETES = 16                                         # deletes in flight at once
FILE_CONTAINERS = (BATCH_INPUT, USER_DATA, BATCH_OUTPUT)


def check(anchor: Any, seconds: Any, name: Callable[[str], str], text: bool = False) -> int:
    """The policy's seconds; a 400 naming the field (`name("anchor")`) when it is not one of
    OpenAI's. `text`: the values are a form's fields (the seconds in digits)."""
    for key, value in (("anchor", anchor), ("seconds", seconds)):
        if value is None:
            raise InvalidRequest(f"Missing required parameter: '{name(key)}'.",
                                 param=name(key), code="missing_required_parameter")
    check_anchor(anchor, name("anchor"))
    return check_seconds(seconds, name("seconds"), text)


def check_anchor(anchor: Any, param: str) -> None:
    if anchor != ANCHOR:
        raise InvalidRequest(f"'{param}' must be '{ANCHOR}'.", param=param)


def check_seconds(seconds: Any, param: str, text: bool = False) -> int:
    if text and isinstance(seconds, str) and seconds.isascii() and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) \
            or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise InvalidRequest(f"'{param}' must be an integer from {MIN_SECONDS} (1 hour) to "
                             f"{MAX_SECONDS} (30 days).", param=param)
    return seconds


def check_object(value: Any, field: str) -> int | None:
    """A JSON body's `{"anchor", "seconds"}` object (batch `output_expires_after`)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"anchor", "seconds"}:
        raise InvalidRequest(f"'{field}' must be an object with 'anchor' and 'seconds'.",
                             param=field)
    return check(value.get("anchor"), value.get("seconds"), lambda key: f"{field}.{key}")


def expires_at(info: ObjectInfo) -> int | None:
    raw = info.metadata.get("expires_at")
    return int(raw) if raw else None


def expired(info: ObjectInfo, now: float | None = None) -> bool:
    at = expires_at(info)
    return at is not None and at <= (time.time() if now is None else now)


def marker(name: str, at: int) -> str:
    return f"{MARKERS}{at:010d}/{name}"


async def schedule(storage: ObjectStorage, container: str, name: str, at: int) -> None:
    """Put the object `name` in the sweep's line for `at` (before the object is committed)."""
    await storage.write(container, marker(name, at), one_chunk(b""))


async def remove(storage: ObjectStorage, container: str, info: ObjectInfo) -> bool:
    """Delete a file and its marker; whether the file was there."""
    found = await storage.delete(container, info.name)
    at = expires_at(info)
    if at is not None:
        await storage.delete(container, marker(info.name, at))
    return found


async def sweep(storage: ObjectStorage, now: float | None = None) -> int:
    """Delete the files whose time has come (up to SWEEP_PAGE per container); how many."""
    now = time.time() if now is None else now
    gate = asyncio.Semaphore(_DELETES)

    async def reclaim(container: str, mark: str) -> int:
        async with gate:
            at, name = mark[len(MARKERS):].split("/", 1)
            info = await storage.info(container, name)
            gone = 0
            if info is not None and expired(info, now):
                gone = int(await storage.delete(container, name))
            if info is None or gone or expires_at(info) != int(at):
                await storage.delete(container, mark)
            return gone
    total = 0
    for container in FILE_CONTAINERS:
        try:
            due = [m.name for m in await storage.list(container, MARKERS, limit=SWEEP_PAGE)
                   if int(m.name[len(MARKERS):].split("/", 1)[0]) <= now]
            total += sum(await asyncio.gather(*(reclaim(container, m) for m in due)))
        except StoreUnavailable as exc:       # the next sweep tries again
            log.warning("file expiry sweep of %s failed: %s", container, exc)
    if total:
        log.info("file expiry sweep: %d expired file(s) deleted", total)
    return total
