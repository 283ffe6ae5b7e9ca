"""The README's quickstart, run exactly as it stands in README.md (its blocks are read out of the
file, not copied here) against a freshly started gateway on embedded defaults: the shell block
with bash at the repository root, the Python block with the `python` that block puts on PATH,
both as a script and pasted into an interactive interpreter, then the usage block. What the
Python block prints must be the output the README shows."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, running_gateway

VENV_BIN = str(Path(sys.executable).parent)


def quickstart_blocks() -> dict[str, list[str]]:
    """The fenced blocks under the README's "## Quickstart" heading, by language, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```$", section, re.M | re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def test_the_quickstart_has_the_blocks_this_test_runs():
    blocks = quickstart_blocks()
    assert len(blocks["bash"]) == 2 and len(blocks["python"]) == 1 and len(blocks["text"]) == 1
    assert "create-key demo" in blocks["bash"][0] and "usage demo" in blocks["bash"][1]


@pytest.fixture(scope="module")
def reader_env(tmp_path_factory, logs_dir):
    """A gateway on embedded defaults (no provider credentials, so on its own simulator), and the
    environment of a reader's second shell: nothing of ours set, the venv's python first on PATH,
    PORT naming the gateway's port as `PORT=... make run` would."""
    data = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "SIMULATOR_", "OPENAI_",
                                "VIRTUAL_ENV", "PYTHON"))}
    env["LLMPROXY_DATA_DIR"] = str(data)
    log = logs_dir / "readme.log"
    with running_gateway(env, log) as url:
        env["PORT"] = url.rsplit(":", 1)[1]
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
        yield url, env


def run_shell(block: str, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess,
                                                                           dict[str, str]]:
    """The block with `bash -e` at the repository root; returns the run and the environment it
    leaves behind (what a reader's shell holds afterwards)."""
    script = tmp_path / "block.sh"
    dump = tmp_path / "env.out"
    script.write_text(block + f'\nenv -0 > "{dump}"\n')
    done = subprocess.run(["bash", "-e", str(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    after = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item) \
        if dump.exists() else {}
    return done, after


def test_the_quickstart_runs_as_pasted(reader_env, tmp_path):
    url, env = reader_env
    blocks = quickstart_blocks()

    shell, shell_env = run_shell(blocks["bash"][0], env, tmp_path)
    assert shell.returncode == 0, shell.stderr
    assert "for project demo" in shell.stderr             # create-key's note on its key id
    assert shell_env["OPENAI_BASE_URL"] == url + "/v1"
    assert shell_env["OPENAI_API_KEY"].startswith("llmp-")
    python = shutil.which("python", path=shell_env["PATH"])
    assert python and Path(python).resolve() == Path(sys.executable).resolve()

    program = tmp_path / "quickstart.py"
    program.write_text(blocks["python"][0])
    expected = blocks["text"][0]
    as_file = subprocess.run(["python", str(program)], cwd=ROOT, env=shell_env,
                             capture_output=True, text=True, timeout=120)
    assert as_file.returncode == 0, as_file.stderr
    assert as_file.stdout == expected

    # Pasted into `python`: the interactive interpreter reads it line by line, where a compound
    # statement needs a blank line after it. Errors go to stderr and do not stop it.
    with open(program) as stdin:
        pasted = subprocess.run(["python", "-i"], cwd=ROOT, env=shell_env, stdin=stdin,
                                capture_output=True, text=True, timeout=120)
    assert "Error" not in pasted.stderr and "Traceback" not in pasted.stderr, pasted.stderr
    assert pasted.stdout == expected

    # The usage the calls left: rows are written in batches a moment after each call.
    deadline = time.monotonic() + 20
    while True:
        usage, _ = run_shell(blocks["bash"][1], shell_env, tmp_path)
        assert usage.returncode == 0, usage.stderr
        shown = {m for m in ("gpt-4o-mini", "gemini-2.5-flash", "claude-sonnet-4",
                             "text-embedding-3-small") if m in usage.stdout}
        if len(shown) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(shown) == 4, usage.stdout
