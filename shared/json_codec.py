"""JSON on the request path: the request body in, the forwarded body out.

`json.loads(bytes)` first sniffs the encoding (UTF-8, -16 or -32) in Python, and
`JSONEncoder.encode` builds a new C encoder (with its own caches) on every call; on a
pass-through request these two cost more than the decoding and encoding themselves. Here the
C encoder is made once, and UTF-8 (what every OpenAI client sends) goes straight to the C
decoder; anything else takes `json.loads`, so the accepted inputs and errors are unchanged.

Three things `json` accepts are refused here, as OpenAI refuses them (`UnsafeJson`, a
ValueError): nesting deeper than `MAX_DEPTH` (checked by a flat scan *before* decoding, so no
decoder or later walk of the value can hit Python's recursion limit), `NaN`/`Infinity` (not
JSON; a provider answers them with a 400 or a 500), and a lone UTF-16 surrogate escape such as
`"\\ud800"` (it decodes to a `str` that cannot be encoded as UTF-8 again).
"""
from __future__ import annotations

import json
import re
from json import encoder as _encoder
from typing import Any

MAX_DEPTH = 64          # OpenAI's own tool schemas stay far below this


class UnsafeJson(ValueError):
    """Valid for Python's `json`, refused by the gateway. `msg` says why (like JSONDecodeError)."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


def _constant(name: str) -> Any:
    raise UnsafeJson(f"'{name}' is not a JSON value (use null or a finite number)")


_decode = json.JSONDecoder(parse_constant=_constant).decode
# Outside strings, brackets open and close levels; strings are skipped whole (escapes included).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder `JSONEncoder(separators=(",", ":")).iterencode` builds, with its arguments in
# order: markers (None: no cycle check, bodies come from json.loads), default, string encoder,
# indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
_compact = _encoder.c_make_encoder(None, _unserializable, _encoder.encode_basestring_ascii,
                                   None, ":", ",", False, False, True)


def dumps_compact(data: Any) -> bytes:
    """`json.dumps(data, separators=(",", ":")).encode()`, for JSON that came from `loads`."""
    return "".join(_compact(data, 0)).encode()


def _check_depth(text: str, limit: int) -> None:
    # A body with fewer opening brackets than the limit cannot be too deep: one C-speed count
    # spares the scan on nearly every request.
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                raise UnsafeJson(f"the JSON is nested deeper than {limit} levels")
        elif token in "]}":
            depth -= 1


def _check_strings(value: Any) -> None:
    """Every string (key or value) must be encodable as UTF-8; walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                raise UnsafeJson("a string contains a lone UTF-16 surrogate escape "
                                 "(\\ud800-\\udfff not in a valid pair)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads(raw)`: the same values and `ValueError`s, plus `UnsafeJson` for the three
    forms above."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = None                     # UTF-16/32 are valid JSON too; else its own error
        if text is None or text[:1] == "\ufeff":
            text = _decode_other(raw)
    _check_depth(text, max_depth)
    data = _decode(text)
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(data)
    return data


def _decode_other(raw: bytes) -> str:
    """The text of a body that is not plain UTF-8, as `json.loads` would see it (its own
    ValueError/UnicodeDecodeError for bytes that are no JSON encoding at all)."""
    encoding = json.detect_encoding(raw)
    return raw.decode(encoding, "surrogatepass")
