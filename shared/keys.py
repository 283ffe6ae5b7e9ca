"""Project API keys: issuing, hashing, authenticating callers.

A key is `llmp-` + 40 random base62 characters. The store keeps only HMAC-SHA256(pepper, key)
(a keyed hash: a leaked table cannot be brute-forced without the pepper) and finds a key by that
hash with a point read. Lookups are cached for a short TTL so the hot path reads no store;
revoking through this process drops its cache entry at once, other instances within the TTL.
A key presented again within that TTL is not hashed again either: its digest is remembered
(the HMAC was the largest single cost of authenticating), and the lookup by digest still goes
through the revocable cache.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass

from .config import Settings
from .errors import AuthenticationFailed, PermissionDenied
from .store import KeyRecord, Store

KEY_PREFIX = "llmp-"
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Caller:
    project: str
    key_id: str
    batch: bool = False        # a batch line run on the caller's behalf (usage rows say so)


def bearer_token(headers: dict[str, str]) -> str | None:
    """The key a caller sent, as the OpenAI SDKs (Authorization), Azure SDKs (api-key) or
    Anthropic's (x-api-key; Claude Code's ANTHROPIC_AUTH_TOKEN is a bearer token) send it."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("api-key") or headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class KeyService:
    def __init__(self, store: Store, settings: Settings):
        if not settings.key_pepper:
            raise ValueError("LLMPROXY_KEY_PEPPER must be set: it keys the hashes of project keys")
        self._store = store
        self._pepper = settings.key_pepper.encode()
        self._ttl = settings.key_cache_ttl
        self._admin_key = settings.admin_key.encode()
        self._cache: dict[str, tuple[float, KeyRecord | None, Caller | None]] = {}
        self._digests: dict[str, tuple[float, str]] = {}      # presented key -> its HMAC

    def hash(self, key: str) -> str:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()

    async def issue(self, project: str, name: str = "") -> tuple[str, KeyRecord]:
        key = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        digest = self.hash(key)
        record = KeyRecord(hash=digest, key_id="key_" + digest[:16], project=project, name=name)
        await self._store.create_key(record)
        return key, record

    async def revoke(self, key_id: str) -> KeyRecord | None:
        record = await self._store.revoke_key(key_id)
        if record is not None:
            self._cache.pop(record.hash, None)
        return record

    def _digest(self, key: str, now: float) -> str:
        known = self._digests.get(key)
        if known is not None and known[0] > now:
            return known[1]
        digest = self.hash(key)
        if len(self._digests) > 10_000:
            self._digests.clear()
        self._digests[key] = (now + self._ttl, digest)
        return digest

    async def _lookup(self, digest: str) -> tuple[KeyRecord | None, Caller | None]:
        """The key's record and, for an active key, its caller; cached for the TTL."""
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        record = await self._store.get_key(digest)
        caller = Caller(record.project, record.key_id) \
            if record is not None and record.active else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, record, caller)
        return record, caller

    async def authenticate(self, headers: dict[str, str]) -> Caller:
        key = bearer_token(headers)
        if key is None:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' "
                "or as an 'api-key' or 'x-api-key' header.", code="missing_api_key")
        digest = self._digest(key, time.monotonic())
        record, caller = await self._lookup(digest)
        # The point read found the row by hash; compare once more in constant time so no
        # branch depends on how much of a guessed key matched.
        if caller is None or not hmac.compare_digest(record.hash, digest):  # type: ignore[union-attr]
            raise AuthenticationFailed("Incorrect API key provided.")
        return caller

    async def authenticate_admin(self, headers: dict[str, str]) -> None:
        key = bearer_token(headers)
        if key is None:
            raise AuthenticationFailed("The admin API needs the admin key as a bearer token.",
                                       code="missing_api_key")
        if self._admin_key and hmac.compare_digest(key.encode(), self._admin_key):
            return
        _, caller = await self._lookup(self.hash(key))
        if caller is not None:
            raise PermissionDenied("Project keys cannot use the admin API.")
        raise AuthenticationFailed("Incorrect admin key provided.")
