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

# Containers whose indexing policy is "none" in infra.bicep (point reads and writes only).
UNINDEXED_AFTER = {"counters"}


def kb(n_bytes: float) -> int:
    return max(1, math.ceil(n_bytes / 1024))


def op_ru(op: str, sent: float, received: float, *, indexed: bool = True,
          refused: bool = False) -> float:
    """Estimated RU of one Cosmos operation moving `sent`/`received` bytes."""
    if op == "read_item":
        return READ_RU_PER_KB * kb(received)
    if op == "query_items":
        return QUERY_BASE_RU + READ_RU_PER_KB * kb(received) if received else QUERY_BASE_RU
    if op in WRITES:
        if refused:
            return REFUSED_PATCH_RU
        size_ = max(sent, received)
        return WRITE_RU_PER_KB * kb(size_) * (INDEXED_WRITE_FACTOR if indexed else 1.0)
    return 0.0
