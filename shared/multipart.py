"""multipart/form-data (RFC 7578): a small parser for uploads the gateway reads whole, and the
encoder for the uploads it forwards to a provider.

The body is already in memory (its size capped by the host), so splitting on the boundary is
enough; no streaming parser or extra dependency is needed. Every parsing problem is a 400.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from email.message import Message

from .errors import InvalidRequest
from .providers import Upload


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        values = self.fields.get(name)
        if values and len(values) > 1:
            raise InvalidRequest(f"'{name}' was sent more than once.", param=name)
        return values[0] if values else None


def header_params(header: str, value: str) -> tuple[str, dict[str, str]]:
    """('multipart/form-data', {'boundary': ...}) out of a header value; quotes handled."""
    message = Message()
    message[header] = value
    params = message.get_params(header=header) or [("", "")]
    return params[0][0].strip().lower(), {k.lower(): v for k, v in params[1:]}


def boundary_of(content_type: str) -> bytes:
    kind, params = header_params("content-type", content_type or "")
    if kind != "multipart/form-data" or not params.get("boundary"):
        raise InvalidRequest("The request must be multipart/form-data with a boundary.")
    return params["boundary"].encode("latin-1")


def _parse_part(part: bytes, form: Form) -> None:
    head, sep, content = part.partition(b"\r\n\r\n")
    if not sep:
        raise InvalidRequest("A multipart part has no header/body separator.")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    _, disposition = header_params("content-disposition",
                                    headers.get("content-disposition", ""))
    name = disposition.get("name")
    if not name:
        raise InvalidRequest("A multipart part has no field name.")
    if "filename" in disposition:
        form.files[name] = Upload(disposition["filename"], content,
                                  headers.get("content-type", "application/octet-stream"))
    else:
        form.fields.setdefault(name, []).append(content.decode("utf-8", "replace"))


def parse_form(body: bytes, content_type: str) -> Form:
    # A delimiter is CRLF "--" boundary (RFC 2046); the first one may start the body.
    delimiter = b"\r\n--" + boundary_of(content_type)
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise InvalidRequest("The multipart body is incomplete (no closing boundary).")
    form = Form()
    for chunk in chunks[1:-1]:
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):     # only padding may follow it
            raise InvalidRequest("The multipart body is malformed.")
        _parse_part(chunk[line_end + 2:], form)
    return form


def _quoted(text: str) -> str:
    """A name or filename inside a quoted-string: quote and line breaks percent-encoded, as
    browsers do (WHATWG), so a client's filename can never add a header of its own."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_form(fields: dict[str, object], file_field: str, filename: str, content: bytes,
                content_type: str) -> tuple[bytes, str]:
    """(body, Content-Type header) for text fields (a list value repeats its field) and one file."""
    boundary = "llmproxy-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        for item in (value if isinstance(value, list) else [value]):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"'
                         f'\r\n\r\n{item}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(file_field)}"; '
                 f'filename="{_quoted(filename)}"\r\nContent-Type: {_quoted(content_type)}'
                 f'\r\n\r\n'.encode())
    parts += [content, f"\r\n--{boundary}--\r\n".encode()]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
