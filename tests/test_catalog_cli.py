"""`manage.py import-catalog` / `export-catalog` on each store, run as a user runs them: the CLI
as a process, configured only through the environment."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from shared.catalog import validate_document

from .conftest import ROOT, STORES, cosmos_env, gateway_env

CATALOG = ROOT / "catalog" / "example.json"


@pytest.fixture(params=STORES)
def cli_env(request, tmp_path) -> dict[str, str]:
    extra = {}
    if request.param == "cosmos":
        extra = cosmos_env(request.getfixturevalue("cosmos_server"), f"cli-{uuid.uuid4().hex[:12]}")
    return gateway_env("http://127.0.0.1:9", tmp_path, **extra)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_import_then_export_round_trips_the_catalog_idempotently(cli_env, tmp_path):
    source = json.loads(CATALOG.read_text())
    first = manage(cli_env, "import-catalog", str(CATALOG))
    assert first.stdout.count("upserted ") == len(source)
    manage(cli_env, "import-catalog", str(CATALOG))             # a second import changes nothing

    exported = tmp_path / "exported.json"
    manage(cli_env, "export-catalog", str(exported))
    docs = json.loads(exported.read_text())
    expected = sorted((validate_document(d).to_json() for d in source), key=lambda d: d["id"])
    assert docs == expected                                      # no duplicates, nothing lost

    manage(cli_env, "import-catalog", str(exported))             # the export imports back as is
    assert json.loads(manage(cli_env, "export-catalog").stdout) == expected


def test_deleting_an_imported_model_removes_it_from_the_export(cli_env):
    manage(cli_env, "import-catalog", str(CATALOG))
    victim = json.loads(CATALOG.read_text())[0]["id"]
    manage(cli_env, "delete-model", victim)
    ids = [d["id"] for d in json.loads(manage(cli_env, "export-catalog").stdout)]
    assert victim not in ids and ids
