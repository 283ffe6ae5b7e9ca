"""JSON on the request path: the request body in, the forwarded body out.

`json.loads(bytes)` first sniffs the encoding (UTF-8, -16 or -32) in Python, and
`JSONEncoder.encode` builds a new C encoder (with its own caches) on every call; on a
pass-through request these two cost more than the decoding and encoding themselves. Here the
C encoder is made once, and UTF-8 (what every OpenAI client sends) goes straight to the C
decoder; anything else takes `json.loads`, so the accepted inputs and errors are unchanged.
"""
from __future__ import annotations

import json
from json import encoder as _encoder
from typing import Any

_decode = json.JSONDecoder().decode


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


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`: the same values and the same `ValueError`s."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return json.loads(raw)          # UTF-16/32 are valid JSON too; else its own error
    if text[:1] == "\ufeff":
        return json.loads(raw)          # json.loads's own answer to a byte-order mark
    return _decode(text)
