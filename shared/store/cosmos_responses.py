"""Stored Responses API responses on Cosmos DB (mixed into `CosmosStore`).

Container `responses`, partition key `/project`: every lookup (retrieve, continue, list input
items, delete) names the caller's project and the response id, so each is a point read inside
one logical partition, and another project's id simply is not there (404). Each item carries
`ttl` (the seconds left of its retention, for Cosmos to delete it) and `expires_at` (epoch
seconds, so reads hide it even where deletion lags).
"""
from __future__ import annotations

import math
from typing import Any

from .cosmos_support import clean, delete_item_if_present, read_item_or_none, storage_errors


class CosmosResponses:
    """Needs `self.container(name)` and `self._clock` from `CosmosStore`."""
    _clock: Any

    async def put_response(self, doc: dict[str, Any]) -> None:
        ttl = max(1, math.ceil(doc["expires_at"] - self._clock()))
        with storage_errors("upsert response"):
            await self.container("responses").upsert_item({**doc, "ttl": ttl})

    async def get_response(self, project: str, response_id: str) -> dict[str, Any] | None:
        doc = await read_item_or_none(self.container("responses"), response_id, project,
                                      now=self._clock())
        if doc is None:
            return None
        expires_at = doc["expires_at"]
        return {**clean(doc), "expires_at": expires_at}

    async def delete_response(self, project: str, response_id: str) -> bool:
        if await self.get_response(project, response_id) is None:
            return False                       # absent, or expired and not yet deleted
        return await delete_item_if_present(self.container("responses"), response_id, project,
                                            "delete response")
