"""Runs last: after the whole suite has driven the gateway, nothing it logged or answered may
contain a key, token or service-account fragment."""
from __future__ import annotations

import json

import httpx

from .conftest import ADMIN_KEY, AZURITE_KEY, COSMOS_KEY, ERROR_RESPONSES, ISSUED_KEYS, PEPPER
from .test_surface_attacks import LITERAL_KEY

# Logs of processes that are not the gateway: the emulators' own, and the simulators' (which
# are handed the keys they check).
NOT_THE_GATEWAY = ("simulator", "cosmosdb-server", "azurite")


def all_secrets(simulator: str) -> list[str]:
    account = httpx.get(simulator + "/_sim/vertex/service-account.json").json()
    key_body = account["private_key"].split("-----")[2].strip().splitlines()
    # AZURITE_KEY: the blob connection string's account key of the files and batches gateways;
    # LITERAL_KEY: a credential stored literally in the catalog (test_surface_attacks.py).
    return [ADMIN_KEY, PEPPER, COSMOS_KEY, AZURITE_KEY, LITERAL_KEY, "sim-azure-key",
            account["private_key_id"], *[line for line in key_body if len(line) > 20],
            *ISSUED_KEYS]


def test_no_secret_in_the_gateway_logs(gateway, simulator, gateway_log, logs_dir, client):
    # Make sure the log has seen every provider path at least once.
    for model in ("gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    secrets = all_secrets(simulator)
    log = gateway_log.read_text()
    assert "LLM Proxy listening" in log and "DEBUG" in log      # the log really is captured
    # Every gateway process of the run: the fuzz run's, the jobs', files' and batches' (on
    # Azurite and Cosmos), the crash tests'...
    others = [p for p in logs_dir.glob("*.log") if not p.name.startswith(NOT_THE_GATEWAY)]
    for other in others:
        log += other.read_text(errors="replace")
    leaked = [s[:6] + "…" for s in secrets if s and s in log]
    assert not leaked, f"secrets found in the gateway log: {leaked}"
    assert "ya29." not in log


def test_no_secret_in_any_error_body_of_the_run(simulator):
    bodies = []
    for response in ERROR_RESPONSES:
        try:
            bodies.append(response.read().decode("utf-8", "replace"))
        except (httpx.HTTPError, RuntimeError):
            continue                       # a stream the test closed unread
    # The whole suite ran before this module (its name sorts last): many errors were seen.
    assert len(bodies) > 50
    text = "\n".join(bodies)
    leaked = [s[:6] + "…" for s in all_secrets(simulator) if s and s in text]
    assert not leaked, f"secrets found in error bodies: {leaked}"
    assert "ya29." not in text and "PRIVATE KEY" not in text


def test_admin_listing_never_shows_key_material(admin):
    text = json.dumps(admin.get("/v1/organization/projects/alpha/api_keys").json())
    assert not any(k in text for k in ISSUED_KEYS)
    assert PEPPER not in text
