"""Counting what the gateway asks of its store: the measuring half of docs/scale.md.

`CountingStore` wraps any `Store` and records every contract call (name, bytes sent and
received as JSON). On the Cosmos backend it also wraps each container, so every Cosmos DB
operation (point read, create, upsert, replace, patch, delete, query) is recorded with its
container and document sizes: those are what Request Units are charged on. Tests assert round
trips per request with it; `bench/store_ops.py` turns the records into the per-request table.

Records go to `records` (in process) and, when `trace` names a file, one JSON line each (the
local runner's `--store-trace PATH`, for a gateway measured from another process). It is a
measuring tool: nothing in production wraps its store.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

_SKIP = {"open", "close", "ping", "container"}


def size(value: Any) -> int:
    """Bytes of a value as JSON (what travels to Cosmos DB; near enough for SQLite rows)."""
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    try:
        return len(json.dumps(value, default=str, separators=(",", ":")))
    except (TypeError, ValueError):
        return len(repr(value))


class Recorder:
    def __init__(self, trace: Path | str | None = None):
        self.records: list[dict[str, Any]] = []
        self._trace = Path(trace) if trace else None
        self._lock = threading.Lock()

    def add(self, layer: str, op: str, sent: int, received: int, *, container: str = "",
            status: str = "ok", items: int = 1) -> None:
        record = {"t": time.time(), "layer": layer, "op": op, "container": container,
                  "sent": sent, "received": received, "status": status, "items": items}
        with self._lock:
            self.records.append(record)
            if self._trace is not None:
                with open(self._trace, "a") as fh:
                    fh.write(json.dumps(record) + "\n")

    def mark(self) -> int:
        return len(self.records)

    def since(self, mark: int, layer: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records[mark:] if layer is None or r["layer"] == layer]


class CountingStore:
    """A `Store` that forwards every call to `inner` and records it (layer "store")."""

    def __init__(self, inner: Any, recorder: Recorder | None = None):
        self._inner = inner
        self.recorder = recorder or Recorder()

    async def open(self) -> None:
        await self._inner.open()
        containers = getattr(self._inner, "_containers", None)
        if isinstance(containers, dict):      # Cosmos: count each container operation too
            for name, container in list(containers.items()):
                if not isinstance(container, CountingContainer):
                    containers[name] = CountingContainer(container, self.recorder)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in _SKIP or name.startswith("_") or not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            sent = sum(size(a) for a in args) + sum(size(v) for v in kwargs.values())
            try:
                result = await attr(*args, **kwargs)
            except Exception as exc:
                self.recorder.add("store", name, sent, 0, status=type(exc).__name__)
                raise
            items = len(result) if isinstance(result, list) else 1
            self.recorder.add("store", name, sent, size(result), items=items)
            return result
        return call


_COSMOS_OPS = ("read_item", "create_item", "upsert_item", "replace_item", "patch_item",
               "delete_item", "execute_item_batch")


class CountingContainer:
    """A Cosmos `ContainerProxy` that records each operation (layer "cosmos"): one round trip
    each, a query counted once per page it returned."""

    def __init__(self, inner: Any, recorder: Recorder):
        self._inner = inner
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "query_items":
            return self._query(attr)
        if name not in _COSMOS_OPS:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("body", kwargs.get("patch_operations",
                                                 kwargs.get("batch_operations")))
            if body is None and args:
                body = args[-1] if name != "read_item" and name != "delete_item" else None
            sent = size(body)
            try:
                result = await attr(*args, **kwargs)
            except Exception as exc:
                self._recorder.add("cosmos", name, sent, 0, container=self._inner.id,
                                   status=getattr(exc, "status_code", None) and
                                   str(exc.status_code) or type(exc).__name__)
                raise
            self._recorder.add("cosmos", name, sent, size(result), container=self._inner.id)
            return result
        return call

    def _query(self, query_items: Callable[..., Any]) -> Callable[..., Any]:
        recorder, container = self._recorder, self._inner.id

        def query(*args: Any, **kwargs: Any) -> Any:
            async def rows() -> Any:
                received, count = 0, 0
                try:
                    async for doc in query_items(*args, **kwargs):
                        received += size(doc)
                        count += 1
                        yield doc
                finally:
                    recorder.add("cosmos", "query_items", size(args[0] if args else
                                                               kwargs.get("query")),
                                 received, container=container, items=count)
            return rows()
        return query


def counting(inner: Any, trace: Path | str | None = None) -> CountingStore:
    return CountingStore(inner, Recorder(trace))
