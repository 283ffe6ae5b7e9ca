"""Azure OpenAI's URL shapes over the very same handlers as `/v1/*`.

Two surfaces, as Azure OpenAI serves them, so that an app built on the `AzureOpenAI` client
switches to the gateway by changing its endpoint and key only:

- deployments: `/openai/deployments/{deployment}/<operation>?api-version=YYYY-MM-DD[-preview]`.
  `{deployment}` is a catalog model id and takes the place of the body's `model` (Azure routes
  by the path and ignores the body's model). `api-version` is required and checked for shape.
- v1: `/openai/v1/<operation>`, the model in the body; `api-version` optional (`v1`,
  `preview` or `latest`, as Azure's v1 surface takes).

Either way the request then runs through the `/v1/*` handler unchanged: the same checks,
catalog resolution (a model this project may not see is 404 here too), limits, routing and
metering. The client's `api-version` is only checked, never forwarded: the catalog decides which
API version the gateway calls each provider with.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from ..errors import InvalidRequest
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse
from .respond import Handler

PARAM = "api-version"
_DATED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
V1_VERSIONS = ("v1", "preview", "latest")


def _is_dated(version: str) -> bool:
    match = _DATED.match(version)
    if match is None:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _unsupported(version: str, expected: str) -> InvalidRequest:
    # Azure answers an unknown version 400 {"code": "BadRequest", "message": "API version not
    # supported"}; the same code here, in OpenAI's envelope, naming the parameter.
    shown = version if len(version) <= 40 else version[:40] + "..."
    return InvalidRequest(f"API version not supported: '{shown}'. {expected}", param=PARAM,
                          code="BadRequest")


def check_deployment_version(query) -> None:
    version = query.get(PARAM)
    if version is None or version == "":
        raise InvalidRequest("Missing required query parameter 'api-version' (e.g. "
                             "?api-version=2024-10-21).", param=PARAM,
                             code="missing_required_parameter")
    if not _is_dated(version):
        raise _unsupported(version, "Use a dated version such as 2024-10-21 or "
                                    "2025-04-01-preview.")


def check_v1_version(query) -> None:
    version = query.get(PARAM)
    if version is not None and version not in V1_VERSIONS:
        raise _unsupported(version, "The /openai/v1 surface takes 'v1', 'preview' or "
                                    "'latest', or no api-version at all.")


def _served(handler: Handler, prefix: str, check_version,
            deployment_is_model: bool = False) -> Handler:
    """`handler` behind an Azure route: its api-version checked, and with `deployment_is_model`
    the path's `{deployment}` in place of the body's model."""
    async def handle(gw: Gateway, req: ApiRequest) -> ApiResponse:
        check_version(req.query)
        if deployment_is_model:
            req = replace(req, model=req.path_params.get("deployment", ""))
        return await handler(gw, req)
    handle.__name__ = prefix + handler.__name__          # the request's name in telemetry
    return handle


def on_deployment(handler: Handler) -> Handler:
    """`handler` served at `/openai/deployments/{deployment}/...`."""
    return _served(handler, "azure_", check_deployment_version, deployment_is_model=True)


def on_dated_version(handler: Handler) -> Handler:
    """`handler` at a dated-version route that names no deployment (`/openai/models`,
    `/openai/responses`, `/openai/files`, `/openai/batches`)."""
    return _served(handler, "azure_", check_deployment_version)


def on_v1(handler: Handler) -> Handler:
    """`handler` served at `/openai/v1/...`: the body names the model, as on `/v1/*`."""
    return _served(handler, "azure_v1_", check_v1_version)
