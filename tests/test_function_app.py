"""The Functions app indexes the way the Python worker will: routes, methods, bindings, typing."""
from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import pytest
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from .conftest import ROOT

# The API as the README documents it: function name -> (route, methods).
DOCUMENTED = {
    "chat_completions": ("v1/chat/completions", ["POST"]),
    "list_models": ("v1/models", ["GET"]),
    "get_model": ("v1/models/{id}", ["GET"]),
    "embeddings": ("v1/embeddings", ["POST"]),
    "image_generations": ("v1/images/generations", ["POST"]),
    "audio_speech": ("v1/audio/speech", ["POST"]),
    "audio_transcriptions": ("v1/audio/transcriptions", ["POST"]),
    "audio_translations": ("v1/audio/translations", ["POST"]),
    "health": ("health", ["GET"]),
    "openapi": ("openapi.json", ["GET"]),
    "admin_list_models": ("admin/models", ["GET"]),
    "admin_get_model": ("admin/models/{id}", ["GET"]),
    "admin_put_model": ("admin/models/{id}", ["PUT"]),
    "admin_delete_model": ("admin/models/{id}", ["DELETE"]),
    "admin_create_key": ("admin/projects/{project}/keys", ["POST"]),
    "admin_list_keys": ("admin/projects/{project}/keys", ["GET"]),
    "admin_revoke_key": ("admin/keys/{key_id}", ["DELETE"]),
    "admin_usage": ("admin/usage", ["GET"]),
    "admin_get_limits": ("admin/projects/{project}/limits", ["GET"]),
    "admin_put_limits": ("admin/projects/{project}/limits", ["PUT"]),
    "admin_delete_limits": ("admin/projects/{project}/limits", ["DELETE"]),
}


@pytest.fixture(scope="module")
def functions():
    import function_app
    return function_app.app.get_functions()        # may be called once per app


def http(functions):
    return [f for f in functions if f.get_trigger().get_binding_name() == "httpTrigger"]


def test_every_documented_route_is_registered_and_nothing_else(functions):
    found = {}
    for fn in http(functions):
        trigger = fn.get_trigger()
        found[fn.get_function_name()] = (trigger.route,
                                         sorted(m.value for m in trigger.methods))
    assert found == {name: (route, sorted(methods)) for name, (route, methods) in DOCUMENTED.items()}


def test_http_functions_follow_the_workers_rules(functions):
    for fn in http(functions):
        trigger = fn.get_trigger()
        assert trigger.auth_level.value == "anonymous", fn.get_function_name()
        user = fn.get_user_function()
        assert inspect.iscoroutinefunction(user)
        hints = typing.get_type_hints(user)
        params = list(inspect.signature(user).parameters)
        # The trigger binding's name must be a parameter, typed as the extension's Request.
        assert params == [trigger.name] == ["req"], fn.get_function_name()
        assert issubclass(hints["req"], StarletteRequest)
        assert issubclass(hints["return"], StarletteResponse)
        raw = fn.get_raw_bindings()
        assert any('"type": "httpTrigger"' in b for b in raw)
        assert any('"type": "http"' in b for b in raw)      # the return binding


def test_function_names_are_unique(functions):
    names = [f.get_function_name() for f in functions]
    assert len(names) == len(set(names))


def test_host_json_has_no_route_prefix():
    import json
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["version"] == "2.0"


def test_importing_the_app_imports_neither_litellm_nor_opens_a_store():
    code = ("import sys, function_app; "
            "assert 'litellm' not in sys.modules, 'litellm imported at load'; "
            "assert 'azure.cosmos' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_core_does_not_import_azure_functions():
    import ast
    for path in (ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("azure.functions", "azurefunctions")), path
