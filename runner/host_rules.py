"""What the Azure Functions host (and its Python worker) refuses at startup, checked by the local
runner before it serves anything, so that "works locally" cannot hide "dropped on Azure".

The host drops a refused function and starts without it: on Azure the symptom is a 404 on every
call to that function, and a line in the host log nobody reads. The runner refuses the whole app
instead, with the host's own message, because a missing function is never what the author meant.

Each rule names where it comes from:
- RESERVED: azure-functions-host, `HttpRouteValidation` / `ScriptHost.ValidateFunction` and its
  tests ("admin/foo/bar" is refused): a route whose first characters, after trimming '/', are
  `admin` or `runtime` in any case (`administration/x` too) "conflicts with one or more built in
  routes". `/admin` is the host's management API, `/runtime` its webhooks and scale controller
  endpoints. `routePrefix` does not change it.
- DUPLICATE: the same `ValidateFunction`: a second function on the same route template (compared
  ignoring case) with an overlapping method "conflicts with the route defined by function 'X'".
  Parameter names do not tell templates apart in ASP.NET routing, so `a/{id}` and `a/{key}` are the
  same route here too (the host would accept both and then answer one of them at random).
- TEMPLATE: ASP.NET Core's `RoutePatternParser`, which the host's router uses: no empty segment,
  balanced braces, a non-empty and unique parameter name per parameter, no '?' in a literal, no
  two parameters back to back in one segment, a catch-all (`{*x}`) only as the last segment.
- TYPES: the http-fastapi extension (platform notes): once it is on, every HTTP function takes
  the extension's `Request` as its trigger parameter and returns a Starlette/FastAPI `Response`;
  a function typed `func.HttpRequest`/`func.HttpResponse` makes indexing fail for the whole app.
"""
from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Iterable

from starlette.requests import Request
from starlette.responses import Response

RESERVED_PREFIXES = ("admin", "runtime")
_PARAM = re.compile(r"\{([^{}]*)\}")


class HostRuleError(Exception):
    """A function the Functions host would refuse; the message is the host's own."""

    def __init__(self, function: str, rule: str, message: str):
        self.function, self.rule = function, rule
        super().__init__(f"The function '{function}' is in error: {message} ({rule})")


def check_route_reserved(route: str) -> str | None:
    if route.strip("/").lower().startswith(RESERVED_PREFIXES):
        return "The specified route conflicts with one or more built in routes."
    return None


def check_route_template(route: str) -> str | None:
    """The subset of ASP.NET Core's route-template grammar that a hand-written route can break."""
    template = route.strip("/")
    if "//" in template:
        return "The route template separator character '/' cannot appear consecutively."
    names: list[str] = []
    segments = template.split("/")
    for i, segment in enumerate(segments):
        literal = _PARAM.sub("", segment)
        if "{" in literal or "}" in literal:
            return ("There is an incomplete parameter in the route template. Check that each "
                    "'{' character has a matching '}' character.")
        if "?" in literal:
            return ("The literal section is invalid. Literal sections cannot contain the '?' "
                    "character.")
        if "}{" in segment:
            return ("A path segment cannot contain two consecutive parameters. They must be "
                    "separated by a '/' or by a literal string.")
        for raw in _PARAM.findall(segment):
            name = raw.lstrip("*").split(":", 1)[0].split("=", 1)[0].rstrip("?")
            if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                return f"The route parameter name '{name}' is invalid."
            if raw.startswith("*") and (i != len(segments) - 1 or segment != "{" + raw + "}"):
                return ("A catch-all parameter can only appear as the last segment of the route "
                        "template.")
            if name.lower() in names:
                return (f"The route parameter name '{name}' appears more than one time in the "
                        "route template.")
            names.append(name.lower())
    return None


def route_key(route: str) -> str:
    """The route as the router tells routes apart: case-insensitive, parameter names ignored."""
    return _PARAM.sub("{}", route.strip("/").lower())


def check_http_types(user: Any, trigger_param: str) -> str | None:
    try:
        hints = typing.get_type_hints(user)
    except Exception as exc:                      # an annotation that does not resolve
        return f"Its type annotations cannot be resolved ({type(exc).__name__})."
    request, response = hints.get(trigger_param), hints.get("return")
    if not (inspect.isclass(request) and issubclass(request, Request)):
        return (f"Parameter '{trigger_param}' must be typed as the http-fastapi extension's "
                "Request: with the extension enabled, every HTTP function of the app must be.")
    if not (inspect.isclass(response) and issubclass(response, Response)):
        return ("The return type must be a FastAPI/Starlette Response: with the http-fastapi "
                "extension enabled, every HTTP function of the app must return one.")
    return None


def check_http_functions(functions: Iterable[tuple[str, str, list[str], Any, str]]) -> None:
    """Each of (name, route, methods, user function, trigger parameter), in registration order;
    raises `HostRuleError` for the first function the host would refuse."""
    seen: dict[str, list[tuple[str, set[str]]]] = {}
    for name, route, methods, user, param in functions:
        route = route or name                      # the host's default route is the name
        for rule, problem in (("RESERVED", check_route_reserved(route)),
                              ("TEMPLATE", check_route_template(route)),
                              ("TYPES", check_http_types(user, param))):
            if problem:
                raise HostRuleError(name, rule, problem)
        wanted = {m.upper() for m in methods} or {"*"}
        for other, other_methods in seen.get(route_key(route), []):
            if "*" in wanted or "*" in other_methods or wanted & other_methods:
                raise HostRuleError(name, "DUPLICATE", "The route specified conflicts with the "
                                    f"route defined by function '{other}'.")
        seen.setdefault(route_key(route), []).append((name, wanted))
