"""Runs last: after the whole suite has driven the gateway, nothing it logged or answered may
contain a key, token or service-account fragment."""
from __future__ import annotations

import json

import httpx

from .conftest import ADMIN_KEY, COSMOS_KEY, ISSUED_KEYS, PEPPER


def test_no_secret_in_the_gateway_log(gateway, simulator, gateway_log, client):
    # Make sure the log has seen every provider path at least once.
    for model in ("gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    account = httpx.get(simulator + "/_sim/vertex/service-account.json").json()
    key_body = account["private_key"].split("-----")[2].strip().splitlines()
    secrets = [ADMIN_KEY, PEPPER, COSMOS_KEY, "sim-azure-key", account["private_key_id"],
               *[line for line in key_body if len(line) > 20], *ISSUED_KEYS]
    log = gateway_log.read_text()
    assert "LLM Proxy listening" in log and "DEBUG" in log      # the log really is captured
    leaked = [s[:6] + "…" for s in secrets if s and s in log]
    assert not leaked, f"secrets found in the gateway log: {leaked}"
    assert "ya29." not in log


def test_admin_listing_never_shows_key_material(admin):
    text = json.dumps(admin.get("/admin/projects/alpha/keys").json())
    assert not any(k in text for k in ISSUED_KEYS)
    assert PEPPER not in text
