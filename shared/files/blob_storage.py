"""Azure Blob Storage behind the object storage contract (azure-storage-blob's async client).

In Azure the gateway reaches the storage account through its managed identity (the template
gives it a data-plane role and creates the containers); tests use Azurite with its well-known
development account through a connection string. A write stages the stream as blocks of
`BLOCK` bytes and commits the block list at the end: until the commit nothing is visible, and
uncommitted blocks of an abandoned write are discarded by the service. Metadata values are
percent-encoded (blob metadata travels as HTTP headers, which are ASCII).
"""
from __future__ import annotations

import base64
import logging
from typing import Any, AsyncIterable, AsyncIterator
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import (AzureError, ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError)

from ..store import StoreConflict, StoreUnavailable
from .storage import CONTAINERS, ObjectInfo, ObjectTooLarge

log = logging.getLogger(__name__)
BLOCK = 4 * 1024 * 1024


def _encode(metadata: dict[str, str] | None) -> dict[str, str]:
    return {k: quote(v, safe="") for k, v in (metadata or {}).items()}


def _decode(metadata: dict[str, str] | None) -> dict[str, str]:
    return {k: unquote(v) for k, v in (metadata or {}).items()}


class BlobStorage:
    def __init__(self, *, account_url: str = "", connection_string: str = "",
                 create_containers: bool = False):
        self._account_url, self._connection_string = account_url, connection_string
        self._create = create_containers
        self._service: Any = None
        self._ready = False

    async def _client(self, container: str) -> Any:
        if container not in CONTAINERS:
            raise ValueError(f"unknown container {container!r}")
        if self._service is None:
            from azure.storage.blob.aio import BlobServiceClient
            if self._connection_string:
                self._service = BlobServiceClient.from_connection_string(self._connection_string)
            else:
                from ..azure_auth import async_credential
                self._service = BlobServiceClient(self._account_url,
                                                  credential=async_credential())
        if self._create and not self._ready:
            for name in CONTAINERS:        # locally only; in Azure the deployment made them
                try:
                    await self._service.create_container(name)
                except ResourceExistsError:
                    pass
            self._ready = True
        return self._service.get_container_client(container)

    async def write(self, container: str, name: str, chunks: AsyncIterable[bytes], *,
                    metadata: dict[str, str] | None = None, limit: int | None = None,
                    if_match: str | None = None, if_absent: bool = False) -> ObjectInfo:
        blob = (await self._client(container)).get_blob_client(name)
        blocks: list[str] = []
        pending: list[bytes] = []
        buffered = size = 0

        async def stage() -> None:
            nonlocal buffered
            block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
            await blob.stage_block(block_id, b"".join(pending))
            blocks.append(block_id)
            pending.clear()
            buffered = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ObjectTooLarge(f"more than {limit} bytes")
                pending.append(chunk)
                buffered += len(chunk)
                if buffered >= BLOCK:
                    await stage()
            if pending or not blocks:
                await stage()
            conditions: dict[str, Any] = {}
            if if_match is not None:
                conditions = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
            elif if_absent:
                conditions = {"match_condition": MatchConditions.IfMissing}
            result = await blob.commit_block_list(blocks, metadata=_encode(metadata),
                                                  **conditions)
        except (ResourceModifiedError, ResourceExistsError) as exc:
            raise StoreConflict(f"{name}: the write's condition failed") from exc
        except ResourceNotFoundError as exc:
            if if_match is not None:
                raise StoreConflict(f"{name} is gone") from exc
            raise StoreUnavailable(f"blob container {container} is missing") from exc
        except AzureError as exc:
            raise StoreUnavailable(f"blob write failed: {type(exc).__name__}") from exc
        return ObjectInfo(name, size, result["etag"], dict(metadata or {}))

    async def read(self, container: str, name: str,
                   offset: int = 0) -> AsyncIterator[bytes] | None:
        blob = (await self._client(container)).get_blob_client(name)
        try:
            props = await blob.get_blob_properties()
            if offset >= props.size:
                return _empty()
            downloader = await blob.download_blob(offset=offset or None,
                                                  length=(props.size - offset) if offset else None,
                                                  etag=props.etag,
                                                  match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise StoreUnavailable(f"blob read failed: {type(exc).__name__}") from exc
        return _chunks(downloader)

    async def read_small(self, container: str, name: str) -> tuple[bytes, str] | None:
        blob = (await self._client(container)).get_blob_client(name)
        try:
            downloader = await blob.download_blob()
            return await downloader.readall(), downloader.properties.etag
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise StoreUnavailable(f"blob read failed: {type(exc).__name__}") from exc

    async def info(self, container: str, name: str) -> ObjectInfo | None:
        blob = (await self._client(container)).get_blob_client(name)
        try:
            props = await blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise StoreUnavailable(f"blob read failed: {type(exc).__name__}") from exc
        return ObjectInfo(name, props.size, props.etag, _decode(props.metadata))

    async def list(self, container: str, prefix: str,
                   limit: int | None = None) -> list[ObjectInfo]:
        client = await self._client(container)
        found: list[ObjectInfo] = []
        try:
            # The service lists by name; pages are fetched as the iteration needs them, so a
            # limit within one page costs one call.
            async for b in client.list_blobs(name_starts_with=prefix, include=["metadata"],
                                             results_per_page=limit):
                found.append(ObjectInfo(b.name, b.size, b.etag, _decode(b.metadata)))
                if limit is not None and len(found) >= limit:
                    break
            return found
        except AzureError as exc:
            raise StoreUnavailable(f"blob listing failed: {type(exc).__name__}") from exc

    async def delete(self, container: str, name: str) -> bool:
        blob = (await self._client(container)).get_blob_client(name)
        try:
            await blob.delete_blob()
            return True
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise StoreUnavailable(f"blob delete failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
            self._service = None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


async def _chunks(downloader: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in downloader.chunks():
            yield chunk
    except AzureError as exc:
        raise StoreUnavailable(f"blob read failed: {type(exc).__name__}") from exc
