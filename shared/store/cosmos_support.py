"""Cosmos DB plumbing every Cosmos-backed store shares: the container design, the one client per
process, error mapping, point reads, expiry fields and the ETag read-modify-write helper.

Container design (partition key chosen for each container's hot access pattern):

    models   /id       a few hundred small documents, all read on every catalog refresh (a
                       cross-partition query over one physical partition) and point-read by id
    keys     /id       id = the key's keyed hash: authentication is one point read (1 RU);
                       listing a project's keys and revoking by key_id are rare admin queries
    usage    /project  written once per request, read per project and time range: the admin
                       query stays inside one logical partition; rows may carry a retention `ttl`;
                       only the paths queries use are indexed
    usage_hourly, usage_daily  /project  sums per hour (day) and project, model, key and
                       operation, kept with each batch of rows (cosmos_rollups.py; the usage API)
    counters /id       limit and budget counters: one small document per project (and per key with
                       its own limits), changed by conditional patches; nothing indexed
    limits   /id       one limits document per project, point-read (and cached); nothing indexed
    responses /project stored Responses API responses: point reads by (project, id), `ttl`

Another feature adds its container with one line in `CONTAINERS` (its own partition key, and
`expiring=True` when its documents carry `ttl`), then reads and writes it through
`CosmosStore.container(name)` with the helpers below.

Expiry: a document that expires carries `ttl` (seconds, for Cosmos to delete it) and
`expires_at` (epoch seconds). Reads also filter on `expires_at`, so an expired document is never
returned even where deletion lags (and on the local test server, which does not implement TTL).
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import aiohttp
from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import PartitionKey, exceptions
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy

from ..config import Settings
from .concurrency import DEFAULT_ATTEMPTS, StoreConflict, Versioned, read_modify_write
from .base import StoreUnavailable

# Cosmos answers 404 with this sub-status when the database or container itself is missing:
# that is a deployment problem (503), not an absent document.
_OWNER_MISSING = 1003


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    partition_key: str          # the path, e.g. "/project"
    expiring: bool = False      # documents may carry `ttl`: created with default_ttl=-1
    # None: Cosmos's default policy (every property indexed). A tuple: only these paths are
    # indexed, every other one excluded; () indexes nothing (point reads and writes only).
    # A write's RU grow with the properties it indexes, so a container written per request or
    # per audio frame indexes only what its queries filter or sort on.
    index: tuple[str, ...] | None = None

    @property
    def indexed(self) -> bool:
        """Cosmos's default policy (every path)."""
        return self.index is None


CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("models", "/id"),
    ContainerSpec("keys", "/id"),
    # Queried by project (the partition), time range and expiry, newest first (cosmos.py
    # query_usage; cosmos_rollups.py scan_usage): single-property ORDER BY needs only the
    # range index on created_at, no composite index.
    ContainerSpec("usage", "/project", expiring=True,
                  index=("/project/?", "/created_at/?", "/expires_at/?")),
    ContainerSpec("usage_hourly", "/project"),
    ContainerSpec("usage_daily", "/project"),
    ContainerSpec("counters", "/id", expiring=True, index=()),   # see cosmos_counters.py
    ContainerSpec("limits", "/id", index=()),
    # Async chat jobs (shared/store/cosmos_jobs.py explains each).
    ContainerSpec("jobs", "/project", expiring=True),
    ContainerSpec("job_results", "/project", expiring=True),
    ContainerSpec("webhook_secrets", "/id"),
    # Sessions are point-read and replaced by id (a replace per audio append), listed by
    # project; audio chunks are queried by their session only (cosmos_sessions.py).
    ContainerSpec("rt_sessions", "/id", expiring=True, index=("/project/?",)),
    ContainerSpec("rt_audio", "/session_id", expiring=True, index=("/session_id/?",)),
    ContainerSpec("responses", "/project", expiring=True),       # see cosmos_responses.py
)


def indexing_policy(spec: ContainerSpec) -> dict[str, Any] | None:
    """What infra.bicep gives a container with `index` set: consistent mode, those paths
    included, every other path excluded (indexing mode "none" would be cheaper still for
    `index=()`, but Cosmos refuses TTL on such a container). None: the default policy."""
    if spec.index is None:
        return None
    return {"indexingMode": "consistent", "automatic": True,
            "includedPaths": [{"path": path} for path in spec.index],
            "excludedPaths": [{"path": "/*"}]}


