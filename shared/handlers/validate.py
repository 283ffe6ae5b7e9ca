"""Small checks shared by the endpoint handlers; each failure is a 400 naming its field."""
from __future__ import annotations

from typing import Any

from ..catalog import Operation, ResolvedModel
from ..errors import InvalidRequest
from ..providers import ROUTING_FIELDS


def require_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name,
                             code="missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{name}' must be a non-empty string.", param=name)
    return value


def optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean.", param=name)
    return value


def refuse_routing_fields(body: dict[str, Any]) -> None:
    for name in body:
        if name in ROUTING_FIELDS:
            raise InvalidRequest(f"'{name}' cannot be set by a request: the gateway's catalog "
                                 "decides where and as whom a model is called.", param=name,
                                 code="forbidden_parameter")


def require_operation(model: ResolvedModel, operation: Operation) -> None:
    if operation not in model.doc.operations:
        raise InvalidRequest(f"The model '{model.doc.id}' does not support the operation "
                             f"'{operation.value}'.", param="model",
                             code="operation_not_supported")
