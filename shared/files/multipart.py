"""A streaming multipart/form-data reader (RFC 7578) for uploads too large to hold in memory.

    async for part in read_parts(chunks, content_type):
        if part.filename is None:
            value = await part.text()             # a form field, capped at FIELD_LIMIT
        else:
            async for data in part.chunks(): ...  # a file, as it arrives

Each part must be consumed (or `drain()`ed) before the next one is read. The body is scanned for
the delimiter with a carry-over of one delimiter length between chunks, so a boundary split
across two network reads is still found. Every parsing problem is a 400.
"""
from __future__ import annotations

from typing import AsyncIterator

from ..errors import InvalidRequest
from ..multipart import boundary_of, header_params

FIELD_LIMIT = 64 * 1024
_HEADER_LIMIT = 16 * 1024


class _Reader:
    def __init__(self, chunks: AsyncIterator[bytes]):
        self._chunks = chunks.__aiter__()
        self.buf = b"\r\n"                # so the first delimiter may start the body

    async def fill(self) -> None:
        try:
            self.buf += await self._chunks.__anext__()
        except StopAsyncIteration:
            raise InvalidRequest("The multipart body is incomplete (no closing boundary).") \
                from None


class Part:
    def __init__(self, reader: _Reader, delimiter: bytes, headers: dict[str, str]):
        self._reader, self._delimiter = reader, delimiter
        _, disposition = header_params("content-disposition",
                                        headers.get("content-disposition", ""))
        if not disposition.get("name"):
            raise InvalidRequest("A multipart part has no field name.")
        self.name: str = disposition["name"]
        self.filename: str | None = disposition.get("filename")
        self.content_type = headers.get("content-type", "application/octet-stream")
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        reader, delimiter = self._reader, self._delimiter
        keep = len(delimiter) - 1
        while not self.done:
            at = reader.buf.find(delimiter)
            if at >= 0:
                data, reader.buf = reader.buf[:at], reader.buf[at + len(delimiter):]
                self.done = True
                if data:
                    yield data
                return
            if len(reader.buf) > keep:
                data, reader.buf = reader.buf[:-keep], reader.buf[-keep:]
                yield data
            await reader.fill()

    async def text(self) -> str:
        data = b""
        async for chunk in self.chunks():
            data += chunk
            if len(data) > FIELD_LIMIT:
                raise InvalidRequest(f"The form field '{self.name}' is longer than "
                                     f"{FIELD_LIMIT} bytes.", param=self.name)
        return data.decode("utf-8", "replace")

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass


async def _headers(reader: _Reader) -> dict[str, str]:
    while (end := reader.buf.find(b"\r\n\r\n")) < 0:
        if len(reader.buf) > _HEADER_LIMIT:
            raise InvalidRequest("A multipart part's headers are too long.")
        await reader.fill()
    head, reader.buf = reader.buf[:end], reader.buf[end + 4:]
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


async def read_parts(chunks: AsyncIterator[bytes], content_type: str) -> AsyncIterator[Part]:
    delimiter = b"\r\n--" + boundary_of(content_type)
    reader = _Reader(chunks)
    while (at := reader.buf.find(delimiter)) < 0:          # the preamble is ignored
        if len(reader.buf) > _HEADER_LIMIT:
            reader.buf = reader.buf[-len(delimiter):]
        await reader.fill()
    reader.buf = reader.buf[at + len(delimiter):]
    part: Part | None = None
    while True:
        while len(reader.buf) < 2:
            await reader.fill()
        if reader.buf.startswith(b"--"):
            return                                    # the closing delimiter
        while (line_end := reader.buf.find(b"\r\n")) < 0:
            if len(reader.buf) > _HEADER_LIMIT:
                raise InvalidRequest("The multipart body is malformed.")
            await reader.fill()
        if reader.buf[:line_end].strip(b" \t"):       # only padding may follow a delimiter
            raise InvalidRequest("The multipart body is malformed.")
        reader.buf = reader.buf[line_end + 2:]
        part = Part(reader, delimiter, await _headers(reader))
        yield part
        if not part.done:
            await part.drain()
