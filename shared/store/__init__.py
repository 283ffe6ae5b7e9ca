"""Store selection: `LLMPROXY_STORE` picks the backend; SQLite is the embedded default, Cosmos DB
the production store."""
from __future__ import annotations

from ..config import Settings
from .base import (ABSENT, KeyRecord, RealtimeSession, StaleWrite, Store, StoreConflict, StoredJob,
                   StoreUnavailable, UsageRecord, Versioned)

__all__ = ["ABSENT", "KeyRecord", "RealtimeSession", "StaleWrite", "Store", "StoreConflict", "StoredJob",
           "StoreUnavailable", "UsageRecord", "Versioned", "create_store"]


def create_store(settings: Settings) -> Store:
    retention = settings.usage_retention_days * 86400 or None
    if settings.store == "sqlite":
        from .sqlite import SqliteStore
        return SqliteStore(settings.data_dir / "llmproxy.sqlite3", usage_ttl_seconds=retention)
    if settings.store == "cosmos":
        from .cosmos import CosmosStore     # imported only when used: the SDK is not small
        return CosmosStore(settings, usage_ttl_seconds=retention)
    raise ValueError(f"LLMPROXY_STORE={settings.store!r} is not a known store "
                     f"(expected: sqlite or cosmos)")
