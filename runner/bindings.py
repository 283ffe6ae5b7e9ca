"""Output bindings, supplied locally the way the Functions host supplies them in Azure: the
function gets a `func.Out` per output binding, and after it returns the runner delivers what was
set (an Event Hub event into the local hub; Cosmos DB documents into the embedded store)."""
from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

import azure.functions as func

from .local_hub import LocalHub

T = TypeVar("T")


class LocalOut(func.Out, Generic[T]):
    def __init__(self) -> None:
        self._value: Any = None
        self.was_set = False

    def set(self, val: T) -> None:
        self._value, self.was_set = val, True

    def get(self) -> T:
        return self._value


def _event_bodies(value: Any) -> list[bytes]:
    """As the Event Hub output converter takes them: str, bytes, or a list (one event each)."""
    items = value if isinstance(value, list) else [value]
    return [i if isinstance(i, bytes) else
            (i if isinstance(i, str) else json.dumps(i)).encode() for i in items]


def _documents(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, func.Document):
        return [dict(value)]
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    items = value if isinstance(value, (list, func.DocumentList)) else [value]
    return [dict(d) for d in items]


class OutputSinks:
    def __init__(self, hub: LocalHub, store_getter: Any):
        self._hub = hub
        self._store = store_getter          # async () -> Store (the gateway's)

    def make(self, bindings: dict[str, Any]) -> dict[str, LocalOut]:
        unknown = [b.get_binding_name() for b in bindings.values()
                   if not (b.get_binding_name() == "eventHub" or b.get_binding_name() == "cosmosDB"
                           and b.container_name == "job_results")]
        if unknown:
            raise RuntimeError(f"the local runner cannot supply output bindings {unknown}")
        return {name: LocalOut() for name in bindings}

    async def deliver(self, bindings: dict[str, Any], outs: dict[str, LocalOut]) -> None:
        for name, binding in bindings.items():
            out = outs[name]
            if not out.was_set:
                continue
            if binding.get_binding_name() == "eventHub":
                await self._hub.send(_event_bodies(out.get()))
            else:
                await (await self._store()).put_job_results(_documents(out.get()))
