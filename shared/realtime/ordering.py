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
    def __init__(self, order: "ConnectionOrder", key: str, lock: asyncio.Lock):
        self._order, self._key, self._lock = order, key, lock
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()
            self._order.forget(self._key, self._lock)


class ConnectionOrder:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, key: str) -> Slot:
        lock = self._locks.setdefault(key, asyncio.Lock())   # asyncio.Lock wakes waiters FIFO
        await lock.acquire()
        return Slot(self, key, lock)

    def forget(self, key: str, lock: asyncio.Lock) -> None:
        if not lock.locked() and self._locks.get(key) is lock:
            del self._locks[key]


ORDER = ConnectionOrder()
