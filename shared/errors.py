"""Every failure the gateway can answer, as OpenAI's error envelope.

Hierarchy (one table from error kind to HTTP status, as the OpenAI API uses them):

    GatewayError                    500 server_error
    ├── InvalidRequest              400 invalid_request_error   (names the `param`)
    ├── AuthenticationFailed        401 authentication_error
    ├── PermissionDenied            403 permission_error
    ├── NotFound                    404 invalid_request_error   (model_not_found, not_found)
    ├── Conflict                    409 invalid_request_error
    ├── PreconditionFailed          412 invalid_request_error   (If-Match: the document changed)
    ├── PayloadTooLarge             413 invalid_request_error
    ├── UpstreamRefused             the provider's 4xx          (402, 405, 409, 410, 415, 451...)
    ├── RateLimited                 429 rate_limit_error        (keeps Retry-After)
    ├── UpstreamError               502 upstream_error          (provider failed or refused us)
    ├── ServiceUnavailable          503 service_unavailable     (our store, or provider 503)
    └── UpstreamTimeout             504 timeout                 (provider did not answer in time)

Messages are written for the caller and never carry secrets: upstream text goes through
`sanitize()` before it is put in an error.
"""
from __future__ import annotations

import json
import re
from typing import Any


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return json.dumps(self.envelope()).encode()


class InvalidRequest(GatewayError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class AuthenticationFailed(GatewayError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class PermissionDenied(GatewayError):
    status, type, code = 403, "permission_error", "permission_denied"


class NotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str):
        super().__init__(f"The model '{model}' does not exist or you do not have access to it.",
                         param="model")


class Conflict(GatewayError):
    status, type, code = 409, "invalid_request_error", "conflict"


class PreconditionFailed(GatewayError):
    status, type, code = 412, "invalid_request_error", "precondition_failed"


class PayloadTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


class UpstreamRefused(GatewayError):
    """A provider's 4xx that is the caller's answer (402, 405, 409, 410, 415, 451, ...): relayed
    with the provider's status, never retried or failed over."""
    type = "invalid_request_error"

    def __init__(self, status: int, message: str):
        super().__init__(message, code=f"upstream_{status}")
        self.status = status


class RateLimited(GatewayError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


class UpstreamError(GatewayError):
    status, type, code = 502, "upstream_error", "upstream_error"


class ServiceUnavailable(GatewayError):
    status, type, code = 503, "service_unavailable", "service_unavailable"


class UpstreamTimeout(GatewayError):
    status, type, code = 504, "timeout", "upstream_timeout"


# Things that look like credentials, whatever produced the text.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[-_]?key|access_token|token|key|secret|password|assertion)"
               r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]{4,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"\bya29\.[A-Za-z0-9._-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),   # a JWT (Entra)
    re.compile(r"\bllmp-[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
]
_MAX_UPSTREAM_MESSAGE = 500


def sanitize(text: str, secrets: tuple[str, ...] | list[str] = (),
             limit: int | None = _MAX_UPSTREAM_MESSAGE) -> str:
    """Remove known secret values and credential-shaped strings from provider text."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() and m.group(1)
                                      and not m.group(1).startswith("-----") else "") + "[redacted]",
                           text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text


def from_upstream(status: int, message: str, *, retry_after: str | None = None,
                  provider: str = "provider", secrets: tuple[str, ...] = ()) -> GatewayError:
    """Map a provider's HTTP failure to ours. The one place that decides this."""
    message = sanitize(message or "", secrets)
    if status == 429:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return RateLimited(f"The {provider} is rate limiting this model: {message}".rstrip(": "),
                           headers=headers)
    if status in (400, 422):
        err = InvalidRequest(f"The {provider} rejected the request: {message}")
        err.code = "upstream_invalid_request"
        return err
    if status == 413:
        return PayloadTooLarge(f"The {provider} rejected the request as too large: {message}")
    if status in (401, 403):
        return UpstreamError(f"The {provider} refused the gateway's credentials for this model; "
                             "an administrator must fix the model's configuration.",
                             code="upstream_auth_failed")
    if status == 404:
        return UpstreamError(f"The {provider} does not know this model or deployment; "
                             "an administrator must fix the model's configuration.",
                             code="upstream_not_found")
    if status in (408, 504):
        return UpstreamTimeout(f"The {provider} timed out.")
    if 400 <= status < 500:
        return UpstreamRefused(status, f"The {provider} refused the request with status "
                                       f"{status}: {message}".rstrip(": "))
    if status == 503:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return ServiceUnavailable(f"The {provider} is unavailable: {message}".rstrip(": "),
                                  headers=headers)
    return UpstreamError(f"The {provider} failed with status {status}: {message}".rstrip(": "))


def startup_error(exc: Exception) -> GatewayError:
    """The gateway could not start: configuration is wrong (say which, never a value) or the
    store is unreachable."""
    import logging
    logging.getLogger("llmproxy").error("gateway startup failed: %s: %s", type(exc).__name__,
                                        sanitize(str(exc)))
    if isinstance(exc, ValueError):
        return GatewayError(f"The gateway is misconfigured: {sanitize(str(exc))}",
                            code="gateway_misconfigured")
    return ServiceUnavailable("The gateway could not reach its store; try again.")


def upstream_message(raw: bytes) -> str:
    """Best-effort human text out of a provider's error body (Azure, OpenAI, Google shapes)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("error_description") or "")
        return str(err)
    return ""
