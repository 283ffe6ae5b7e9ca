"""The README's quickstart, run exactly as it stands in README.md (its blocks are read out of the
file, not copied here) against a freshly started gateway on embedded defaults: the shell block
with bash at the repository root, the Python block with the `python` that block puts on PATH,
both as a script and pasted into an interactive interpreter, then the usage block. What the
Python block prints must be the output the README shows."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
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
    data = tmp_path_factory.mktemp("readme") / ".data"    # named as `make run`'s is
    data.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "SIMULATOR_", "OPENAI_",
                                "VIRTUAL_ENV", "PYTHON"))}
    env["LLMPROXY_DATA_DIR"] = str(data)
    log = logs_dir / "readme.log"
    with running_gateway(env, log) as url:
        env["PORT"] = url.rsplit(":", 1)[1]
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
        yield url, env


def run_shell(block: str, env: dict[str, str], tmp_path: Path, cwd: Path = ROOT
              ) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """The block with `bash -e` (at the repository root unless `cwd` says otherwise); returns the
    run and the environment it leaves behind (what a reader's shell holds afterwards)."""
    script = tmp_path / "block.sh"
    dump = tmp_path / "env.out"
    script.write_text(block + f'\nenv -0 > "{dump}"\n')
    done = subprocess.run(["bash", "-e", str(script)], cwd=cwd, env=env, capture_output=True,
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

    # "Where to look at usage": the management API's rows, with the admin key `make run` made.
    # Its `.data/local-secrets.json` is the gateway's data folder, so run where that folder is.
    section = (ROOT / "README.md").read_text().split("\n## Where to look at usage\n", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```$", section, re.M | re.S).group(1)
    rows, _ = run_shell(block, shell_env, tmp_path, cwd=Path(env["LLMPROXY_DATA_DIR"]).parent)
    assert rows.returncode == 0, rows.stderr
    answer = json.loads(rows.stdout)
    assert {r["model"] for r in answer["data"]} >= {"gpt-4o-mini", "text-embedding-3-small"}
    # Eight calls so far (the Python block ran twice), five asked for.
    assert len(answer["data"]) == answer["totals"]["requests"] == 5
    assert all(r["request_id"].startswith("req_") for r in answer["data"])


def fenced_after(path: Path, marker: str, lang: str) -> str:
    """The first `lang` block after `marker` in a docs page."""
    text = path.read_text().split(marker, 1)[1]
    return re.search(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S).group(1)


def test_the_func_start_settings_lines_fill_in_pepper_and_admin_key(tmp_path):
    """docs/func-start.md's lines, run as written in a copy of the repository's example: a fresh
    pepper and admin key when `make run` never ran, the ones it generated when it did, and every
    other value left as the example has it."""
    block = fenced_after(ROOT / "docs" / "func-start.md", "<!-- func-start:settings -->", "bash")
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")}
    fresh, made = tmp_path / "fresh", tmp_path / "made"
    for folder in (fresh, made):
        folder.mkdir()
        shutil.copy(ROOT / "local.settings.example.json", folder)
    (made / ".data").mkdir()
    (made / ".data" / "local-secrets.json").write_text(json.dumps(
        {"LLMPROXY_KEY_PEPPER": "pepper-from-make-run", "LLMPROXY_ADMIN_KEY": "llmp-admin-from-make-run"}))
    results = {}
    for folder in (fresh, made):
        done = subprocess.run(["bash", "-e", "-c", block], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        results[folder.name] = json.loads((folder / "local.settings.json").read_text())["Values"]
    for values in results.values():
        assert {k: v for k, v in values.items()
                if k not in ("LLMPROXY_KEY_PEPPER", "LLMPROXY_ADMIN_KEY")} == \
            {k: v for k, v in example["Values"].items()
             if k not in ("LLMPROXY_KEY_PEPPER", "LLMPROXY_ADMIN_KEY")}
    assert len(results["fresh"]["LLMPROXY_KEY_PEPPER"]) >= 32
    assert results["fresh"]["LLMPROXY_ADMIN_KEY"].startswith("llmp-admin-")
    assert results["made"]["LLMPROXY_KEY_PEPPER"] == "pepper-from-make-run"
    assert results["made"]["LLMPROXY_ADMIN_KEY"] == "llmp-admin-from-make-run"


def test_the_sdk_admin_client_lines_work_against_the_management_api(tmp_path, logs_dir):
    """docs/administration.md's `openai` admin-client lines, run as written against a gateway of
    their own (the lines name project "demo")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMPROXY_", "OPENAI_"))}
    env["LLMPROXY_DATA_DIR"] = str(tmp_path)
    with running_gateway(env, logs_dir / "readme-admin.log") as url:
        admin_key = json.loads((tmp_path / "local-secrets.json").read_text())["LLMPROXY_ADMIN_KEY"]
        auth = {"Authorization": f"Bearer {admin_key}"}
        created = httpx.post(f"{url}/v1/organization/projects/demo/api_keys", headers=auth,
                             json={"name": "ci"})
        assert created.status_code == 201, created.text
        block = fenced_after(ROOT / "docs" / "administration.md",
                             "the `openai` SDK's admin client", "python")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(block, {"ADMIN_KEY": admin_key, "URL": url})
        assert printed.getvalue() == f"{created.json()['id']} ci None\n"
        listed = httpx.get(f"{url}/v1/organization/projects/demo/api_keys", headers=auth).json()
        assert listed["data"][0]["revoked_at"] is not None        # the lines' delete revoked it


DOC_PAGES = (ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md")))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_docs_lands():
    broken = []
    for page in DOC_PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue                                   # https:, mailto:
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.M)
                if anchor not in {github_anchor(h) for h in headings}:
                    broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_links_every_docs_page_and_stays_a_door():
    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Documentation\n", 1)[1].strip().split("\n\n")[0]
    rows = [row for row in table.splitlines() if row.startswith("| [")]
    linked = set(re.findall(r"^\| \[((?:docs|bench|simulator)/[^)#\s]+\.md)\]", table, re.M))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"add these to the README's Documentation table: {sorted(pages - linked)}"
    # Each page once, and no page row strayed into another table (a merge once put five into
    # "The API in one table").
    assert len(rows) == len(linked)
    api_table = text.split("\n## The API in one table\n", 1)[1].strip().split("\n\n")[0]
    assert all(row.count(" | ") == 2 for row in api_table.splitlines()[2:]), api_table
    assert len(text.splitlines()) < 300, "the README is the door: move detail into docs/"
