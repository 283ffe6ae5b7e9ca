"""Batch documents in object storage: read, create, change with a conditional write.

The document's status also rides in the object's metadata, so the sweeper finds the batches
that are still running from one listing, without reading every document.
"""
from __future__ import annotations

from typing import Any, Callable

from ..files.storage import BATCH_STATE, ObjectStorage, read_json, write_json
from ..store import StoreConflict
from . import model

Change = Callable[[dict[str, Any]], bool]      # edits the document; False: leave it as it is


def _name(project: str, batch_id: str) -> str:
    return f"{project}/{batch_id}"


async def load(storage: ObjectStorage, project: str,
               batch_id: str) -> tuple[dict[str, Any], str] | None:
    if not batch_id.startswith("batch_") or "/" in batch_id:
        return None
    return await read_json(storage, BATCH_STATE, _name(project, batch_id))


async def create(storage: ObjectStorage, doc: dict[str, Any]) -> None:
    await write_json(storage, BATCH_STATE, _name(doc["project"], doc["id"]), doc,
                     metadata={"status": doc["status"]}, if_absent=True)


async def update(storage: ObjectStorage, project: str, batch_id: str,
                 change: Change) -> dict[str, Any] | None:
    """Apply `change` to the current document and write it if still unchanged, re-reading
    and re-applying after a lost race. The document as it now stands (None if unknown)."""
    for _ in range(20):
        found = await load(storage, project, batch_id)
        if found is None:
            return None
        doc, etag = found
        if not change(doc):
            return doc
        try:
            await write_json(storage, BATCH_STATE, _name(project, batch_id), doc,
                             metadata={"status": doc["status"]}, if_match=etag)
            return doc
        except StoreConflict:
            continue
    raise StoreConflict(f"batch {batch_id} kept changing")


async def active(storage: ObjectStorage) -> list[tuple[str, str]]:
    """(project, batch id) of every batch not yet in a final state."""
    found = await storage.list(BATCH_STATE, "")
    pairs = [i.name.split("/", 1) for i in found
             if i.metadata.get("status") not in model.TERMINAL]
    return [(project, batch_id) for project, batch_id in pairs]


async def list_project(storage: ObjectStorage, project: str) -> list[str]:
    """The project's batch ids, oldest first (ids begin with their creation time)."""
    return [i.name.split("/", 1)[1] for i in await storage.list(BATCH_STATE, project + "/")]


async def counts(store: Any, doc: dict[str, Any]) -> dict[str, int]:
    """The final counts once finalized, else the live counters."""
    if doc.get("final_counts"):
        return doc["final_counts"]
    return {kind: int(await store.get_counter(model.counter_key(doc, kind)))
            for kind in model.COUNTS}


