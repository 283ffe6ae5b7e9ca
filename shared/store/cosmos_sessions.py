"""Realtime sessions on Cosmos DB. Mixed into `CosmosStore`.

    rt_sessions  /id          every Web PubSub event point-reads its session by id (1 RU);
                              listing a project's sessions is a rare cross-partition query
    rt_audio     /session_id  the input audio buffer as ordered chunk documents, one logical
                              partition per session; each chunk holds at most 512 KB of pcm
                              (about 700 KB base64), far below the 2 MB item limit

Both expire (`ttl`) a day after the session would have ended, so abandoned sessions and their
audio clean themselves up. A session write is guarded twice: its `version` must be the one the
caller read, and the replace carries the ETag of the copy that was checked.
"""
from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import exceptions

from .base import RealtimeSession, StaleWrite
from .cosmos_support import (clean, is_missing_document, query, read_item_or_none,
                             storage_errors, with_expiry)

CHUNK_BYTES = 512 * 1024
_DELETE_CONCURRENCY = 8
_GRACE_SECONDS = 24 * 3600


def _ttl(session: RealtimeSession, now: float) -> float:
    try:
        ends = datetime.fromisoformat(session.expires_at).timestamp()
    except ValueError:
        ends = now
    return max(ends - now, 0) + _GRACE_SECONDS


def _session(doc: dict[str, Any]) -> RealtimeSession:
    data = clean(doc)
    data.pop("active", None)
    # `expires_at` is the expiry helpers' own field (epoch seconds): the session's ISO end
    # time is stored as `ends_at`.
    data["expires_at"] = data.pop("ends_at", "")
    return RealtimeSession(**data, etag=doc.get("_etag"))


class CosmosSessions:
    _clock: Any

    def container(self, name: str) -> Any:  # provided by CosmosStore
        raise NotImplementedError

    def _session_doc(self, session: RealtimeSession) -> dict[str, Any]:
        now = self._clock()
        doc = asdict(session)
        doc.pop("etag", None)
        doc["ends_at"] = doc.pop("expires_at")
        return with_expiry({**doc, "active": session.active}, _ttl(session, now), now)

    async def create_session(self, session: RealtimeSession) -> None:
        with storage_errors("create session"):
            await self.container("rt_sessions").create_item(self._session_doc(session))

    async def get_session(self, session_id: str) -> RealtimeSession | None:
        doc = await read_item_or_none(self.container("rt_sessions"), session_id, session_id,
                                      now=self._clock())
        return None if doc is None else _session(doc)

    async def list_sessions(self, project: str, limit: int = 100) -> list[RealtimeSession]:
        docs = await query(self.container("rt_sessions"),
                           "SELECT * FROM c WHERE c.project = @project", {"@project": project})
        now = self._clock()
        sessions = [_session(d) for d in docs
                    if d.get("expires_at") is None or d["expires_at"] > now]
        sessions.sort(key=lambda s: s.created_at, reverse=True)
        sessions.sort(key=lambda s: not s.active)            # stable: active first, newest first
        return sessions[:limit]

    async def replace_session(self, session: RealtimeSession) -> RealtimeSession:
        """One conditional replace when `session` carries the ETag of the copy it was made from
        (any write since changes the ETag, so the version check is implied); a copy without one
        (built, not read) is checked against a fresh read first."""
        container = self.container("rt_sessions")
        etag = session.etag
        if etag is None:
            current = await read_item_or_none(container, session.id, session.id)
            if current is None or current.get("version") != session.version:
                raise StaleWrite(session.id)
            etag = current["_etag"]
        stored = RealtimeSession(**{**asdict(session), "version": session.version + 1,
                                    "etag": None})
        with storage_errors("replace session"):
            try:
                written = await container.replace_item(
                    session.id, self._session_doc(stored), etag=etag,
                    match_condition=MatchConditions.IfNotModified)
            except exceptions.CosmosAccessConditionFailedError:
                raise StaleWrite(session.id) from None
            except exceptions.CosmosResourceNotFoundError as exc:
                if is_missing_document(exc):
                    raise StaleWrite(session.id) from None
                raise
        stored.etag = written.get("_etag") if isinstance(written, dict) else None
        return stored

    async def append_audio(self, session_id: str, pcm: bytes) -> None:
        container = self.container("rt_audio")
        now = self._clock()
        for offset in range(0, len(pcm), CHUNK_BYTES):
            # Ids sort in write order: nanosecond time, then a random tail against ties.
            doc = {"id": f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}",
                   "session_id": session_id,
                   "data": base64.b64encode(pcm[offset:offset + CHUNK_BYTES]).decode()}
            with storage_errors("append audio"):
                await container.create_item(with_expiry(doc, 2 * _GRACE_SECONDS, now))

    async def _chunks(self, session_id: str, fields: str = "c.id, c.data"
                      ) -> list[dict[str, Any]]:
        # Inside the session's own partition; `session_id` is the only path rt_audio indexes.
        docs = await query(self.container("rt_audio"),
                           f"SELECT {fields} FROM c WHERE c.session_id = @sid",
                           {"@sid": session_id}, partition_key=session_id)
        return sorted(docs, key=lambda d: d["id"])

    async def read_audio(self, session_id: str) -> bytes:
        return b"".join(base64.b64decode(d["data"]) for d in await self._chunks(session_id))

    async def clear_audio(self, session_id: str) -> None:
        """Delete the session's chunks, several at a time (a commit waits for this before the
        turn is transcribed). Not a transactional batch: one round trip instead of ten, billed
        the same, but the local Cosmos test server does not take Cosmos's batch format."""
        container = self.container("rt_audio")
        ids = [doc["id"] for doc in await self._chunks(session_id, "c.id")]  # not the audio again
        limit = asyncio.Semaphore(_DELETE_CONCURRENCY)

        async def delete(doc_id: str) -> None:
            async with limit:
                with storage_errors("clear audio"):
                    try:
                        await container.delete_item(doc_id, partition_key=session_id)
                    except exceptions.CosmosResourceNotFoundError as exc:
                        if not is_missing_document(exc):      # two clears racing: fine
                            raise
        await asyncio.gather(*(delete(i) for i in ids))
