"""Bridge between the Functions HTTP types (FastAPI/Starlette, via the http-fastapi extension)
and the core's host-neutral `ApiRequest`/`ApiResponse`. The local runner serves these same
functions, so this is the only HTTP adapter there is."""
from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterator, Mapping

from azurefunctions.extensions.http.fastapi import Request, Response

from shared import request_context
from shared.config import Settings
from shared.errors import InvalidRequest, PayloadTooLarge, startup_error
from shared.gateway import get_gateway
from shared.handlers.respond import Handler, error_response_for, respond
from shared.http_types import ApiRequest, ApiResponse

from .streaming import RelayedStream


class RequestHeaders(Mapping[str, str]):
    """The request's headers by case-insensitive name, from the ASGI list (whose names are
    lower-case); the first of repeated ones, as Starlette's `Headers` answers. The list becomes
    a dict of raw bytes in one C call (reversed, so the first of repeated names wins); only the
    two or three headers a request reads are decoded. Scanning the list per lookup, or
    Starlette's `Headers`, cost more: an SDK sends a dozen or more headers."""

    __slots__ = ("_raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._raw = raw
        self._map: dict[bytes, bytes] = dict(reversed(raw))

    def get(self, name: str, default: Any = None) -> Any:       # type: ignore[override]
        value = self._map.get(name.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower().encode("latin-1") in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name.decode("latin-1") for name, _ in self._raw))

    def __len__(self) -> int:
        return len(self._map)


async def _read_body(request: Request, declared: str | None, limit: int) -> bytes:
    """The body, from the ASGI messages themselves (`request.stream()` is an async generator,
    which the event loop registers and finalizes for every request)."""
    _check_declared(declared, limit)
    receive = request.receive
    chunks, size, more = [], 0, True
    while more:
        chunk, more, size = _body_part(await receive(), size, limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _body_part(message: Any, size: int, limit: int) -> tuple[bytes, bool, int]:
    """One ASGI message of the body: its bytes, whether more follow, the size so far."""
    if message["type"] != "http.request":
        # The client left mid-upload. Nobody reads this answer; it keeps an ordinary event
        # out of the error log, where an escaping exception lands with its traceback.
        raise InvalidRequest("The client closed the connection before the whole request "
                             "body arrived.", code="client_disconnected")
    chunk = message.get("body", b"")
    size += len(chunk)
    if size > limit:
        raise _too_large(limit)
    return chunk, message.get("more_body", False), size


def _check_declared(declared: str | None, limit: int) -> None:
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Invalid Content-Length header.")
        if int(declared) > limit:
            raise _too_large(limit)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this gateway accepts ({limit} bytes).")


async def _stream_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as the client sends them (for uploads streamed to storage), with the
    same limit and disconnect handling as `_read_body`."""
    receive, size, more = request.receive, 0, True
    while more:
        chunk, more, size = _body_part(await receive(), size, limit)
        if chunk:
            yield chunk


def _to_response(result: ApiResponse, request_id: str) -> Response:
    headers = {**result.headers, request_context.HEADER: request_id}
    if result.stream is not None:
        return RelayedStream(result.stream, status_code=result.status,
                             media_type=result.media_type, headers=headers)
    return Response(content=result.body, status_code=result.status,
                    media_type=result.media_type, headers=headers)


async def serve(request: Request, handler: Handler,
                body_limit: Callable[[Settings], int] | None = None, stream_body: bool = False,
                **outputs: Any) -> Response:
    """Run `handler` on the request. Bodies are read up to LLMPROXY_MAX_BODY_BYTES unless the
    endpoint sets its own `body_limit` (uploads to transcribe use LLMPROXY_MAX_AUDIO_BYTES).
    With `stream_body` the handler gets the body as `body_stream`, chunks as they arrive
    (file uploads, written to storage without being held in memory).
    `outputs` are the function's output-binding parameters (`func.Out`), set from the
    handler's `ApiResponse.outputs` by the same names."""
    error_response = error_response_for(handler)
    scope = request.scope
    method, headers = scope["method"], RequestHeaders(scope["headers"])
    request_id = request_context.begin(headers)
    try:
        gateway = await get_gateway()
    except Exception as exc:    # misconfiguration or store down at startup: still an envelope
        return _to_response(error_response(startup_error(exc)), request_id)
    limit = body_limit(gateway.settings) if body_limit else gateway.settings.max_body_bytes
    body, body_stream = b"", None
    try:
        if stream_body:
            _check_declared(headers.get("content-length"), limit)
            body_stream = _stream_body(request, limit)
        elif method not in ("GET", "HEAD", "DELETE"):
            body = await _read_body(request, headers.get("content-length"), limit)
    except (InvalidRequest, PayloadTooLarge) as err:
        return _to_response(error_response(err), request_id)
    # Parsed only when there is a query string: most calls (every chat completion) have none.
    api_request = ApiRequest(method=method, path=scope["path"], headers=headers,
                             query=request.query_params if scope.get("query_string") else {},
                             path_params=scope.get("path_params", {}), body=body,
                             body_stream=body_stream)
    result = await respond(gateway, handler, api_request)
    for name, value in result.outputs.items():
        outputs[name].set(value)
    return _to_response(result, request_id)
