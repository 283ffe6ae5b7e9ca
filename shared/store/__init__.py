"""Store selection: `LLMPROXY_STORE` picks the backend; SQLite is the embedded default."""
from __future__ import annotations

from ..config import Settings
from .base import (KeyRecord, RealtimeSession, StaleWrite, Store, StoreUnavailable,
                   UsageRecord)

__all__ = ["KeyRecord", "RealtimeSession", "StaleWrite", "Store", "StoreUnavailable",
           "UsageRecord", "create_store"]


def create_store(settings: Settings) -> Store:
    if settings.store == "sqlite":
        from .sqlite import SqliteStore
        return SqliteStore(settings.data_dir / "llmproxy.sqlite3")
    raise ValueError(f"LLMPROXY_STORE={settings.store!r} is not a known store (expected: sqlite)")
