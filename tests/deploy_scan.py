"""What the code needs from its configuration, read from the code itself, and what infra.bicep and
local.settings.example.json provide. The deployment tests compare the two, so a setting or a
binding connection added anywhere later is caught without anyone updating a list.

Settings are found by reading the source (AST), not by importing it: any read of a literal name
(or a module-level string constant) from something that is the environment or the settings:

    os.environ["X"]  os.environ.get("X")  os.getenv("X")  env.get("X")  env["X"]
    settings.get("X")  self._settings.get("X")  _int(env, "X", 1)  _bool(env, "X", False)

Binding connections come from the registered functions' raw bindings (`connection`, and any
`%NAME%` placeholder), read in a child process because `get_functions()` may run once per app.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from pycep import BicepParser

ROOT = Path(__file__).resolve().parent.parent

# The code the Function App runs in Azure, and the local-only hosts around it.
DEPLOYED_CODE = ("function_app.py", "blueprints", "shared")
LOCAL_CODE = ("runner", "manage.py")

_ENV_RECEIVER = re.compile(r"(^|[._])(env|environ|environment|settings|values)$", re.I)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")

# Binding types whose `connection` defaults to a well-known setting when not given.
_DEFAULT_CONNECTIONS = {
    "webPubSubTrigger": "WebPubSubConnectionString",
    "webPubSubConnection": "WebPubSubConnectionString",
    "webPubSub": "WebPubSubConnectionString",
}
# Web PubSub bindings read the hub from this setting when `hub` is not given.
_DEFAULT_HUB_SETTING = "WebPubSubHub"


def python_files(parts: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for part in parts:
        path = ROOT / part
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else [])
    return files


def _module_constants(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level NAME = "X" or NAME = ("X", "Y") assignments."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            items = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
            strings = [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]
            if strings and len(strings) == len(items):
                found[node.targets[0].id] = strings
    return found


def _names(node: ast.AST, constants: dict[str, list[str]]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _NAME.match(node.value):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [c for c in constants[node.id] if _NAME.match(c)]
    return []


def _is_env(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return bool(_ENV_RECEIVER.search(text)) or text in ("os.environ", "environ")


def settings_read_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    constants = _module_constants(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_env(node.value):
            found.update(_names(node.slice, constants))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "getenv") and \
                    (func.attr == "getenv" or _is_env(func.value)) and node.args:
                found.update(_names(node.args[0], constants))
            elif any(isinstance(a, ast.Name) and _is_env(a) for a in node.args[:1]) and \
                    len(node.args) >= 2:
                found.update(_names(node.args[1], constants))      # _int(env, "X", default)
    return found


def settings_read(parts: tuple[str, ...]) -> dict[str, list[str]]:
    """Setting name -> the files that read it."""
    where: dict[str, list[str]] = {}
    for path in python_files(parts):
        for name in settings_read_in(path):
            where.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return where


@lru_cache(maxsize=1)
def raw_bindings() -> tuple[tuple[str, tuple[dict, ...]], ...]:
    """(function name, its bindings as the worker reports them to the host) for every function."""
    code = ("import json, function_app\n"
            "print(json.dumps([[f.get_function_name(), [json.loads(b) for b in f.get_raw_bindings()]]"
            " for f in function_app.app.get_functions()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return tuple((name, tuple(bindings)) for name, bindings in data)


def binding_settings() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(connection name -> functions, %SETTING% placeholder -> functions) from the bindings."""
    connections: dict[str, list[str]] = {}
    placeholders: dict[str, list[str]] = {}
    for function, bindings in raw_bindings():
        for binding in bindings:
            kind = binding.get("type", "")
            conn = binding.get("connection") or _DEFAULT_CONNECTIONS.get(kind)
            if conn:
                connections.setdefault(conn, []).append(function)
            if kind in _DEFAULT_CONNECTIONS and not binding.get("hub"):
                placeholders.setdefault(_DEFAULT_HUB_SETTING, []).append(function)
            for value in binding.values():
                for name in _PLACEHOLDER.findall(value if isinstance(value, str) else ""):
                    placeholders.setdefault(name, []).append(function)
    return connections, placeholders


def catalog_settings(path: Path) -> set[str]:
    """`$NAME` parameters of a catalog file: settings its models read."""
    found = set()
    for doc in json.loads(path.read_text()):
        for value in doc.get("parameters", {}).values():
            if isinstance(value, str) and value.startswith("$") and len(value) > 1:
                found.add(value[1:])
    return found


@lru_cache(maxsize=1)
def template() -> dict:
    return BicepParser().parse(text=(ROOT / "infra.bicep").read_text())


def bicep_app_settings() -> dict:
    """The Function App's app settings (name -> parsed value) from infra.bicep."""
    sites = [r for r in template()["resources"].values()
             if r["type"] == "Microsoft.Web/sites/config" and r["config"].get("name") == "appsettings"]
    assert len(sites) == 1, "infra.bicep must set the app settings in one sites/config 'appsettings'"
    return sites[0]["config"]["properties"]


def local_settings() -> dict[str, str]:
    return json.loads((ROOT / "local.settings.example.json").read_text())["Values"]


def defines(names: set[str] | dict, setting: str) -> bool:
    """A setting is defined by its own name or, for a connection, by its identity-based family
    (`NAME__accountEndpoint`, `NAME__fullyQualifiedNamespace`, `NAME__serviceUri`, ...)."""
    return setting in names or any(n.startswith(setting + "__") for n in names)
