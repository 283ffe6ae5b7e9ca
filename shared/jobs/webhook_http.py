"""One webhook POST over aiohttp, connecting only to the addresses the SSRF guard checked.

Imported when a webhook is first delivered, not with the Functions app: aiohttp costs a
fifth of a second to import, and most instances never deliver a webhook.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver

from .ssrf import Destination


class PinnedResolver(AbstractResolver):
    """Answers aiohttp's lookup with the addresses the guard checked, never a fresh one."""

    def __init__(self, destination: Destination):
        self._destination = destination

    async def resolve(self, host: str, port: int = 0,
                      family: int = socket.AF_INET) -> list[dict[str, Any]]:
        if host.lower() != self._destination.host:
            raise OSError(f"refusing to resolve unexpected host {host!r}")
        return [{"hostname": host, "host": address, "port": port,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}
                for address in self._destination.addresses]

    async def close(self) -> None:
        return None


async def post_once(destination: Destination, headers: dict[str, str], body: bytes,
                    timeout: float) -> tuple[int | None, str | None]:
    """One attempt: (status, None) on a 2xx, else (status or None, why)."""
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(destination), force_close=True)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(destination.url, data=body, headers=headers,
                                    allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if 200 <= resp.status < 300:
                    return resp.status, None
                if 300 <= resp.status < 400:
                    return resp.status, "the receiver redirected; redirects are not followed"
                return resp.status, f"the receiver answered {resp.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return None, f"delivery failed: {type(exc).__name__}"
