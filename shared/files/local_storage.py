"""The embedded object storage for `make run` and tests: one file per object under the data
folder (`.data/files/<container>/`).

Each object is one file: a JSON header line (size, ETag, metadata), then the bytes. A write
streams into a temporary file and renames it over the object, so readers see the old object or
the new one, never a partial one, and a crash leaves only a temporary file (cleared at start).
Conditional writes are decided under one lock per process: the embedded backend serves one
gateway process, as SQLite does.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, BinaryIO
from urllib.parse import quote, unquote

from ..store import StoreConflict
from .storage import CHUNK, CONTAINERS, ObjectInfo, ObjectTooLarge

_TMP = ".tmp-"


class LocalStorage:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._ready = False

    def _prepare(self) -> None:
        """The folders, on first use (a gateway that never touches files creates nothing), and
        the temporary files a crash left behind."""
        with self._lock:
            if self._ready:
                return
            for container in CONTAINERS:
                folder = self.root / container
                folder.mkdir(parents=True, exist_ok=True)
                for leftover in folder.glob(_TMP + "*"):
                    leftover.unlink(missing_ok=True)
            self._ready = True

    def _folder(self, container: str) -> Path:
        if container not in CONTAINERS:
            raise ValueError(f"unknown container {container!r}")
        if not self._ready:
            self._prepare()
        return self.root / container

    def _path(self, container: str, name: str) -> Path:
        return self._folder(container) / quote(name, safe="")

    @staticmethod
    def _header(fh: BinaryIO, name: str) -> tuple[ObjectInfo, int]:
        line = fh.readline()
        head = json.loads(line)
        return ObjectInfo(name, head["size"], head["etag"], head["metadata"]), len(line)

    def _info_now(self, container: str, name: str) -> ObjectInfo | None:
        try:
            with open(self._path(container, name), "rb") as fh:
                return self._header(fh, name)[0]
        except FileNotFoundError:
            return None

    async def write(self, container: str, name: str, chunks: AsyncIterable[bytes], *,
                    metadata: dict[str, str] | None = None, limit: int | None = None,
                    if_match: str | None = None, if_absent: bool = False) -> ObjectInfo:
        target = self._path(container, name)
        body = target.parent / f"{_TMP}{uuid.uuid4().hex}.body"
        size = 0
        try:
            fh = await asyncio.to_thread(open, body, "wb")
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise ObjectTooLarge(f"more than {limit} bytes")
                    await asyncio.to_thread(fh.write, chunk)
            finally:
                fh.close()
            info = ObjectInfo(name, size, uuid.uuid4().hex, dict(metadata or {}))
            await asyncio.to_thread(self._commit, target, body, info, if_match, if_absent)
            return info
        finally:
            body.unlink(missing_ok=True)

    def _commit(self, target: Path, body: Path, info: ObjectInfo, if_match: str | None,
                if_absent: bool) -> None:
        """Header + body into one temporary file, then renamed over the object under the lock
        (the condition and the rename are one step)."""
        final = target.parent / f"{_TMP}{uuid.uuid4().hex}"
        try:
            with open(final, "wb") as out, open(body, "rb") as src:
                out.write(json.dumps({"size": info.size, "etag": info.etag,
                                      "metadata": info.metadata}).encode() + b"\n")
                while block := src.read(CHUNK):
                    out.write(block)
            with self._lock:
                current = self._info_now(target.parent.name, info.name)
                if if_absent and current is not None:
                    raise StoreConflict(f"{info.name} exists")
                if if_match is not None and (current is None or current.etag != if_match):
                    raise StoreConflict(f"{info.name} changed")
                os.replace(final, target)
        finally:
            final.unlink(missing_ok=True)

    async def read(self, container: str, name: str,
                   offset: int = 0) -> AsyncIterator[bytes] | None:
        try:
            fh = await asyncio.to_thread(open, self._path(container, name), "rb")
        except FileNotFoundError:
            return None
        _, skip = self._header(fh, name)
        fh.seek(skip + offset)
        return self._chunks(fh)

    @staticmethod
    async def _chunks(fh: BinaryIO) -> AsyncIterator[bytes]:
        # An open file keeps its bytes even if the object is replaced or deleted meanwhile.
        try:
            while block := await asyncio.to_thread(fh.read, CHUNK):
                yield block
        finally:
            fh.close()

    async def read_small(self, container: str, name: str) -> tuple[bytes, str] | None:
        def read() -> tuple[bytes, str] | None:
            try:
                with open(self._path(container, name), "rb") as fh:
                    info, _ = self._header(fh, name)
                    return fh.read(), info.etag
            except FileNotFoundError:
                return None
        return await asyncio.to_thread(read)

    async def info(self, container: str, name: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._info_now, container, name)

    async def list(self, container: str, prefix: str,
                   limit: int | None = None) -> list[ObjectInfo]:
        def scan() -> list[ObjectInfo]:
            names = sorted(name for entry in os.scandir(self._folder(container))
                           if not entry.name.startswith(_TMP)
                           and (name := unquote(entry.name)).startswith(prefix))
            found = []
            for name in names:
                info = self._info_now(container, name)
                if info is not None:
                    found.append(info)
                    if limit is not None and len(found) >= limit:
                        break
            return found
        return await asyncio.to_thread(scan)

    async def delete(self, container: str, name: str) -> bool:
        def remove() -> bool:
            with self._lock:
                try:
                    self._path(container, name).unlink()
                    return True
                except FileNotFoundError:
                    return False
        return await asyncio.to_thread(remove)

    async def close(self) -> None:
        return None
