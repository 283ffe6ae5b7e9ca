"""An upload to the Files API, from the request's byte stream to storage.

The form is read part by part as it arrives (`multipart.read_parts`); the file part is written
to storage as it streams in. A file part that arrives before `purpose` (the form's order is the
client's choice) cannot be placed yet: it waits in a temporary file on disk, never in memory,
and is streamed from there once `purpose` is known. Fields may also follow the file (curl's and
the Node SDK's order puts `expires_after[...]` after it), so a file written as it streams is
not committed until the rest of the form has been read: the stream handed to storage goes on
to read the remaining parts. Every problem with the form is a 400 naming the field, and then
nothing is kept; a file over `limit` raises `ObjectTooLarge` and nothing is kept.
"""
from __future__ import annotations

import asyncio
import tempfile
from typing import IO, AsyncIterator

from ..errors import InvalidRequest
from . import expiry, files
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


# What the openai SDKs send for `expires_after={"anchor": ..., "seconds": ...}` in a form.
_EXPIRY_FIELD = "expires_after[{}]"
_EXPIRY_FIELDS = {_EXPIRY_FIELD.format(key): key for key in ("anchor", "seconds")}


class _Form:
    def __init__(self, storage: ObjectStorage, project: str, limit: int):
        self.storage, self.project, self.limit = storage, project, limit
        self.purpose: str | None = None
        self.filename = ""
        self.expiry: dict[str, str] = {}
        self.file_seen = False
        self.stored: ObjectInfo | None = None
        self.spooled: IO[bytes] | None = None

    async def take(self, part: Part, rest: AsyncIterator[Part]) -> None:
        """One part; `rest` the parts after it (read here when the file streams to storage)."""
        if part.name == "purpose" and part.filename is None:
            if self.purpose is not None:
                raise InvalidRequest("'purpose' was sent more than once.", param="purpose")
            self.purpose = _purpose(await part.text())
        elif part.name in _EXPIRY_FIELDS and part.filename is None:
            if part.name in self.expiry:
                raise InvalidRequest(f"'{part.name}' was sent more than once.",
                                     param=part.name)
            self.expiry[part.name] = value = await part.text()
            if _EXPIRY_FIELDS[part.name] == "anchor":        # a bad value fails at once
                expiry.check_anchor(value, part.name)
            else:
                expiry.check_seconds(value, part.name, text=True)
        elif part.name == "file" and part.filename is not None:
            if self.file_seen:
                raise InvalidRequest("'file' was sent more than once.", param="file")
            self.file_seen = True
            self.filename = part.filename or "upload"
            if self.purpose is None:
                self.spooled = await _spool(part, self.limit)
            else:
                self.stored = await self._store(self._file_and_rest(part, rest))
        elif part.name == "file":
            raise InvalidRequest("'file' must be a file part: its Content-Disposition needs a "
                                 "filename.", param="file")
        elif part.name == "purpose":
            raise InvalidRequest("'purpose' must be a plain form field, not a file.",
                                 param="purpose")
        else:
            # The name is the client's: quoted short, so an error never echoes a huge header.
            name = part.name if len(part.name) <= 64 else part.name[:64] + "…"
            hint = (" (send it as 'expires_after[anchor]' and 'expires_after[seconds]', as the "
                    "openai SDKs do)" if part.name == "expires_after" else "")
            raise InvalidRequest(f"Unknown form field '{name}'{hint} (this endpoint takes "
                                 "'file', 'purpose' and 'expires_after').", param=name)

    async def _file_and_rest(self, part: Part, rest: AsyncIterator[Part]) -> AsyncIterator[bytes]:
        """The file's bytes, then the rest of the form, so that storage commits the file only
        once the whole form is read and valid."""
        async for chunk in part.chunks():
            yield chunk
        async for later in rest:
            await self.take(later, rest)

    def _expires_after(self) -> int | None:
        """Seconds after creation, asked once the whole form has been read."""
        if not self.expiry:
            assert self.purpose is not None
            return expiry.DEFAULT_SECONDS.get(self.purpose)
        return expiry.check(self.expiry.get(_EXPIRY_FIELD.format("anchor")),
                            self.expiry.get(_EXPIRY_FIELD.format("seconds")),
                            _EXPIRY_FIELD.format, text=True)

    async def _store(self, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        assert self.purpose is not None
        return await files.store(self.storage, self.project, chunks, filename=self.filename,
                                 purpose=self.purpose, limit=self.limit,
                                 expires_after=self._expires_after)

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
    parts = read_parts(chunks, content_type)
    try:
        async for part in parts:
            await form.take(part, parts)
        return await form.finish()
    finally:
        if form.spooled is not None:
            form.spooled.close()
