"""Where a session's server events go: its one Web PubSub connection, as they are produced, in
the protocol its client speaks (the core produces beta events; `ga_out` rewrites them for GA)."""
from __future__ import annotations

from typing import Any

from ..errors import GatewayError
from . import events, ga_out
from .ga_in import GA


class Outbox:
    def __init__(self, pubsub: Any, connection_id: str, slot: Any = None,
                 dialect: str = "beta"):
        self._pubsub = pubsub
        self.connection_id = connection_id
        self._slot = slot
        self.dialect = dialect           # "beta" or "ga"; a session.update may switch it

    def release_order(self) -> None:
        """Let this connection's next event start: this one is about to run a long turn."""
        if self._slot is not None:
            self._slot.release()

    async def send(self, event: dict[str, Any]) -> None:
        if self.dialect != GA:
            await self._pubsub.send(self.connection_id, event)
            return
        for translated in ga_out.events(event):
            await self._pubsub.send(self.connection_id, translated)

    async def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        evt = events.event(type_, **fields)
        await self.send(evt)
        return evt

    async def error(self, err: GatewayError, client_event_id: str | None = None) -> None:
        await self.send(events.error(err, client_event_id))
