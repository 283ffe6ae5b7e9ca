"""Where a webhook may be sent: a guard against server-side request forgery.

The URL must be `https` (unless its host is allow-listed), carry no credentials, name an IP
address only in its canonical form (`000000127.0.0.1`, `0x7f.1`, `2130706433` are refused: the
resolver and the HTTP client could read them differently), and its host must resolve only to
public addresses: loopback, private, link-local, cloud metadata
(169.254.169.254, fd00:ec2::254), unspecified, multicast and reserved ranges are refused. The
check is on the resolved addresses, and the connection then goes to exactly those addresses (a
pinned resolver, webhook_http.py), so a DNS answer cannot change between check and connect. Redirects are not
followed. `LLMPROXY_WEBHOOK_ALLOW_HOSTS` (host names, IPs or CIDR networks) opens the door for
tests and private deployments: an allow-listed host may use `http` and non-public addresses.
"""
from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}


class UnsafeWebhookUrl(ValueError):
    """The URL may not receive webhooks; the message says why (for the caller)."""


@dataclass(frozen=True)
class Destination:
    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def refusal(address: IP) -> str | None:
    """Why an address may not receive a webhook, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    for reason, flag in (("a loopback address", address.is_loopback),
                         ("an unspecified address", address.is_unspecified),
                         ("a multicast address", address.is_multicast),
                         ("a link-local address", address.is_link_local),
                         ("a private address", address.is_private),
                         ("a reserved address", address.is_reserved),
                         ("not a public address", not address.is_global)):
        if flag:
            return reason
    return None


class WebhookGuard:
    def __init__(self, allow: tuple[str, ...] = ()):
        self._hosts = {a for a in allow if not _network(a)}
        self._networks = [n for n in (_network(a) for a in allow) if n is not None]

    def _allowed(self, host: str, address: IP | None = None) -> bool:
        return host in self._hosts or (address is not None and any(
            address in n for n in self._networks if n.version == address.version))

    def check_form(self, url: str) -> tuple[str, str, int]:
        """Scheme, host and port of an acceptable URL, before any DNS lookup."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeWebhookUrl("'webhook_url' is not a valid URL.") from None
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise UnsafeWebhookUrl("'webhook_url' must be an absolute https URL.")
        if parts.username is not None or parts.password is not None:
            raise UnsafeWebhookUrl("'webhook_url' must not carry credentials.")
        literal = _ip(host)
        if literal is None and _numeric_host(host):
            # 000000127.0.0.1, 0177.1, 0x7f.0.0.1, 2130706433: inet_aton reads these as some
            # address, an HTTP client may read them as another. Only the canonical form passes.
            raise UnsafeWebhookUrl(f"The webhook host '{host}' is a non-canonical IP address; "
                                   "write the address in its usual dotted form.")
        if isinstance(literal, ipaddress.IPv4Address) and host != str(literal):
            raise UnsafeWebhookUrl(f"The webhook host '{host}' is a non-canonical IP address; "
                                   f"write it as {literal}.")
        if parts.scheme == "http" and not self._allowed(host, literal):
            raise UnsafeWebhookUrl("'webhook_url' must use https.")
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)

    async def resolve(self, url: str) -> Destination:
        """Check the URL and every address its host resolves to; raise UnsafeWebhookUrl."""
        _scheme, host, port = self.check_form(url)
        literal = _ip(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM)
            except OSError:
                raise UnsafeWebhookUrl(f"The webhook host '{host}' does not resolve.") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0])
                                           for i in infos))
        for address in addresses:
            reason = refusal(address)
            if reason and not self._allowed(host, address):
                raise UnsafeWebhookUrl(f"The webhook host '{host}' resolves to {reason}; "
                                       "webhooks go only to public addresses.")
        return Destination(url, host, port, tuple(str(a) for a in addresses))


def _numeric_host(host: str) -> bool:
    """A host every label of which is a number (decimal, octal or 0x hex), or whose last label
    is one: no DNS name has a numeric top-level label, so this can only be an IP in some form."""
    labels = host.rstrip(".").split(".")
    numeric = [bool(re.fullmatch(r"[0-9]+|0x[0-9a-f]*", label)) for label in labels]
    return all(numeric) or numeric[-1]


def _ip(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
