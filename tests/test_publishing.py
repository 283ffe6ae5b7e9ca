"""What a publish ships: `func azure functionapp publish` uploads every file that .funcignore
does not name (gitignore syntax), and the remote build installs requirements.txt. Here the same
selection is made from this checkout, development folders included, and the app is imported
from a copy of exactly that selection."""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

SHIPPED_TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt", "blueprints", "shared"}
NEVER_SHIPPED = {".venv", "node_modules", ".data", "tests", "bench", "runner", "simulator",
                 "local.settings.json", ".git"}


def patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: Path, rules: list[str]) -> bool:
    """gitignore's rule for patterns without a slash: they match a name at any depth."""
    return any(fnmatch.fnmatch(part, rule) for part in relative.parts for rule in rules)


def shipped_files(root: Path = ROOT) -> list[Path]:
    rules, found = patterns(), []
    for folder, dirs, files in os.walk(root):
        here = Path(folder).relative_to(root)
        dirs[:] = [d for d in dirs if not ignored(here / d, rules)]
        found += [here / f for f in files if not ignored(here / f, rules)]
    return sorted(found)


def test_only_the_app_ships():
    files = shipped_files()
    assert {f.parts[0] for f in files} == SHIPPED_TOP_LEVEL
    assert not {f.parts[0] for f in files} & NEVER_SHIPPED
    assert not any(f.suffix == ".pyc" or "__pycache__" in f.parts for f in files)


def test_the_selection_drops_what_a_checkout_has_beside_the_app(tmp_path):
    # The ignore rules see folders that exist only on a developer's machine, too.
    for name in (".venv/lib/x.py", "node_modules/a/index.js", ".data/local-secrets.json",
                 "local.settings.json", "shared/__pycache__/x.pyc", "shared/ok.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert shipped_files(tmp_path) == [Path("shared/ok.py")]


def test_the_app_imports_from_exactly_what_ships(tmp_path):
    for relative in shipped_files():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    code = ("import function_app, sys; fns = function_app.app.get_functions(); "
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('runner', 'simulator', 'tests')]; print(len(fns))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 30


def test_the_remote_build_installs_hash_checked_packages():
    # pip honours hashes in requirements.txt and then requires one for every entry.
    text = (ROOT / "requirements.txt").read_text()
    assert "--hash=sha256:" in text and "-r " not in text.replace("-r requirements.in", "")
