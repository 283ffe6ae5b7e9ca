"""Error responses in each provider's own shape.

Gateways map upstream errors by parsing these bodies, so the shapes copy what
Azure OpenAI, OpenAI and Google actually return.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

AZURE = "azure"  # Azure OpenAI data plane: code is a string
OPENAI = "openai"  # plain OpenAI-compatible surface
GOOGLE = "google"  # every Vertex AI path, including partner models

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    401: "Access denied due to invalid subscription key or wrong API endpoint. "
    "Make sure to provide a valid key for an active subscription and use a correct "
    "regional API endpoint for your resource.",
    404: "Resource not found",
    429: "Requests to the ChatCompletions_Create Operation have exceeded the rate limit "
    "of your current tier. Please retry after a while.",
}

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def error_body(flavor: str, status: int, message: str | None = None) -> dict[str, Any]:
    if message is None and flavor == OPENAI and status == 401:
        message = "Incorrect API key provided."
    if message is None:
        message = _DEFAULT_MESSAGES.get(status) or _reason(status)
    if flavor == GOOGLE:
        return {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}
    if flavor == OPENAI:
        return {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
                "param": None,
                "code": "invalid_api_key" if status == 401 else str(status),
            }
        }
    return {"error": {"code": str(status), "message": message}}


def error_response(
    flavor: str,
    status: int,
    message: str | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(body if body is not None else error_body(flavor, status, message),
                             status=status, headers=headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Simulated error"
