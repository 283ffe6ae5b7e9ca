"""Pydantic validation with errors that name the field, in the two forms the gateway needs:
a 400 for a caller's document, a ValueError for catalog parameters (reported when a model is
saved, or as a misconfigured model when it is used)."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def _first(exc: ValidationError) -> tuple[str | None, str]:
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or None, first["msg"]


def parse_document(model: type[M], data: Any, what: str) -> M:
    """`data` as `model`, or a 400 whose `param` is the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where, msg = _first(exc)
        raise InvalidRequest(f"Invalid {what}: {where or 'document'}: {msg}", param=where) from None


def parse_parameters(model: type[M], params: dict[str, Any]) -> M:
    """Catalog `parameters` as `model`, or ValueError('parameters.NAME: problem')."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        where, msg = _first(exc)
        raise ValueError(f"parameters.{where}: {msg}") from None
