"""The object storage contract: named byte streams with a little metadata, in containers.

Uploads are written from an async iterator of chunks and read back as one, so no object is ever
held whole in memory; a write that passes `limit` raises `ObjectTooLarge` and leaves nothing
behind, and a write is all-or-nothing (a crash mid-write leaves no partial object). Writes can
be conditional (`if_match` an ETag, or `if_absent`), which is how batch state documents change
safely when several workers touch the same batch. One contract test suite
(`tests/test_object_storage.py`) runs against every backend.

A write takes its `metadata` once the stream has ended, so a writer may still complete it from
inside the stream: an upload's form may carry fields (`expires_after[...]`) after the file.

Containers are fixed, one per purpose (the deployment creates them in Azure): uploads for
batches, uploads kept as plain data, the gateway's batch output files, batch state documents.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterable, AsyncIterator, Protocol

from ..store import StoreConflict

__all__ = ["CONTAINERS", "ObjectInfo", "ObjectStorage", "ObjectTooLarge", "StoreConflict",
           "create_storage", "one_chunk", "read_json", "write_json"]

BATCH_INPUT, USER_DATA, BATCH_OUTPUT, BATCH_STATE = (
    "batch", "user-data", "batch-output", "batches")
CONTAINERS = (BATCH_INPUT, USER_DATA, BATCH_OUTPUT, BATCH_STATE)
CHUNK = 1024 * 1024                   # what a read yields at a time


class ObjectTooLarge(Exception):
    """The stream passed the write's `limit`; nothing was stored."""


@dataclass
class ObjectInfo:
    name: str
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStorage(Protocol):
    async def write(self, container: str, name: str, chunks: AsyncIterable[bytes], *,
                    metadata: dict[str, str] | None = None, limit: int | None = None,
                    if_match: str | None = None, if_absent: bool = False) -> ObjectInfo:
        """Store the stream as `name` (replacing it unless a condition says otherwise);
        `StoreConflict` when `if_match` is not the current ETag (or the object is gone) or
        `if_absent` finds the object; `ObjectTooLarge` past `limit` bytes."""

    async def read(self, container: str, name: str,
                   offset: int = 0) -> AsyncIterator[bytes] | None:
        """The object's bytes from `offset`, in chunks; None if there is no such object."""

    async def read_small(self, container: str, name: str) -> tuple[bytes, str] | None:
        """A small object whole, with its ETag from the same read (state documents only;
        files are always streamed)."""

    async def info(self, container: str, name: str) -> ObjectInfo | None: ...

    async def list(self, container: str, prefix: str,
                   limit: int | None = None) -> list[ObjectInfo]:
        """Objects whose name starts with `prefix`, by name; the first `limit` of them (on Blob
        Storage one listing call when `limit` is at most 5000, the service's page size)."""

    async def delete(self, container: str, name: str) -> bool: ...

    async def close(self) -> None: ...


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_json(storage: ObjectStorage, container: str,
                    name: str) -> tuple[dict[str, Any], str] | None:
    """A JSON state document and the ETag to write it back with."""
    found = await storage.read_small(container, name)
    return None if found is None else (json.loads(found[0]), found[1])


async def write_json(storage: ObjectStorage, container: str, name: str, doc: dict[str, Any], *,
                     metadata: dict[str, str] | None = None, if_match: str | None = None,
                     if_absent: bool = False) -> str:
    info = await storage.write(container, name, one_chunk(json.dumps(doc).encode()),
                               metadata=metadata, if_match=if_match, if_absent=if_absent)
    return info.etag


def create_storage(settings: Any) -> ObjectStorage:
    """Blob Storage when an account is configured, else the folder under the data dir."""
    if settings.blob_account_url or settings.blob_connection_string:
        from .blob_storage import BlobStorage
        return BlobStorage(account_url=settings.blob_account_url,
                           connection_string=settings.blob_connection_string,
                           create_containers=settings.blob_create_containers)
    from .local_storage import LocalStorage
    return LocalStorage(settings.data_dir / "files")
