"""Responses API calls to a provider that speaks it (an Azure OpenAI model whose catalog entry
lists `Responses`): the request goes to the provider's `/openai/v1/responses` and the answer is
relayed byte for byte, streamed or not, through `dispatch.responses` (limits, routing, metering
as for every call).

The gateway still owns stored state, so a conversation can move between native and translated
models: a `previous_response_id` is resolved from the gateway's store and sent as the earlier
items themselves (the provider never sees an id it did not issue), and the provider's answer is
stored under its own id when `store` is true. Built-in tools and any other field the provider
takes are passed through for it to judge. The one change to relayed bytes: the provider's
`"previous_response_id": null` becomes the id the client continued.
"""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, AsyncIterator, Callable

from . import dispatch
from .catalog import ResolvedModel
from .errors import GatewayError, InvalidRequest
from .handlers.validate import refuse_routing_fields
from .keys import Caller
from .providers import Completion, CompletionStream
from .responses import Created, conversation
from .surfaces import responses_output as out

log = logging.getLogger(__name__)

_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
_FINAL = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def _items(value: Any) -> list[dict[str, Any]]:
    """The request's `input` as items with ids, as stored and listed by input_items."""
    if isinstance(value, str):
        value = [{"type": "message", "role": "user",
                  "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise InvalidRequest("'input' must be a string or an array of items.", param="input")
    return [item if item.get("id") else
            {"id": out.new_id(_PREFIX.get(item.get("type", "message"), "item")),
             "type": item.get("type", "message"), **item} for item in value]


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean.", param=name)
    return value


async def create(gw: Any, caller: Caller, model: ResolvedModel, body: dict[str, Any]) -> Created:
    refuse_routing_fields(body)
    stream, store = _flag(body, "stream", False), _flag(body, "store", True)
    items = _items(body.get("input", []))
    history: list[dict[str, Any]] = []
    previous = body.pop("previous_response_id", None)
    if previous is not None:
        if not isinstance(previous, str):
            raise InvalidRequest("'previous_response_id' must be a string.",
                                 param="previous_response_id")
        history = await conversation(gw, caller, previous)
        # The provider did not issue these ids: it gets the items without them.
        body["input"] = [{k: v for k, v in i.items() if k != "id"} for i in history + items]
    estimate = len(json.dumps(body.get("input", ""))) // 4 + 1
    result = await dispatch.responses(gw, caller, model, body, stream, estimate)
    keep = _Keeper(gw, caller, items, history, previous) if store else None
    patch = _previous_id_patch(previous)
    if isinstance(result, Completion):
        raw = patch(result.body)
        if keep is not None:
            await keep.save(json.loads(raw))
        return Created(raw=raw, headers=result.headers)
    failure = _Failure()
    # A provider that breaks off mid-stream: the client gets `response.failed` (as on the
    # translated path), not the chat surface's bare `{"error": ...}` line.
    result.error_event = failure.event
    return Created(events=_relay(result, keep, patch, failure), headers=result.headers)


def _previous_id_patch(previous: str | None) -> Callable[[bytes], bytes]:
    """The provider answers `"previous_response_id": null` (it was sent the items instead);
    the client asked with an id and gets it back. The only change made to relayed bytes."""
    if previous is None:
        return lambda raw: raw
    value = json.dumps(previous).encode()

    def patch(raw: bytes) -> bytes:
        return raw.replace(b'"previous_response_id":null', b'"previous_response_id":' + value) \
            .replace(b'"previous_response_id": null', b'"previous_response_id": ' + value)
    return patch


class _Keeper:
    """Stores the provider's response object under its own id, in the caller's project."""

    def __init__(self, gw: Any, caller: Caller, items: list[dict[str, Any]],
                 history: list[dict[str, Any]], previous: str | None):
        self.gw, self.caller, self.items, self.history = gw, caller, items, history
        self.previous = previous

    async def save(self, response: Any) -> None:
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            log.error("a native Responses answer had no id; not stored")
            return
        created = response.get("created_at")
        retention = self.gw.settings.responses_retention_days * 86400
        output = response.get("output") if isinstance(response.get("output"), list) else []
        await self.gw.store.put_response({
            "id": response["id"], "project": self.caller.project,
            "expires_at": (created if isinstance(created, (int, float)) else time.time())
            + retention,
            "response": response, "input_items": self.items,
            "conversation": self.history + self.items + output, "job": None})


class _Failure:
    """Follows a relayed stream (the latest response snapshot, the last sequence number) to
    end it the Responses API's way if the provider breaks off: `response.failed` carrying the
    last snapshot the provider sent (`response.created` / `.in_progress`, so without the
    output deltas relayed since) marked failed, or an `error` event if it sent none."""
    _SEQUENCE = re.compile(rb'"sequence_number":\s*(\d+)')

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None
        self.sequence = -1

    def see(self, chunk: bytes) -> None:
        numbers = self._SEQUENCE.findall(chunk)
        if numbers:
            self.sequence = int(numbers[-1])
        if b'"response.created"' in chunk or b'"response.in_progress"' in chunk:
            for line in chunk.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        response = json.loads(line[5:]).get("response")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(response, dict):
                        self.response = response

    def event(self, err: GatewayError) -> bytes:
        self.sequence += 1
        if self.response is None:
            event = {"type": "error", "sequence_number": self.sequence, "code": err.code,
                     "message": err.message, "param": None}
        else:
            self.response = {**self.response, "status": "failed",
                             "error": {"code": err.code, "message": err.message}}
            event = {"type": "response.failed", "sequence_number": self.sequence,
                     "response": self.response}
        return (f"event: {event['type']}\ndata: ".encode()
                + json.dumps(event, separators=(",", ":")).encode() + b"\n\n")


async def _relay(result: CompletionStream, keep: _Keeper | None,
                 patch: Callable[[bytes], bytes], failure: _Failure) -> AsyncIterator[bytes]:
    """The provider's events as they come; the final one's response is stored before that
    event is passed on (so a retrieve right after the stream finds it)."""
    chunks = result.chunks
    try:
        async for chunk in chunks:
            chunk = patch(chunk)
            failure.see(chunk)
            if keep is not None and any(m in chunk for m in _FINAL):
                await _save_final(chunk, keep)
            yield chunk
    finally:
        await chunks.aclose()


async def _save_final(chunk: bytes, keep: _Keeper) -> None:
    for line in chunk.split(b"\n"):
        if line.startswith(b"data:") and any(m in line for m in _FINAL):
            try:
                await keep.save(json.loads(line[5:]).get("response"))
            except Exception as exc:      # the answer is on its way: log, do not break it
                log.error("could not store a streamed native response: %s", type(exc).__name__)
