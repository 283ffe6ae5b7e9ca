"""File records: what a project uploaded (or a batch produced), as OpenAI's FileObject.

A file is one object, named `<project>/<file id>` in the container of its purpose; its
filename, purpose and creation time ride in the object's metadata, so storage is the only
record there is (nothing to keep in step elsewhere). Ids start with the creation time in hex,
so a listing by name is a listing by age.
"""
from __future__ import annotations

import re
import secrets
import time
from typing import Any, AsyncIterator

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
            "purpose": meta.get("purpose", ""), "status": "processed", "expires_at": None,
            "status_details": None}


async def store(storage: ObjectStorage, project: str, chunks: AsyncIterator[bytes], *,
                filename: str, purpose: str, limit: int | None,
                file_id: str | None = None) -> ObjectInfo:
    """Write a file; `ObjectTooLarge` past `limit`. A given `file_id` (a batch's output, named
    after the batch) is written at most once: a second writer finds it and keeps it."""
    file_id = file_id or new_id()
    metadata = {"filename": filename, "purpose": purpose,
                "created_at": str(int(time.time()))}
    return await storage.write(CONTAINER_OF[purpose], object_name(project, file_id), chunks,
                               metadata=metadata, limit=limit)


async def find(storage: ObjectStorage, project: str,
               file_id: str) -> tuple[str, ObjectInfo] | None:
    """The project's file and its container; None for an unknown id or another project's."""
    if not _ID.match(file_id or ""):
        return None
    for container in (BATCH_INPUT, USER_DATA, BATCH_OUTPUT):
        info = await storage.info(container, object_name(project, file_id))
        if info is not None:
            return container, info
    return None


async def list_files(storage: ObjectStorage, project: str,
                     purpose: str | None) -> list[ObjectInfo]:
    """Oldest first by (created_at, id)."""
    containers = [CONTAINER_OF[purpose]] if purpose else list(CONTAINER_OF.values())
    found: list[ObjectInfo] = []
    for container in containers:
        found += await storage.list(container, project + "/")
    return sorted(found, key=lambda i: (int(i.metadata.get("created_at", "0")), i.name))
