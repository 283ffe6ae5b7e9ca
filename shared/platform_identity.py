"""Admins signed in with Entra ID through App Service Authentication ("Easy Auth").

With it configured, the platform signs users in, strips any `X-MS-CLIENT-PRINCIPAL*` header a
client sent, and adds its own: base64 JSON of the user's claims. Without it nothing strips
them, so anyone could send one: the header is read only when the platform says its
authentication is on (`WEBSITE_AUTH_ENABLED`) and the gateway names the admin app roles or
groups (`LLMPROXY_ENTRA_ADMIN_ROLES` / `LLMPROXY_ENTRA_ADMIN_GROUPS`). Anything else grants
nothing. docs/console.md has the setup.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Mapping

from .config import Settings

PRINCIPAL_HEADER = "x-ms-client-principal"
_ROLE_CLAIMS = {"roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
_GROUP_CLAIMS = {"groups"}


def trusted(settings: Settings) -> bool:
    return settings.platform_auth_enabled and bool(settings.entra_admin_roles
                                                   or settings.entra_admin_groups)


def _claims(raw: str) -> tuple[str, list[dict[str, Any]]] | None:
    try:
        data = json.loads(base64.b64decode(raw, validate=False))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        return None
    claims = [c for c in data["claims"] if isinstance(c, dict)]
    return str(data.get("role_typ") or ""), claims


def admin_principal(headers: Mapping[str, str], settings: Settings) -> str | None:
    """The signed-in admin's name, when the platform vouches for one; else None."""
    if not trusted(settings):
        return None
    raw = headers.get(PRINCIPAL_HEADER)
    parsed = _claims(raw) if raw else None
    if parsed is None:
        return None
    role_typ, claims = parsed
    roles = {str(c.get("val")) for c in claims if c.get("typ") in _ROLE_CLAIMS | {role_typ}}
    groups = {str(c.get("val")) for c in claims if c.get("typ") in _GROUP_CLAIMS}
    if not (roles & set(settings.entra_admin_roles) or groups & set(settings.entra_admin_groups)):
        return None
    names = [str(c.get("val")) for c in claims
             if c.get("typ") in ("preferred_username", "name", "upn")]
    return names[0] if names else "entra-admin"
