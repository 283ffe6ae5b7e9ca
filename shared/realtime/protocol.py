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
from .state import mutate

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
            session = await _switch(gw, session, dialect)
            out.dialect = dialect
        if out.dialect == ga_in.GA:
            evt = _from_ga(evt)
        await handler(gw, session, evt, out)
    except GatewayError as err:
        await out.error(err, client_event_id)


async def _switch(gw: Gateway, session: RealtimeSession, dialect: str) -> RealtimeSession:
    """The connection now speaks `dialect`: kept on the session, since every later event of
    this connection is its own invocation."""
    def change(s: RealtimeSession) -> None:
        s.protocol = dialect
    stored, _ = await mutate(gw.store, session.id, change)
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
    config = settings.apply_update(session.config, update, fixed=_fixed(session))

    def change(s: RealtimeSession) -> None:
        s.config = config
        if not config.get("turn_detection"):
            s.vad = {"written_ms": s.vad.get("written_ms", 0)}
    stored, _ = await mutate(gw.store, session.id, change)
    await out.emit("session.updated", session=session_object(stored))


async def buffer_append(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    pcm = audio_input.decode_audio(evt.get("audio"), session.config["input_audio_format"])
    limit = gw.settings.realtime_max_buffer_seconds * 1000
    outcome = await audio_input.append(gw.store, session.id, pcm, limit)
    log.debug("append to %s: %d bytes, buffer starts at %d ms, transitions %s, vad %s",
              session.id, len(pcm), outcome.buffer_start_ms, outcome.transitions, outcome.state)
    for change in outcome.transitions:
        if change.kind == "started":
            await out.emit("input_audio_buffer.speech_started", audio_start_ms=change.at_ms,
                           item_id=outcome.item_id)
        else:
            await out.emit("input_audio_buffer.speech_stopped", audio_end_ms=change.at_ms,
                           item_id=outcome.item_id)
            padding = session.config["turn_detection"]["prefix_padding_ms"]
            start = outcome.start_ms - padding - outcome.buffer_start_ms
            end = change.at_ms - outcome.buffer_start_ms
            audio, item_id = await audio_input.take_turn(gw.store, session.id, end, start,
                                                         outcome.item_id)
            create = session.config["turn_detection"].get("create_response", True)
            await pipeline.user_turn(gw, session.id, audio, item_id, out, create_response=create)
            return
    if not outcome.transitions:
        await audio_input.trim_silence(gw.store, await gw.store.get_session(session.id))


async def buffer_commit(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    audio_input.check_commit(session)
    audio, item_id = await audio_input.take_turn(gw.store, session.id, session.buffer_ms, 0,
                                                 session.vad.get("item_id"))
    # A manual commit never creates a response by itself unless server VAD would have.
    detection = session.config.get("turn_detection")
    respond = bool(detection and detection.get("create_response", True))
    await pipeline.user_turn(gw, session.id, audio, item_id, out, create_response=respond)


async def buffer_clear(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    await mutate(gw.store, session.id, audio_input.clear)
    await gw.store.clear_audio(session.id)
    await out.emit("input_audio_buffer.cleared")


async def item_create(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item = conversation.new_item(evt.get("item"))
    previous = evt.get("previous_item_id")
    stored, after = await mutate(gw.store, session.id,
                                 lambda s: conversation.insert(s.items, dict(item), previous))
    await out.emit("conversation.item.created", previous_item_id=after, item=item)


async def item_delete(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item_id = evt.get("item_id")

    def change(s: RealtimeSession) -> None:
        del s.items[conversation.find(s.items, item_id)]
    await mutate(gw.store, session.id, change)
    await out.emit("conversation.item.deleted", item_id=item_id)


async def item_truncate(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    item_id, index, end = evt.get("item_id"), evt.get("content_index"), evt.get("audio_end_ms")

    def change(s: RealtimeSession) -> None:
        conversation.truncate(s.items[conversation.find(s.items, item_id)], index, end)
    await mutate(gw.store, session.id, change)
    await out.emit("conversation.item.truncated", item_id=item_id, content_index=index,
                   audio_end_ms=end)


async def response_create(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    overrides = pipeline.response_overrides(evt.get("response"), session.config)
    await pipeline.respond(gw, session.id, out, overrides)


async def response_cancel(gw: Gateway, session: RealtimeSession, evt: dict, out: Outbox) -> None:
    wanted = evt.get("response_id")

    def change(s: RealtimeSession) -> None:
        current = s.response
        if not current or current.get("cancelled") or (wanted and wanted != current["id"]):
            raise InvalidRequest("Cancellation failed: no active response found.",
                                 param="response_id" if wanted else None,
                                 code="response_cancel_not_active")
        s.response = {**current, "cancelled": "client_cancelled"}
    await mutate(gw.store, session.id, change)
    # The running pipeline (another invocation) sees the flag and ends with response.done.


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
