"""Signed job notifications (the Standard Webhooks scheme) and their delivery.

Headers: `webhook-id` (stable per job and outcome, so receivers can drop duplicates),
`webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 over
"{id}.{timestamp}.{body}">` keyed with the project's `whsec_` secret (base64 after the prefix).

Delivery is at-least-once: the job document records every attempt, and a job whose webhook is
still `pending` (a worker died mid-delivery) is finished by the next delivery of its event.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any, Mapping

from ..store import StoreConflict, StoredJob
from . import model
from .ssrf import UnsafeWebhookUrl, WebhookGuard

log = logging.getLogger(__name__)
SECRET_PREFIX = "whsec_"
NO_SECRET = "the project has no webhook secret"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """The receiver's check (docs/jobs.md shows it): a matching v1 signature, a fresh timestamp."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(stamp), body).split(",", 1)[1]
    return any(hmac.compare_digest(expected, sig.split(",", 1)[1])
               for sig in headers.get("webhook-signature", "").split() if sig.startswith("v1,"))


def payload(doc: dict[str, Any], max_attempts: int) -> bytes:
    return json.dumps({"type": f"{model.OBJECT}.{doc['status']}",
                       "timestamp": doc["completed_at"] or doc["cancelled_at"],
                       "data": model.public(doc, max_attempts)}).encode()


async def _post(guard: WebhookGuard, url: str, headers: dict[str, str], body: bytes,
                timeout: float) -> tuple[int | None, str | None]:
    """One attempt: (status, None) on a 2xx, else (status or None, why)."""
    try:
        destination = await guard.resolve(url)
    except UnsafeWebhookUrl as exc:
        return None, str(exc)
    from .webhook_http import post_once          # aiohttp, imported on first delivery
    return await post_once(destination, headers, body, timeout)


class Notifier:
    def __init__(self, gw: Any):
        self._gw = gw
        settings = gw.settings
        self._guard = WebhookGuard(settings.webhook_allow_hosts)
        self._max_attempts = settings.webhook_max_attempts
        self._base = settings.webhook_retry_base
        self._timeout = settings.webhook_timeout
        self._job_attempts = settings.job_max_retries + 1

    @property
    def guard(self) -> WebhookGuard:
        return self._guard

    async def deliver_pending(self, stored: StoredJob) -> StoredJob | None:
        """Send a terminal job's webhook if it is still owed, recording each attempt. Each
        attempt is claimed with a conditional write before it is sent, so two workers holding
        the same job never both send; None when another writer took over."""
        if stored.doc["webhook"].get("state") != "pending":
            return stored
        secret = await self._gw.store.get_webhook_secret(stored.doc["project"])
        body = payload(stored.doc, self._job_attempts)
        msg_id = f"msg_{stored.doc['id']}_{stored.doc['status']}"
        while stored is not None and stored.doc["webhook"]["state"] == "pending":
            attempts = stored.doc["webhook"]["attempts"]
            if attempts and attempts[-1]["status_code"] is None and attempts[-1]["error"] is None:
                if self._in_flight(attempts[-1]):
                    # Another worker is sending. Wait for it rather than leave: if it died, this
                    # event may be the last chance to send (the hub will not deliver it again).
                    await asyncio.sleep(0.25)
                    stored = await self._gw.store.get_job(stored.doc["project"], stored.doc["id"])
                    continue
                attempts[-1]["error"] = "interrupted (the sender stopped)"
            if attempts:
                await asyncio.sleep(self._base * 2 ** (len(attempts) - 1))
            attempts.append({"at": model.iso(model.now()), "status_code": None, "error": None})
            stored = await self._save(stored)
            if stored is None:
                return None
            status, error = await self._send(secret, msg_id, stored.doc["webhook"]["url"], body)
            stored = await self._settle(stored, status, error)
        return stored

    def _in_flight(self, attempt: dict[str, Any]) -> bool:
        started = model.parse_iso(attempt["at"])
        return (model.now() - started).total_seconds() < 2 * self._timeout + 5

    async def _send(self, secret: str | None, msg_id: str, url: str,
                    body: bytes) -> tuple[int | None, str | None]:
        if secret is None:
            return None, NO_SECRET
        stamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(secret, msg_id, stamp, body)}
        return await _post(self._guard, url, headers, body, self._timeout)

    async def _settle(self, stored: StoredJob, status: int | None,
                      error: str | None) -> StoredJob | None:
        hook = stored.doc["webhook"]
        hook["attempts"][-1].update(status_code=status, error=error)
        if error is None:
            hook["state"] = "delivered"
        elif len(hook["attempts"]) >= self._max_attempts or error == NO_SECRET:
            hook["state"] = "failed"
            log.warning("webhook for job %s failed after %d attempt(s): %s",
                        stored.doc["id"], len(hook["attempts"]), error)
        return await self._save(stored)

    async def _save(self, stored: StoredJob) -> StoredJob | None:
        try:
            return StoredJob(stored.doc, await self._gw.store.replace_job(stored.doc, stored.etag))
        except StoreConflict:
            log.info("job %s changed during webhook delivery; leaving it to the other writer",
                     stored.doc["id"])
            return None
