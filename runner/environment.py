"""The local environment: settings from local.settings.json (as `func start` reads them) and
locally generated secrets, so a fresh clone runs with no configuration at all."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_SETTINGS = ("AZURE_OPENAI_ENDPOINT", "VERTEX_CREDENTIALS")


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    """Copy `Values` into the environment without overriding what is already set."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for name, value in values.items():
            if value not in (None, ""):
                os.environ.setdefault(name, str(value))


def ensure_local_secrets() -> Path:
    """Generate the key pepper and admin key once per data folder when not configured."""
    data_dir = Path(os.environ.setdefault("LLMPROXY_DATA_DIR", str(ROOT / ".data")))
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "local-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name in ("LLMPROXY_KEY_PEPPER", "LLMPROXY_ADMIN_KEY"):
        if not os.environ.get(name):
            if name not in stored:
                stored[name] = ("llmp-admin-" if "ADMIN" in name else "") + secrets.token_urlsafe(32)
                changed = True
            os.environ[name] = stored[name]
    if changed:
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return path


def has_provider_credentials() -> bool:
    return any(os.environ.get(name) for name in PROVIDER_SETTINGS)


def prepare() -> Path:
    load_local_settings()
    return ensure_local_secrets()