NO_INDEX = indexing_policy(ContainerSpec("", "", index=()))


# -- the client -----------------------------------------------------------------------------
def _is_local(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_client(settings: Settings) -> tuple[CosmosClient, Any]:
    """The process's Cosmos client, and the credential object to close with it (or None).

    With COSMOS_KEY the account key signs requests; without it, DefaultAzureCredential finds the
    managed identity in Azure (or a developer's `az login` locally)."""
    endpoint = settings.cosmos_endpoint
    if not endpoint:
        raise ValueError("LLMPROXY_STORE=cosmos needs COSMOS_ENDPOINT "
                         "(https://ACCOUNT.documents.azure.com:443/)")
    if not settings.cosmos_verify_tls and not _is_local(endpoint):
        raise ValueError("COSMOS_VERIFY_TLS=false is only allowed for a local endpoint "
                         "(localhost or a loopback address)")
    owned_credential = None
    if settings.cosmos_key:
        credential: Any = settings.cosmos_key
    else:
        from azure.identity.aio import DefaultAzureCredential
        credential = owned_credential = DefaultAzureCredential()
    client = CosmosClient(endpoint, credential, connection_verify=settings.cosmos_verify_tls,
                          connection_timeout=settings.connect_timeout)
    return client, owned_credential


async def open_containers(client: CosmosClient, settings: Settings
                          ) -> tuple[DatabaseProxy, dict[str, ContainerProxy]]:
    """Get (and, with COSMOS_CREATE_IF_MISSING, create) the database and every container."""
    name = settings.cosmos_database
    with storage_errors("create database and containers"):
        if not settings.cosmos_create_if_missing:
            database = client.get_database_client(name)
            return database, {s.name: database.get_container_client(s.name) for s in CONTAINERS}
        database = await client.create_database_if_not_exists(name)
        containers = {}
        for spec in CONTAINERS:
            options: dict[str, Any] = {"default_ttl": -1} if spec.expiring else {}
            policy = indexing_policy(spec)
            if policy is not None:
                options["indexing_policy"] = policy
            containers[spec.name] = await database.create_container_if_not_exists(
                spec.name, PartitionKey(path=spec.partition_key), **options)
        return database, containers


# -- errors ---------------------------------------------------------------------------------
@contextlib.contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn whatever Cosmos or the network raises into the store's own errors.

    Stale ETag and "already exists" become `StoreConflict`; every other failure, including an
    unexpected 404, becomes `StoreUnavailable` so callers answer 503, never "not found"."""
    try:
        yield
    except (StoreConflict, StoreUnavailable):
        raise
    except exceptions.CosmosAccessConditionFailedError:
        raise StoreConflict(f"cosmos {action}: the document changed since it was read") from None
    except exceptions.CosmosResourceExistsError:
        raise StoreConflict(f"cosmos {action}: the document already exists") from None
    except exceptions.CosmosHttpResponseError as exc:
        raise StoreUnavailable(f"cosmos {action} failed with status {exc.status_code}"
                               f"/{exc.sub_status or 0}") from exc
    except (AzureError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        raise StoreUnavailable(f"cosmos {action} failed: {type(exc).__name__}") from exc


def is_missing_document(exc: exceptions.CosmosResourceNotFoundError) -> bool:
    """A 404 about the document itself, not about its container or database."""
    return (exc.sub_status or 0) != _OWNER_MISSING


def clean(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without Cosmos's system properties (`_etag`, `_ts`, ...) or expiry fields."""
    return {k: v for k, v in doc.items()
            if not k.startswith("_") and k not in ("ttl", "expires_at")}


# -- reads and writes -----------------------------------------------------------------------
async def read_item_or_none(container: ContainerProxy, item_id: str, partition_key: Any,
                            now: float | None = None) -> dict[str, Any] | None:
    """A point read: None only when the document does not exist (or has expired by `now`)."""
    with storage_errors(f"read {container.id}"):
        try:
            doc = await container.read_item(item_id, partition_key=partition_key)
        except exceptions.CosmosResourceNotFoundError as exc:
            if is_missing_document(exc):
                return None
            raise
    if now is not None and doc.get("expires_at") is not None and doc["expires_at"] <= now:
        return None
    return doc


async def query(container: ContainerProxy, sql: str, parameters: dict[str, Any],
                partition_key: Any = None) -> list[dict[str, Any]]:
    """Run a parameterized query (values only ever travel as `@name` parameters)."""
    params = [{"name": name, "value": value} for name, value in parameters.items()]
    options = {} if partition_key is None else {"partition_key": partition_key}
    with storage_errors(f"query {container.id}"):
        return [doc async for doc in container.query_items(sql, parameters=params, **options)]


def with_expiry(doc: dict[str, Any], ttl_seconds: float | None, now: float) -> dict[str, Any]:
    """Add `ttl` (for Cosmos) and `expires_at` (for reads) when the document should expire."""
    if not ttl_seconds:
        return doc
    return {**doc, "ttl": max(1, math.ceil(ttl_seconds)), "expires_at": now + ttl_seconds}


NOT_EXPIRED = "(NOT IS_DEFINED(c.expires_at) OR c.expires_at = null OR c.expires_at > @now)"


async def cosmos_read_modify_write(container: ContainerProxy, item_id: str, partition_key: Any,
                                   mutate: Callable[[dict[str, Any]], dict[str, Any] | None], *,
                                   attempts: int = DEFAULT_ATTEMPTS) -> dict[str, Any] | None:
    """Change one document with optimistic concurrency (ETag `IfNotModified`), retrying on races.

    `mutate` gets a copy of the current document (system properties removed) and returns the new
    document, or None for "no change needed". It may be called more than once, so it must be a
    pure function of its argument. Returns the written (or unchanged) document, None when the
    document does not exist; raises `StoreConflict` when every attempt lost a race and
    `StoreUnavailable` on any other failure.
    """
    async def read() -> Versioned[dict[str, Any]] | None:
        doc = await read_item_or_none(container, item_id, partition_key)
        return None if doc is None else Versioned(doc, doc["_etag"])

    async def write(doc: dict[str, Any], etag: str) -> str:
        return await replace_if_unchanged(container, item_id, doc, etag)

    def apply(doc: dict[str, Any]) -> dict[str, Any] | None:
        system = {k: v for k, v in doc.items() if k.startswith("_")}
        changed = mutate({k: v for k, v in doc.items() if not k.startswith("_")})
        return None if changed is None else {**changed, **system}

    result = await read_modify_write(read, write, apply, attempts=attempts)
    return None if result is None else {k: v for k, v in result.items() if not k.startswith("_")}


async def replace_if_unchanged(container: ContainerProxy, item_id: str, doc: dict[str, Any],
                               etag: str) -> str:
    """Replace the document only if its ETag is still `etag`; return the new ETag.

    A stale ETag, or a document deleted meanwhile, raises `StoreConflict`."""
    body = {k: v for k, v in doc.items() if not k.startswith("_")}
    with storage_errors(f"replace in {container.id}"):
        try:
            written = await container.replace_item(item_id, body, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified)
        except exceptions.CosmosResourceNotFoundError as exc:
            if is_missing_document(exc):
                raise StoreConflict(f"cosmos replace in {container.id}: the document "
                                    f"no longer exists") from None
            raise
    return written["_etag"]


async def conditional_upsert(container: ContainerProxy, item_id: str, body: dict[str, Any],
                             if_match: str | None) -> str:
    """Upsert an admin document (partition key = id); return its version (a hash of its
    `_etag`). With `if_match`: only if the stored version still is that (`ABSENT`: only if it
    does not exist), else `StoreConflict`; the write itself is conditional on the `_etag` read,
    so a writer between the read and the write makes it fail too."""
    from .concurrency import ABSENT, content_version
    if if_match is None:
        with storage_errors(f"upsert in {container.id}"):
            written = await container.upsert_item(body)
        return content_version(written["_etag"])
    current = await read_item_or_none(container, item_id, item_id)
    if if_match == ABSENT:
        if current is not None:
            raise StoreConflict(f"{container.id} {item_id} exists")
        with storage_errors(f"create in {container.id}"):
            try:
                written = await container.create_item(body)
            except exceptions.CosmosResourceExistsError:
                raise StoreConflict(f"{container.id} {item_id} exists") from None
        return content_version(written["_etag"])
    if current is None or content_version(current["_etag"]) != if_match:
        raise StoreConflict(f"{container.id} {item_id} changed since version {if_match}")
    return content_version(await replace_if_unchanged(container, item_id, body,
                                                      current["_etag"]))
