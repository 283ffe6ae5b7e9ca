"""File records: what a project uploaded (or a batch produced), as OpenAI's FileObject.

A file is one object, named `<project>/<file id>` in the container of its purpose; its
filename, purpose, creation time and expiry ride in the object's metadata, so storage is the
only record there is (nothing to keep in step elsewhere). Ids start with the creation time in
hex, so a listing by name is a listing by age. An expired file is gone (shared/files/expiry.py).
"""
from __future__ import annotations

import re
import secrets
import time
from typing import Any, AsyncIterator, Callable

from . import expiry
from .storage import BATCH_INPUT, BATCH_OUTPUT, USER_DATA, ObjectInfo, ObjectStorage

CONTAINER_OF = {"batch": BATCH_INPUT, "user_data": USER_DATA, "batch_output": BATCH_OUTPUT}
UPLOAD_PURPOSES = ("batch", "user_data")
_ID = re.compile(r"^file-[A-Za-z0-9]{1,64}$")


def new_id() -> str:
    return f"file-{time.time_ns() // 1000:014x}{secrets.token_hex(8)}"


def object_name(project: str, file_id: str) -> str:
    return f"{project}/{file_id}"


def public(info: ObjectInfo) -> dict[str, Any]:
    meta = info.metadata
    return {"id": info.name.split("/", 1)[1], "object": "file", "bytes": info.size,
            "created_at": int(meta.get("created_at", "0")), "filename": meta.get("filename", ""),
            "purpose": meta.get("purpose", ""), "status": "processed",
            "expires_at": expiry.expires_at(info),
            "status_details": None}


async def store(storage: ObjectStorage, project: str, chunks: AsyncIterator[bytes], *,
                filename: str, purpose: str, limit: int | None, file_id: str | None = None,
                expires_after: int | None | Callable[[], int | None] = None) -> ObjectInfo:
    """Write a file; `ObjectTooLarge` past `limit`. A given `file_id` (a batch's output, named
    after the batch) is written at most once: a second writer finds it and keeps it.
    `expires_after` (seconds after creation; None: never) may be a function asked once the
    stream has ended: an upload's form may send it after the file. The expiry's marker is
    written then, before the file is committed."""
    file_id = file_id or new_id()
    created = int(time.time())
    container, name = CONTAINER_OF[purpose], object_name(project, file_id)
    metadata = {"filename": filename, "purpose": purpose, "created_at": str(created)}

    async def then_expiry() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk
        seconds = expires_after() if callable(expires_after) else expires_after
        if seconds is not None:
            metadata["expires_at"] = str(created + seconds)
            await expiry.schedule(storage, container, name, created + seconds)
    return await storage.write(container, name, then_expiry(), metadata=metadata, limit=limit)


async def find(storage: ObjectStorage, project: str,
               file_id: str) -> tuple[str, ObjectInfo] | None:
    """The project's file and its container; None for an unknown id or another project's."""
    if not _ID.match(file_id or ""):
        return None
    for container in (BATCH_INPUT, USER_DATA, BATCH_OUTPUT):
        info = await storage.info(container, object_name(project, file_id))
        if info is not None:
            if expiry.expired(info):           # gone: reclaimed now rather than at the sweep
                await expiry.remove(storage, container, info)
                return None
            return container, info
    return None


async def list_files(storage: ObjectStorage, project: str,
                     purpose: str | None) -> list[ObjectInfo]:
    """Oldest first by (created_at, id); expired files left out (the sweep deletes them)."""
    containers = [CONTAINER_OF[purpose]] if purpose else list(CONTAINER_OF.values())
    found: list[ObjectInfo] = []
    now = time.time()
    for container in containers:
        found += [i for i in await storage.list(container, project + "/")
                  if not expiry.expired(i, now)]
    return sorted(found, key=lambda i: (int(i.metadata.get("created_at", "0")), i.name))
