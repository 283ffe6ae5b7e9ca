"""The local runner refuses what the Azure Functions host refuses (runner/host_rules.py), so a
route that would be dropped on Azure cannot pass locally. One test per rule, each naming where
the rule comes from; then the runner itself refusing a bad app at startup, and a port clash."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import azure.functions as func
import pytest
from azurefunctions.extensions.http.fastapi import Request, Response

from runner.functions import read_functions
from runner.host_rules import HostRuleError, check_route_reserved, check_route_template

from .conftest import ROOT, free_port

BUILT_IN = "The specified route conflicts with one or more built in routes."


def app_with(*routes: tuple[str, list[str]], typed: bool = True) -> func.FunctionApp:
    """A FunctionApp with one HTTP function per (route, methods), typed as ours are."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for i, (route, methods) in enumerate(routes):
        if typed:
            async def handler(req: Request) -> Response:
                return Response()
        else:
            async def handler(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse()
        handler.__name__ = f"fn{i}"
        app.function_name(f"fn{i}")(app.route(route=route, methods=methods)(handler))
    return app


def refusal(app) -> HostRuleError:
    with pytest.raises(HostRuleError) as info:
        read_functions(app)
    return info.value


# azure-functions-host, ScriptHost.ValidateFunction (and its test "admin/foo/bar"): the host's
# own management API (/admin) and runtime endpoints (/runtime) reserve every route starting so.
@pytest.mark.parametrize("route", ["admin/models", "Admin/x", "/admin", "administration/keys",
                                   "runtime/webhooks/x", "RUNTIMEX", "admin"])
def test_reserved_route_space_is_refused(route):
    err = refusal(app_with((route, ["GET"])))
    assert err.rule == "RESERVED" and BUILT_IN in str(err) and "fn0" in str(err)


@pytest.mark.parametrize("route", ["v1/organization/models", "v1/admin",
                                   "organization/admin/x", "api/runtime"])
def test_admin_or_runtime_later_in_the_route_is_fine(route):
    assert check_route_reserved(route) is None


# The same ValidateFunction: one route (ignoring case; ASP.NET ignores parameter names when it
# matches) with overlapping methods belongs to one function only.
@pytest.mark.parametrize("first, second", [
    (("v1/things", ["GET"]), ("v1/things", ["GET", "POST"])),
    (("v1/things/{id}", ["DELETE"]), ("V1/Things/{key}", ["DELETE"])),
    (("v1/things", []), ("v1/things", ["PUT"])),           # no methods = every method
])
def test_two_functions_on_one_method_and_route_are_refused(first, second):
    err = refusal(app_with(first, second))
    assert err.rule == "DUPLICATE" and "conflicts with the route defined by function 'fn0'" \
        in str(err)


def test_one_route_with_different_methods_is_fine():
    functions = read_functions(app_with(("v1/things", ["GET"]), ("v1/things", ["POST"])))
    assert [f.name for f in functions.http] == ["fn0", "fn1"]


# ASP.NET Core's RoutePatternParser, which parses every HTTP trigger's route in the host.
@pytest.mark.parametrize("route, words", [
    ("v1//things", "cannot appear consecutively"),
    ("v1/{id", "incomplete parameter"),
    ("v1/id}", "incomplete parameter"),
    ("v1/{}", "parameter name '' is invalid"),
    ("v1/{a-b}", "is invalid"),
    ("v1/{id}/x/{ID}", "appears more than one time"),
    ("v1/{a}{b}", "two consecutive parameters"),
    ("v1/{*rest}/x", "catch-all"),
    ("v1/what?", "cannot contain the '?'"),
])
def test_invalid_route_templates_are_refused(route, words):
    assert words in check_route_template(route)
    assert refusal(app_with((route, ["GET"]))).rule == "TEMPLATE"


@pytest.mark.parametrize("route", ["v1/things/{id}", "v1/{*path}", "v1/{id:int}/x", "openapi.json"])
def test_valid_route_templates_pass(route):
    assert check_route_template(route) is None


# The http-fastapi extension (platform notes): with it on, every HTTP function takes its Request
# and returns a Starlette/FastAPI Response; one func.HttpRequest function fails indexing.
def test_http_functions_without_the_extensions_types_are_refused():
    err = refusal(app_with(("v1/things", ["GET"]), typed=False))
    assert err.rule == "TYPES" and "Request" in str(err)


def test_the_apps_own_functions_pass_every_rule():
    code = "import function_app; from runner.functions import read_functions; " \
           "print(len(read_functions(function_app.app).http))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and int(out.stdout) > 20, out.stderr


def runner_env(tmp_path, simulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "COSMOS_"))}
    env.update(LLMPROXY_DATA_DIR=str(tmp_path), LLMPROXY_SIMULATOR_URL=simulator)
    return env


def test_the_runner_refuses_an_app_the_host_would_refuse(tmp_path, simulator):
    # The runner as `make run` starts it, with function_app replaced by an app that has an
    # admin route: it exits 1 with the host's message instead of serving.
    script = textwrap.dedent(f"""
        import sys, types
        import azure.functions as func
        from azurefunctions.extensions.http.fastapi import Request, Response
        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        @app.function_name("keys")
        @app.route(route="admin/keys", methods=["GET"])
        async def keys(req: Request) -> Response:
            return Response()
        sys.modules["function_app"] = types.SimpleNamespace(app=app)
        sys.argv = ["runner", "--port", "{free_port()}", "--catalog", "none"]
        from runner.__main__ import main
        main()
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                         env=runner_env(tmp_path, simulator), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert BUILT_IN in out.stderr and "'keys'" in out.stderr
    assert "listening" not in out.stdout and "Traceback" not in out.stderr


def test_a_port_in_use_is_one_clear_line_and_exit_code_1(tmp_path, simulator):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "runner", "--port", str(port), "--catalog",
                              "none"], cwd=ROOT, env=runner_env(tmp_path, simulator),
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "listening" not in out.stdout and "Traceback" not in out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
