"""Keep one connection's events in arrival order within this process.

The service posts each client event as its own request, and a cancel must be handled while a
response streams, so events of one connection may run at the same time. Audio appends, though,
must reach the session in the order they were spoken. Each event takes its connection's FIFO
lock before its first await; it lets go when done, or earlier when it starts a long turn (so a
`response.cancel` behind it runs at once). Across instances there is no such guarantee: clients
stream audio at its own pace, so consecutive appends rarely overlap.
"""
from __future__ import annotations

import asyncio


class Slot:
    def __init__(self, order: "ConnectionOrder", key: str):
        self._order, self._key = order, key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._order.release(self._key)


class ConnectionOrder:
    """One FIFO lock per connection, dropped when nobody holds or waits for it (a lock that
    still has waiters must stay: a new event would otherwise get a fresh lock and jump the
    queue)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def acquire(self, key: str) -> Slot:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1                                      # holders and waiters
        try:
            await lock.acquire()                           # asyncio.Lock wakes waiters FIFO
        except BaseException:
            self._drop(key)
            raise
        return Slot(self, key)

    def release(self, key: str) -> None:
        self._locks[key][0].release()
        self._drop(key)

    def _drop(self, key: str) -> None:
        lock, users = self._locks[key]
        users[0] -= 1
        if users[0] == 0:
            del self._locks[key]


ORDER = ConnectionOrder()
