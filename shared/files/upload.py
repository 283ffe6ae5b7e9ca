"""An upload to the Files API, from the request's byte stream to storage.

The form is read part by part as it arrives (`multipart.read_parts`); the file part is written
to storage as it streams in. A file part that arrives before `purpose` (the form's order is the
client's choice) cannot be placed yet: it waits in a temporary file on disk, never in memory,
and is streamed from there once `purpose` is known. Every problem with the form is a 400 naming
the field; a file over `limit` raises `ObjectTooLarge` and nothing is kept.
"""
from __future__ import annotations

import asyncio
import tempfile
from typing import IO, AsyncIterator

from ..errors import InvalidRequest
from . import files
from .multipart import Part, read_parts
from .storage import CHUNK, ObjectInfo, ObjectStorage, ObjectTooLarge


def _purpose(value: str) -> str:
    if value not in files.UPLOAD_PURPOSES:
        raise InvalidRequest(f"'purpose' must be one of {', '.join(files.UPLOAD_PURPOSES)} "
                             f"(this gateway keeps files for batches and as plain data).",
                             param="purpose")
    return value


async def _spool(part: Part, limit: int) -> IO[bytes]:
    spool = await asyncio.to_thread(tempfile.TemporaryFile)
    size = 0
    try:
        async for chunk in part.chunks():
            size += len(chunk)
            if size > limit:
                raise ObjectTooLarge()
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


async def _unspool(spool: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(spool.read, CHUNK):
        yield chunk


class _Form:
    def __init__(self, storage: ObjectStorage, project: str, limit: int):
        self.storage, self.project, self.limit = storage, project, limit
        self.purpose: str | None = None
        self.filename = ""
        self.stored: ObjectInfo | None = None
        self.spooled: IO[bytes] | None = None

    async def take(self, part: Part) -> None:
        if part.name == "purpose" and part.filename is None:
            if self.purpose is not None:
                raise InvalidRequest("'purpose' was sent more than once.", param="purpose")
            self.purpose = _purpose(await part.text())
        elif part.name == "file" and part.filename is not None:
            if self.stored is not None or self.spooled is not None:
                raise InvalidRequest("'file' was sent more than once.", param="file")
            self.filename = part.filename or "upload"
            if self.purpose is None:
                self.spooled = await _spool(part, self.limit)
            else:
                self.stored = await self._store(part.chunks())
        elif part.name == "file":
            raise InvalidRequest("'file' must be a file part: its Content-Disposition needs a "
                                 "filename.", param="file")
        elif part.name == "purpose":
            raise InvalidRequest("'purpose' must be a plain form field, not a file.",
                                 param="purpose")
        else:
            # The name is the client's: quoted short, so an error never echoes a huge header.
            name = part.name if len(part.name) <= 64 else part.name[:64] + "…"
            raise InvalidRequest(f"Unknown form field '{name}' (this endpoint takes "
                                 "'file' and 'purpose').", param=name)

    async def _store(self, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        assert self.purpose is not None
        return await files.store(self.storage, self.project, chunks, filename=self.filename,
                                 purpose=self.purpose, limit=self.limit)

    async def finish(self) -> ObjectInfo:
        if self.purpose is None:
            raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose",
                                 code="missing_required_parameter")
        if self.stored is None and self.spooled is None:
            raise InvalidRequest("Missing required parameter: 'file' (a file part with a "
                                 "filename).", param="file", code="missing_required_parameter")
        if self.stored is None and self.spooled is not None:
            self.stored = await self._store(_unspool(self.spooled))
        assert self.stored is not None
        return self.stored


async def receive(storage: ObjectStorage, project: str, chunks: AsyncIterator[bytes],
                  content_type: str, limit: int) -> ObjectInfo:
    """Store the uploaded file; its object."""
    form = _Form(storage, project, limit)
    try:
        async for part in read_parts(chunks, content_type):
            await form.take(part)
        return await form.finish()
    finally:
        if form.spooled is not None:
            form.spooled.close()
