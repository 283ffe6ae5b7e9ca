"""Request Units for a Cosmos DB operation: estimates, with every assumption written here.

Published facts (Azure Cosmos DB docs, "Request Units"): a point read of a 1 KB item costs 1 RU;
an operation's charge grows with item size; writes cost several times a read and grow with the
number of indexed properties; a partial document update (patch) is billed "the same way as other
database operations, users shouldn't expect a significant reduction in RU" (patch FAQ).

Assumptions (not published figures; change them here and every table follows):
- write (create, upsert, replace, patch, delete) of an item up to 1 KB with indexing off: 5 RU,
  plus 5 RU per further started KB;
- with the default policy (every property indexed): twice that, 10 RU per started KB (a usage row
  indexes ~13 properties; the issue's "several RU per indexed write");
- with a narrowed policy (only some paths indexed): the indexing part scales with the share of
  the document's top-level properties indexed, 5 RU × (1 + share) per started KB (Cosmos says a
  write's charge grows with the number of indexed properties, not by how much; nested
  properties, which the default policy also indexes, are not counted, so this understates what
  narrowing saves on nested documents such as realtime sessions);
- a conditional patch refused by its filter (412): 1 RU (it reads the item, writes nothing);
- a query inside one partition: 2.5 RU plus 1 RU per started KB returned.
"""
from __future__ import annotations

import math

READ_RU_PER_KB = 1.0
WRITE_RU_PER_KB = 5.0
INDEXED_WRITE_FACTOR = 2.0
REFUSED_PATCH_RU = 1.0
QUERY_BASE_RU = 2.5

WRITES = {"create_item", "upsert_item", "replace_item", "patch_item", "delete_item"}

# Top-level properties of each narrowed container's documents (with `id`, `ttl`,
# `expires_at`): usage rows (UsageRecord's 22 fields + 2), realtime sessions (RealtimeSession's
# fields + `active`, `ttl`, `expires_at`), audio chunks (id, session_id, data, ttl, expires_at).
PROPERTIES = {"usage": 24, "rt_sessions": 20, "rt_audio": 5}


def indexed_share(container: str) -> float:
    """The share of a document's properties `container` indexes, as cosmos_support.CONTAINERS
    (and infra.bicep) declare it: 1.0 for the default policy, 0.0 for none."""
    from shared.store.cosmos_support import CONTAINERS
    spec = next((c for c in CONTAINERS if c.name == container), None)
    if spec is None or spec.index is None:
        return 1.0
    if not spec.index:
        return 0.0
    return min(1.0, len(spec.index) / PROPERTIES.get(container, len(spec.index)))


def kb(n_bytes: float) -> int:
    return max(1, math.ceil(n_bytes / 1024))


def op_ru(op: str, sent: float, received: float, *, indexed: bool | float = True,
          refused: bool = False) -> float:
    """Estimated RU of one Cosmos operation moving `sent`/`received` bytes; `indexed` is
    whether the container indexes every property, or the share it indexes."""
    if op == "read_item":
        return READ_RU_PER_KB * kb(received)
    if op == "query_items":
        return QUERY_BASE_RU + READ_RU_PER_KB * kb(received) if received else QUERY_BASE_RU
    if op in WRITES:
        if refused:
            return REFUSED_PATCH_RU
        size_ = max(sent, received)
        share = float(indexed)
        return WRITE_RU_PER_KB * kb(size_) * (1.0 + (INDEXED_WRITE_FACTOR - 1.0) * share)
    return 0.0
