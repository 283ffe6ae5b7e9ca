"""The composition root: one `Gateway` per process, holding the store, catalog, keys, providers
and usage recorder. Built lazily on first use, from `Settings.from_env()`, so importing the
Functions app stays cheap (no store connection, no LiteLLM) until a request arrives.
"""
from __future__ import annotations

import asyncio
import logging

from . import azure_auth, telemetry
from .catalog import Catalog
from .config import Settings
from .files.storage import create_storage
from .keys import KeyService
from .limits import Limiter
from .logs import install_redaction
from .providers import Registry
from .providers import http as provider_http
from .realtime.pubsub import PubSub
from .realtime.state import SessionCache
from .routing import Router
from .store import Store, create_store
from .usage import UsageRecorder

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: Settings, store: Store | None = None):
        self.settings = settings
        self.store = store or create_store(settings)
        self.providers = Registry(settings)
        self.catalog = Catalog(self.store, settings, self.providers.for_model)
        self.keys = KeyService(self.store, settings)
        self.usage = UsageRecorder(self.store)
        self.pubsub = PubSub(settings)
        self.router = Router()
        self.objects = create_storage(settings)     # files and batch state (docs/batch.md)
        self.limits = Limiter(self.store, settings.limits_ttl)
        self.sessions = SessionCache()      # realtime sessions this instance serves (state.py)
        install_redaction(settings.secret_values())
        if settings.unresolved:
            log.error("settings %s are Key Vault references that did not resolve (missing secret "
                      "or no access); they are treated as unset", ", ".join(settings.unresolved))
        try:
            telemetry.configure(settings)
        except Exception as exc:      # telemetry must never keep the gateway from serving
            log.error("tracing is off: Application Insights setup failed: %s", type(exc).__name__)
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def ready(self) -> "Gateway":
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await self.store.open()
                    self._opened = True
                    await self._warm_litellm_if_needed()
        return self

    async def _warm_litellm_if_needed(self) -> None:
        try:
            models = await self.catalog.all()
        except Exception:
            return            # the store is down; requests will say so
        for model in models:
            install_redaction(model.secrets)
        if any(self.providers.needs_litellm(m.doc) for m in models):
            from .providers.litellm_bridge import warm_in_background
            warm_in_background()

    async def close(self) -> None:
        await self.limits.drain()
        await self.usage.flush()
        await provider_http.close_all()
        await self.pubsub.close()
        await self.objects.close()
        await azure_auth.close_all()
        await self.store.close()


_gateway: Gateway | None = None


async def get_gateway() -> Gateway:
    global _gateway
    if _gateway is None:
        _gateway = Gateway(Settings.from_env())
    return await _gateway.ready()


def set_gateway(gateway: Gateway | None) -> None:
    """For hosts and tests that build their own (e.g. with another store)."""
    global _gateway
    _gateway = gateway
