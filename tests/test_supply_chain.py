"""Supply chain: dependencies are locked with hashes and the lock matches the pins; no LiteLLM
release known to be compromised is pinned or installed; no unexpected `.pth` start-up hook sits
in the environment (the compromised LiteLLM 1.82.8 shipped one, `litellm_init.pth`, which runs
at every interpreter start, before any of our code)."""
from __future__ import annotations

import re
import site
import sys
from importlib import metadata
from pathlib import Path

import pytest

from .conftest import ROOT

COMPROMISED = {"litellm": {"1.82.7", "1.82.8"}}
# .pth files that standard tooling installs, and what each may contain.
KNOWN_PTH = {
    "distutils-precedence.pth": "_distutils_hack",        # setuptools
    "_virtualenv.pth": "_virtualenv",                     # virtualenv-made environments
}
_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", re.M)


def pins(path: Path) -> dict[str, str]:
    return {re.sub(r"\[.*\]", "", name).lower().replace("_", "-"): version
            for name, version in _PIN.findall(path.read_text())}


def check_not_compromised(name: str, version: str) -> None:
    if version in COMPROMISED.get(name.lower(), set()):
        raise AssertionError(f"{name} {version} is a release known to be compromised")


@pytest.mark.parametrize("bad", sorted(COMPROMISED["litellm"]))
def test_the_check_refuses_the_compromised_litellm_releases(bad):
    with pytest.raises(AssertionError):
        check_not_compromised("litellm", bad)


def test_no_compromised_release_is_pinned_or_installed():
    for file in ("requirements.in", "requirements.txt", "requirements-local.txt",
                 "requirements-dev.txt"):
        for name, version in pins(ROOT / file).items():
            check_not_compromised(name, version)
    for name in COMPROMISED:
        try:
            check_not_compromised(name, metadata.version(name))
        except metadata.PackageNotFoundError:
            pass


# pip-tools' convention: people edit the .in files; `make lock` generates the .txt beside each.
LOCKS = {"requirements.txt": ["requirements.in"],
         "requirements-local.txt": ["requirements-local.in"],
         "requirements-dev.txt": ["requirements-dev.in", "requirements.in", "requirements-local.in"]}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_locks_match_the_pins_and_carry_hashes(lock):
    wanted = {}
    for source in LOCKS[lock]:
        wanted.update(pins(ROOT / source))
    locked = pins(ROOT / lock)
    stale = {n: v for n, v in wanted.items() if locked.get(n) != v}
    assert not stale, f"{lock} is out of date for {stale}: run `make lock`"
    text = (ROOT / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    unhashed = [e.split("==")[0] for e in entries
                if _PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed, f"entries without hashes in {lock}: {unhashed}"


@pytest.mark.parametrize("part", ["requirements.txt", "requirements-local.txt"])
def test_the_dev_lock_installs_what_production_and_make_run_install(part):
    subset, dev = pins(ROOT / part), pins(ROOT / "requirements-dev.txt")
    differ = {n: (v, dev.get(n)) for n, v in subset.items() if dev.get(n) != v}
    assert not differ, f"the dev lock installs other versions than {part}: {differ}"


def test_make_run_installs_no_test_tools():
    # requirements.txt is what the Functions remote build installs (`pip install -r
    # requirements.txt`, hashes honoured); `make run` adds only the runner's and simulator's needs.
    shipped = pins(ROOT / "requirements.txt") | pins(ROOT / "requirements-local.txt")
    assert not {"pytest", "hypothesis", "pip-tools", "pytest-asyncio"} & set(shipped)


def test_the_makefile_installs_from_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-dev.txt" in makefile
    assert "--require-hashes -r requirements.txt" in makefile
    assert "run: $(BIN)/.installed-run" in makefile


def site_dirs() -> list[Path]:
    dirs = {Path(p) for p in site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        dirs.add(Path(site.getusersitepackages()))
    dirs.update(Path(p) for p in sys.path if p.endswith("site-packages"))
    return sorted(d for d in dirs if d.is_dir())


def test_no_unexpected_pth_files_in_the_environment():
    found = [pth for d in site_dirs() for pth in d.glob("*.pth")]
    unexpected = [str(p) for p in found if p.name not in KNOWN_PTH]
    assert not unexpected, f"unexpected .pth start-up hooks: {unexpected}"
    for pth in found:
        code = [line for line in pth.read_text().splitlines() if line.startswith("import")]
        assert all(KNOWN_PTH[pth.name] in line for line in code), f"{pth} runs unexpected code"
