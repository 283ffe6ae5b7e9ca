"""Entra ID credentials for every Azure client the gateway uses, when no key is configured.

`DefaultAzureCredential` finds the Function App's managed identity in Azure (the user-assigned one
named by `AZURE_CLIENT_ID`, which the template sets) and a developer's `az login` locally. One
credential per event loop (its HTTP pipeline belongs to the loop that first used it), created on
first use: a gateway that only uses keys never imports azure-identity.

`bearer_token(scope)` is for clients we drive ourselves (the OpenAI-wire adapter): the token is
cached until five minutes before it expires and fetched once for concurrent callers, so a request
costs no identity round trip. SDK clients (Cosmos, Event Hubs, Web PubSub) take `async_credential()`
or `sync_credential()` and cache tokens themselves.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .logs import install_redaction

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
_REFRESH_MARGIN = 300.0          # seconds before expiry when a cached token is replaced


class TokenUnavailable(Exception):
    """No credential in the chain produced a token (the message carries no credential detail)."""


@dataclass
class _Cached:
    token: str
    expires_on: float


class _LoopTokens:
    def __init__(self, credential: Any):
        self.credential = credential
        self.cached: dict[str, _Cached] = {}
        self.locks: dict[str, asyncio.Lock] = {}


_by_loop: dict[int, _LoopTokens] = {}
_sync_credential: Any = None


def async_credential() -> Any:
    """The process's async DefaultAzureCredential for the running event loop."""
    return _tokens().credential


def sync_credential() -> Any:
    """A synchronous DefaultAzureCredential (for SDKs without an async client)."""
    global _sync_credential
    if _sync_credential is None:
        from azure.identity import DefaultAzureCredential
        _sync_credential = DefaultAzureCredential()
    return _sync_credential


def _tokens() -> _LoopTokens:
    loop = asyncio.get_running_loop()
    entry = _by_loop.get(id(loop))
    if entry is None:
        from azure.identity.aio import DefaultAzureCredential
        entry = _by_loop[id(loop)] = _LoopTokens(DefaultAzureCredential())
    return entry


async def bearer_token(scope: str = COGNITIVE_SERVICES_SCOPE) -> str:
    """An access token for `scope`, from the cache while it has more than five minutes left."""
    entry = _tokens()
    cached = entry.cached.get(scope)
    if cached is not None and cached.expires_on - time.time() > _REFRESH_MARGIN:
        return cached.token
    lock = entry.locks.setdefault(scope, asyncio.Lock())
    async with lock:
        cached = entry.cached.get(scope)
        if cached is not None and cached.expires_on - time.time() > _REFRESH_MARGIN:
            return cached.token
        try:
            access = await entry.credential.get_token(scope)
        except Exception as exc:
            # The chain's message lists every credential it tried and why each failed; it is
            # for the operator's log, not for a client, and carries no secret.
            raise TokenUnavailable(f"{type(exc).__name__}") from exc
        install_redaction((access.token,))
        entry.cached[scope] = _Cached(access.token, float(access.expires_on))
        return access.token


async def close_all() -> None:
    """Close this loop's credential (gateway shutdown); forget those of loops that are gone."""
    entry = _by_loop.pop(id(asyncio.get_running_loop()), None)
    _by_loop.clear()
    if entry is not None:
        try:
            await entry.credential.close()
        except Exception:
            pass
