"""The OpenAI Responses API on every chat model: create (streamed or not), stored state,
`previous_response_id`, retrieve, delete, input items.

A model whose provider speaks the Responses API itself is relayed (`responses_native.py`).
For every other model a request is checked and translated to a chat body
(`surfaces/responses.py`, `surfaces/responses_chat.py`), sent through `dispatch.chat` (the
same limits, budgets, routing, failover, timeouts and metering as a chat completion; the usage
row says `Responses`), and the chat answer translated back (`surfaces/responses_output.py`,
`surfaces/responses_stream.py`).

Stored state (`store`, default true): one document per response in the caller's project, kept
`LLMPROXY_RESPONSES_RETENTION_DAYS` (default 30):

    {"id", "project", "expires_at",            # epoch seconds
     "response": {...},                        # the response object as last returned
     "input_items": [...],                     # this request's input, each item with an id
     "conversation": [...],                    # every item so far, outputs included: what a
                                               # later `previous_response_id` continues
     "job": "job_..." | None}                  # background responses (see responses_background)

Another project's response id answers 404, exactly like one that never existed.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from . import dispatch
from .catalog import Operation
from .errors import GatewayError, InvalidRequest, NotFound
from .keys import Caller
from .providers import Completion, CompletionStream
from .surfaces import responses_output as out
from .surfaces.responses import ResponsesRequest, input_items, parse_request
from .surfaces.responses_chat import to_chat
from .surfaces.responses_stream import ResponsesEvents, chat_chunks, encode

log = logging.getLogger(__name__)

_ITEM_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco",
                "reasoning": "rs"}
_UNFINISHED = ("queued", "in_progress")


@dataclass
class Created:
    """What `create` answers: the response object, or its event stream; headers either way."""
    response: dict[str, Any] | None = None
    events: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hub_event: Any = None          # background: the job's event for the Event Hub binding
    raw: bytes | None = None       # a native provider's response object, relayed as it came


@dataclass
class Prepared:
    """A checked request, its items, the chat body it becomes and the response it starts."""
    request: ResponsesRequest
    items: list[dict[str, Any]]
    history: list[dict[str, Any]]
    chat: dict[str, Any]
    response: dict[str, Any]


def _with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item if item.get("id") else
            {"id": out.new_id(_ITEM_PREFIX.get(item["type"], "item")), **item}
            for item in items]


async def own_response(gw: Any, caller: Caller, response_id: str,
                       param: str = "response_id") -> dict[str, Any]:
    doc = await gw.store.get_response(caller.project, response_id)
    if doc is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param=param,
                       code="response_not_found")
    return doc


async def conversation(gw: Any, caller: Caller, previous_id: str) -> list[dict[str, Any]]:
    """The items a `previous_response_id` continues: 404 if it is not this project's, 400 while
    it is still running (a background response)."""
    previous = await own_response(gw, caller, previous_id, param="previous_response_id")
    if previous.get("job") and previous["response"]["status"] in _UNFINISHED:
        from .responses_background import refresh
        previous = await refresh(gw, caller, previous)
    status = previous["response"]["status"]
    if status in _UNFINISHED:
        raise InvalidRequest(f"Response '{previous_id}' is still {status}; continue it once it "
                             "has finished.", param="previous_response_id")
    return previous["conversation"]


async def prepare(gw: Any, caller: Caller, body: dict[str, Any]) -> Prepared:
    """Everything that can fail before a provider is called: the fields, the conversation a
    `previous_response_id` continues, the chat body."""
    req = parse_request(body)
    history: list[dict[str, Any]] = []
    if req.previous_response_id:
        history = await conversation(gw, caller, req.previous_response_id)
    items = _with_ids(input_items(req.input))
    chat = to_chat(req, history + items)
    response = out.new_response(req, out.new_id("resp"), int(time.time()))
    return Prepared(req, items, history, chat, response)


def document(gw: Any, caller: Caller, prepared: Prepared, job: str | None = None
             ) -> dict[str, Any]:
    """The stored document for `prepared` with its response as it stands."""
    response = prepared.response
    retention = gw.settings.responses_retention_days * 86400
    return {"id": response["id"], "project": caller.project,
            "expires_at": response["created_at"] + retention, "response": response,
            "input_items": prepared.items,
            "conversation": prepared.history + prepared.items + response["output"], "job": job}


async def save(gw: Any, caller: Caller, prepared: Prepared) -> None:
    if prepared.request.store:
        await gw.store.put_response(document(gw, caller, prepared))


async def create(gw: Any, caller: Caller, body: dict[str, Any]) -> Created:
    name = body.get("model")
    if isinstance(name, str) and name and body.get("background") is not True:
        model = await gw.catalog.get(name, caller.project)
        if dispatch.speaks_responses(model):
            from .responses_native import create as create_native
            return await create_native(gw, caller, model, body)
    prepared = await prepare(gw, caller, body)
    req = prepared.request
    if req.background:
        from .responses_background import submit      # the job pipeline, only when asked
        return await submit(gw, caller, prepared)
    try:
        result = await dispatch.chat(gw, caller, req.model, prepared.chat, req.stream,
                                     metered_as=Operation.RESPONSES)
    except InvalidRequest as err:
        raise in_responses_terms(err) from None
    if isinstance(result, Completion):
        out.from_chat(prepared.response, _completion(result.body),
                      prepared.history + prepared.items)
        await save(gw, caller, prepared)
        return Created(response=prepared.response, headers=result.headers)
    return Created(events=_events(gw, caller, prepared, result), headers=result.headers)


# Chat fields the model's policy checks and the provider adapters name, and what the Responses
# client called them.
_CHAT_FIELDS = {"messages": "input", "max_completion_tokens": "max_output_tokens",
                "reasoning_effort": "reasoning.effort", "response_format": "text.format",
                "verbosity": "text.verbosity"}


def in_responses_terms(err: InvalidRequest) -> InvalidRequest:
    """A 400 about the translated chat body, naming the field the client sent instead."""
    ours = _CHAT_FIELDS.get(err.param or "")
    if ours is None:
        return err
    err.message = err.message.replace(f"'{err.param}'", f"'{ours}'")
    err.param = ours
    return err


def _completion(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise GatewayError("The provider's answer could not be read as a chat completion.",
                           code="upstream_invalid_response")
    return data


async def _events(gw: Any, caller: Caller, prepared: Prepared,
                  result: CompletionStream) -> AsyncIterator[bytes]:
    """The chat stream as Responses events. The stored response is written before the final
    event, so a client that retrieves it as soon as the stream ends finds it. Leaving early
    closes the chat stream, which meters the call (499) and releases the provider."""
    events = ResponsesEvents(prepared.response, prepared.history + prepared.items)
    chunks = result.chunks
    try:
        yield b"".join(encode(event) for event in events.start())
        final = None
        async for chunk in chat_chunks(chunks):
            error = chunk.get("error")
            if isinstance(error, dict) and not chunk.get("choices"):
                final = events.fail(error.get("code"), str(error.get("message") or ""))
                break
            produced = events.chunk(chunk)
            if produced:              # one write for the events of one chat chunk
                yield b"".join(encode(event) for event in produced)
        if final is None:
            final = events.end()
        if final[:-1]:
            yield b"".join(encode(event) for event in final[:-1])
        await _save_quietly(gw, caller, prepared)
        yield encode(final[-1])
    finally:
        await chunks.aclose()


async def _save_quietly(gw: Any, caller: Caller, prepared: Prepared) -> None:
    """A stream's answer has gone out already: a store failure is logged, not turned into a
    broken stream."""
    try:
        await save(gw, caller, prepared)
    except Exception as exc:
        log.error("could not store streamed response %s: %s", prepared.response["id"],
                  type(exc).__name__)


# -- stored responses -------------------------------------------------------------------------
async def retrieve(gw: Any, caller: Caller, response_id: str) -> dict[str, Any]:
    doc = await own_response(gw, caller, response_id)
    if doc.get("job") and doc["response"]["status"] in _UNFINISHED:
        from .responses_background import refresh
        doc = await refresh(gw, caller, doc)
    return doc["response"]


async def delete(gw: Any, caller: Caller, response_id: str) -> dict[str, Any]:
    if not await gw.store.delete_response(caller.project, response_id):
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id",
                       code="response_not_found")
    return {"id": response_id, "object": "response", "deleted": True}


async def list_input_items(gw: Any, caller: Caller, response_id: str,
                           query: Any) -> dict[str, Any]:
    doc = await own_response(gw, caller, response_id)
    items = list(doc["input_items"])
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be asc or desc.", param="order")
    if order == "desc":
        items.reverse()
    raw_limit = query.get("limit") or "20"
    if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= 100:
        raise InvalidRequest("'limit' must be an integer from 1 to 100.", param="limit")
    for name in ("after", "before"):
        anchor = query.get(name)
        if anchor:
            ids = [item["id"] for item in items]
            if anchor not in ids:
                raise InvalidRequest(f"'{name}' must be the id of one of this response's "
                                     "input items.", param=name)
            at = ids.index(anchor)
            items = items[at + 1:] if name == "after" else items[:at]
    page = items[:int(raw_limit)]
    return {"object": "list", "data": page, "has_more": len(items) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}
