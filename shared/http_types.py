"""Host-neutral request and response: what `shared.handlers` take and return.

The Functions layer and the local runner convert to and from these, so the core never imports a
web framework and every handler can be called directly in a unit test.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping

from . import json_codec
from .errors import InvalidRequest


@dataclass
class ApiRequest:
    method: str
    path: str
    headers: Mapping[str, str]               # case-insensitive lookups, lower-case names
    query: Mapping[str, str] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Instead of `body`, for endpoints that take uploads too large to hold (see
    # blueprints/host.serve, `stream_body`): the body's chunks as they arrive.
    body_stream: AsyncIterator[bytes] | None = None
    # The model the URL names (an Azure deployment route): it takes the place of the body's
    # `model`, as Azure routes by the path whatever the body says.
    model: str | None = None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 that says what is wrong with it."""
        if not self.body:
            raise InvalidRequest("The request body is empty; send a JSON object.")
        try:
            data = json_codec.loads(self.body)
        except UnicodeDecodeError:
            raise InvalidRequest("The request body is not valid JSON: it is not UTF-8 text.") \
                from None
        except json_codec.UnsafeJson as exc:
            raise InvalidRequest(f"The request body is not accepted: {exc.msg}.",
                                 code="invalid_json") from None
        except ValueError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} "
                                 f"(line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        if self.model is not None:
            data["model"] = self.model
        return data


@dataclass
class ApiResponse:
    status: int = 200
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Values for the function's output bindings, by binding name (e.g. an Event Hub event). The
    # Functions layer sets them on its `func.Out` parameters; like the host, only on success.
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None,
             outputs: dict[str, Any] | None = None) -> "ApiResponse":
        return cls(status=status, body=json.dumps(data).encode(), headers=dict(headers or {}),
                   outputs=dict(outputs or {}))
