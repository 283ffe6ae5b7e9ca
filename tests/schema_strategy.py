"""Hypothesis strategies from the JSON schemas in our OpenAPI description: mostly values the
schema allows, mixed with arbitrary JSON, so a fuzz run probes both the deep paths and the
validation. Covers the JSON Schema subset our schemas use (pydantic's output included)."""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def arbitrary_json() -> st.SearchStrategy:
    return _JSON


def from_schema(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy:
    """Values for `schema`, with one in eight anywhere replaced by arbitrary JSON."""
    valid = _valid(schema, defs, depth)
    return st.integers(0, 7).flatmap(lambda i: valid if i else _JSON)


def _valid(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy:
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([_valid({**schema, "type": k}, defs, depth) for k in kind])
    if kind == "object":
        return _object(schema, defs, depth)
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, depth + 1) if depth < 3 else _JSON
        return st.lists(items, min_size=schema.get("minItems", 0),
                        max_size=max(schema.get("minItems", 0), schema.get("maxItems", 4)))
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: len(s) <= schema.get("maxLength", 200))
        return st.text(min_size=schema.get("minLength", 0),
                       max_size=min(schema.get("maxLength", 30), 30))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"),
                         allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return _JSON


def _object(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy:
    props = schema.get("properties", {})
    if depth >= 3:
        return st.just({})
    required = {k: from_schema(v, defs, depth + 1) for k, v in props.items()
                if k in schema.get("required", [])}
    optional = {k: from_schema(v, defs, depth + 1) for k, v in props.items() if k not in required}
    extra = schema.get("additionalProperties")
    base = st.fixed_dictionaries(required, optional=optional)
    if isinstance(extra, dict) and not props:
        return st.dictionaries(st.text(min_size=1, max_size=10),
                               from_schema(extra, defs, depth + 1), max_size=3)
    return base
