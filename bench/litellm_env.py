"""LiteLLM's proxy in its own virtual environment (bench/.venv-litellm, gitignored): it is only
the comparison, never one of the gateway's dependencies. Installed on first use, pinned."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REQUIREMENT = Path(__file__).with_name("litellm-requirements.txt")
VERSION = "1.106.12"


def installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists() or not (venv / "bin" / "litellm").exists():
        return None
    out = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                          "print(m.version('litellm'))"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_litellm(venv: Path) -> None:
    if installed_version(venv) == VERSION:
        return
    print(f"Installing litellm[proxy]=={VERSION} into {venv} (once; a few minutes)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "-r", str(REQUIREMENT)], check=True)
    if installed_version(venv) != VERSION:
        raise RuntimeError(f"litellm {VERSION} did not install into {venv}")
