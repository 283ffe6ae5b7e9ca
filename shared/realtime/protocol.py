"""One client event of the OpenAI Realtime protocol: validate, change the session, answer.

A bad event gets an `error` event naming the field and the client's `event_id`; the session
goes on. Events that start a turn (a commit, `response.create`) run the turn pipeline in this
same invocation, streaming its events as they are produced.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from .. import json_codec
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..store import RealtimeSession
from . import audio_input, conversation, ga_in, pipeline, settings
from .outbox import Outbox
from .state import SessionEnded, edit

log = logging.getLogger(__name__)

Handler = Callable[[Gateway, RealtimeSession, dict[str, Any], Outbox], Awaitable[None]]


def parse(raw: Any) -> dict[str, Any]:
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            raw = json_codec.loads(raw)
        except ValueError as exc:
            raise InvalidRequest(f"The event is not valid JSON: {exc.msg}.",
                                 code="invalid_json") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("An event must be a JSON object.", code="invalid_event")
    if not isinstance(raw.get("type"), str):
        raise InvalidRequest("Missing required parameter: 'type'.", param="type",
                             code="missing_required_parameter")
    return raw


def parse_or_raw(raw: Any) -> Any:
    """The event as a dict when it parses; otherwise as it came (`handle` answers the error)."""
    try:
        return parse(raw)
    except InvalidRequest:
        return raw


def writes_first(evt: Any) -> bool:
    """Events whose handling reads nothing from the session before a (guarded, conditional)
    write of it, and emits only after: they can start from this instance's copy of the session
    without reading it (audio appends, ten a second while the user speaks). Every other event
    reads the session first, as its handling reads fields (config, protocol) before it writes."""
    return isinstance(evt, dict) and evt.get("type") == "input_audio_buffer.append"


async def handle(gw: Gateway, session: RealtimeSession, raw: Any, out: Outbox) -> None:
    client_event_id = raw.get("event_id") if isinstance(raw, dict) else None
    try:
        evt = parse(raw)
        client_event_id = evt.get("event_id") if isinstance(evt.get("event_id"), str) else None
        handler = HANDLERS.get(evt["type"])
        if handler is None:
            raise InvalidRequest(f"Invalid value: '{evt['type']}'. Supported values are: "
                                 f"{', '.join(sorted(HANDLERS))}.", param="type",
                                 code="invalid_value")
        dialect = ga_in.detect(evt)
        if dialect is not None and dialect != out.dialect:
            session = await _switch(gw, session, dialect, out)
            out.dialect = dialect
        if out.dialect == ga_in.GA:
            evt = _from_ga(evt)
        await handler(gw, session, evt, out)
    except SessionEnded:
        raise                                # the trigger refuses it and closes the connection
    except GatewayError as err:
        await out.error(err, client_event_id)


async def _switch(gw: Gateway, session: RealtimeSession, dialect: str,
                  out: Outbox) -> RealtimeSession:
    """The connection now speaks `dialect`: kept on the session, since every later event of
    this connection is its own invocation."""
    def change(s: RealtimeSession) -> None:
        s.protocol = dialect
    stored, _ = await edit(gw, out.connection_id, session.id, change)
    return stored


def _from_ga(evt: dict[str, Any]) -> dict[str, Any]:
    """A GA client event in the shapes the handlers below take."""
    kind = evt["type"]
    if kind == "session.update":
        return {**evt, "session": ga_in.session(evt.get("session"))}
    if kind == "response.create":
        return {**evt, "response": ga_in.response(evt.get("response"))}
    if kind == "conversation.item.create":
        return {**evt, "item": ga_in.item(evt.get("item"))}
    return evt


def _fixed(session: RealtimeSession) -> dict[str, Any]:
    return {"model": session.models["chat"], "speech_model": session.models["speech"]}


async def session_update(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    from .session_api import session_object
    update = evt.get("session")
    if isinstance(update, dict) and isinstance(update.get("input_audio_transcription"), dict):
        wanted = update["input_audio_transcription"].get("model")
        if wanted not in (None, session.models["transcription"]):
            where = ("session.audio.input.transcription.model" if out.dialect == ga_in.GA
                     else "session.input_audio_transcription.model")
            raise InvalidRequest(f"'{where}' cannot change after the session is created.",
                                 param=where)
        update = {**update, "input_audio_transcription": {
            k: v for k, v in update["input_audio_transcription"].items() if k != "model"}}

    def change(s: RealtimeSession) -> None:
        # Applied to the copy written, so an update never undoes one stored meanwhile.
        s.config = settings.apply_update(s.config, update, fixed=_fixed(s))
        if not s.config.get("turn_detection"):
            s.vad = {"written_ms": s.vad.get("written_ms", 0)}
    stored, _ = await edit(gw, out.connection_id, session.id, change)
    await out.emit("session.updated", session=session_object(stored))


async def buffer_append(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    # `session` may be this instance's copy (protocol.writes_first): only its id is used; the
    # rest comes from the copy the append's write is made from.
    limit = gw.settings.realtime_max_buffer_seconds * 1000
    stored, outcome = await audio_input.append(gw, out.connection_id, session.id,
                                               evt.get("audio"), limit)
    out.dialect = stored.protocol
    log.debug("append to %s: %d bytes, buffer starts at %d ms, transitions %s, vad %s",
              session.id, len(outcome.pcm), outcome.buffer_start_ms, outcome.transitions,
              outcome.state)
    detection = stored.config.get("turn_detection")
    for change in outcome.transitions:
        if change.kind == "started":
            await out.emit("input_audio_buffer.speech_started", audio_start_ms=change.at_ms,
                           item_id=outcome.item_id)
        else:
            await out.emit("input_audio_buffer.speech_stopped", audio_end_ms=change.at_ms,
                           item_id=outcome.item_id)
            padding = detection["prefix_padding_ms"]
            start = outcome.start_ms - padding - outcome.buffer_start_ms
            end = change.at_ms - outcome.buffer_start_ms
            audio, item_id = await audio_input.take_turn(gw, out.connection_id, session.id, end,
                                                         start, outcome.item_id)
            create = detection.get("create_response", True)
            await pipeline.user_turn(gw, session.id, audio, item_id, out, create_response=create)
            return
    if not outcome.transitions:
        await audio_input.trim_silence(gw, out.connection_id, stored)


async def buffer_commit(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    audio_input.check_commit(session)        # checked again on the copy the take is written to
    audio, item_id = await audio_input.take_turn(gw, out.connection_id, session.id, None, 0,
                                                 None)
    # A manual commit never creates a response by itself unless server VAD would have.
    detection = (gw.sessions.get(session.id) or session).config.get("turn_detection")
    respond = bool(detection and detection.get("create_response", True))
    await pipeline.user_turn(gw, session.id, audio, item_id, out, create_response=respond)


async def buffer_clear(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    await edit(gw, out.connection_id, session.id, audio_input.clear)
    await gw.store.clear_audio(session.id)
    await out.emit("input_audio_buffer.cleared")


async def item_create(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item = conversation.new_item(evt.get("item"))
    previous = evt.get("previous_item_id")
    stored, after = await edit(gw, out.connection_id, session.id,
                               lambda s: conversation.insert(s.items, dict(item), previous))
    await out.emit("conversation.item.created", previous_item_id=after, item=item)


async def item_delete(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item_id = evt.get("item_id")

    def change(s: RealtimeSession) -> None:
        del s.items[conversation.find(s.items, item_id)]
    await edit(gw, out.connection_id, session.id, change)
    await out.emit("conversation.item.deleted", item_id=item_id)


async def item_truncate(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item_id, index, end = evt.get("item_id"), evt.get("content_index"), evt.get("audio_end_ms")

    def change(s: RealtimeSession) -> None:
        conversation.truncate(s.items[conversation.find(s.items, item_id)], index, end)
    await edit(gw, out.connection_id, session.id, change)
    await out.emit("conversation.item.truncated", item_id=item_id, content_index=index,
                   audio_end_ms=end)


async def response_create(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    pipeline.response_overrides(evt.get("response"), session.config)    # a bad one: an error
    await pipeline.respond(gw, session.id, out, evt.get("response"))


async def response_cancel(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    wanted = evt.get("response_id")

    def change(s: RealtimeSession) -> None:
        current = s.response
        if not current or current.get("cancelled") or (wanted and wanted != current["id"]):
            raise InvalidRequest("Cancellation failed: no active response found.",
                                 param="response_id" if wanted else None,
                                 code="response_cancel_not_active")
        s.response = {**current, "cancelled": "client_cancelled"}
    await edit(gw, out.connection_id, session.id, change)
    # The running pipeline (another invocation, here or on another instance) sees the flag and
    # ends with response.done.


HANDLERS: dict[str, Handler] = {
    "session.update": session_update,
    "input_audio_buffer.append": buffer_append,
    "input_audio_buffer.commit": buffer_commit,
    "input_audio_buffer.clear": buffer_clear,
    "conversation.item.create": item_create,
    "conversation.item.delete": item_delete,
    "conversation.item.truncate": item_truncate,
    "response.create": response_create,
    "response.cancel": response_cancel,
}
