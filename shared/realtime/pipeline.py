"""The turn pipeline: a committed user turn is transcribed; a response streams the chat model's
text and, sentence by sentence, the speech model's audio, so the first audio goes out before the
text is finished.

Cancellation (`response.cancel`, new speech under server VAD, the session ending) arrives in
another invocation: it sets a flag on the session in the store. A watcher looks for that flag
while the response runs and cancels the generation at once, mid-delta or mid-sentence: a flag
set on this instance wakes it immediately (the instance's session cache); one set on another
instance is seen by polling the store every CANCEL_POLL_SECONDS.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..store import RealtimeSession
from . import audio_models, codecs, conversation, events, settings
from .outbox import Outbox
from .response_run import ResponseRun
from .state import add_cost, add_usage, edit, mutate, read

# A cancel from another instance (same-instance ones wake the watcher at once): one point read
# of the session per interval while a response runs.
CANCEL_POLL_SECONDS = 0.25
_OVERRIDES = {"modalities", "instructions", "voice", "output_audio_format", "tools",
              "tool_choice", "temperature", "max_output_tokens"}


def response_overrides(value: Any, config: dict[str, Any]) -> dict[str, Any]:
    """`response.create`'s `response` object: per-response settings over the session's."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("'response' must be an object.", param="response")
    unknown = set(value) - _OVERRIDES - {"metadata", "conversation"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown parameter: 'response.{name}'.", param=f"response.{name}",
                             code="unknown_parameter")
    if value.get("conversation", "auto") != "auto":
        raise InvalidRequest("Only 'auto' is supported for 'response.conversation'.",
                             param="response.conversation")
    update = {k: v for k, v in value.items() if k in _OVERRIDES}
    if "max_output_tokens" in update:
        update["max_response_output_tokens"] = update.pop("max_output_tokens")
    return settings.apply_update(config, update, param="response")


async def user_turn(gw: Gateway, session_id: str, pcm: bytes, item_id: str, out: Outbox,
                    create_response: bool) -> None:
    item = events.user_audio_item(item_id)
    out.release_order()                # a turn is long: later events (a cancel) must not wait
    stored, previous = await edit(gw, out.connection_id, session_id,
                                  lambda s: conversation.insert(s.items, dict(item), None))
    await out.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
    await out.emit("conversation.item.created", previous_item_id=previous, item=item)
    try:
        transcript, cost = await audio_models.transcribe(gw, stored, pcm)
    except GatewayError as err:
        await out.emit("conversation.item.input_audio_transcription.failed", item_id=item_id,
                       content_index=0, error={"type": err.type, "code": err.code,
                                               "message": err.message, "param": err.param})
        return

    def note(s: RealtimeSession) -> None:
        for it in s.items:
            if it["id"] == item_id:
                it["content"][0]["transcript"] = transcript
        s.usage = add_cost(s.usage, cost)
    await mutate(gw.store, session_id, note, cache=gw.sessions)     # kept even if it ended
    # `usage` as GA has it (the audio's duration); beta clients ignore the extra field.
    await out.emit("conversation.item.input_audio_transcription.completed", item_id=item_id,
                   content_index=0, transcript=transcript,
                   usage={"type": "duration", "seconds": round(len(pcm) / (codecs.RATE * 2), 3)})
    if create_response:
        await respond(gw, session_id, out)


async def respond(gw: Gateway, session_id: str, out: Outbox, response: Any = None) -> None:
    """Run a response; `response` is `response.create`'s per-response settings (or None)."""
    response_id = events.new_id("resp")
    out.release_order()

    def start(s: RealtimeSession) -> dict[str, Any]:
        if s.response and not s.response.get("cancelled"):
            raise InvalidRequest("Conversation already has an active response.",
                                 code="conversation_already_has_active_response")
        s.response = {"id": response_id, "cancelled": None}
        # Over the config of the copy written: a session.update stored before counts.
        return response_overrides(response, s.config)
    session, config = await edit(gw, out.connection_id, session_id, start)
    run = ResponseRun(gw, session, {**session.config, **config}, out, response_id)
    try:
        reason = await _run_until_cancelled(gw, run)
        run.finish(reason)
    finally:
        await _store_outcome(gw, session_id, run)
    await run.send_done()


async def _watch(gw: Gateway, session_id: str, response_id: str) -> str:
    while True:
        session = None
        if await gw.sessions.wait(session_id, CANCEL_POLL_SECONDS):
            session = gw.sessions.get(session_id)          # written here just now
        if session is None:
            session = await read(gw.store, gw.sessions, session_id)
        current = session.response if session else None
        if session is None or not current or current.get("id") != response_id:
            return "session_ended"
        if current.get("cancelled"):
            return current["cancelled"]


async def _run_until_cancelled(gw: Gateway, run: ResponseRun) -> str | None:
    """Run the response; returns the cancellation reason if it was cancelled."""
    work = asyncio.ensure_future(run.generate())
    watcher = asyncio.ensure_future(_watch(gw, run.session.id, run.response_id))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not work.done():
            work.cancel()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        with contextlib.suppress(asyncio.CancelledError):
            await work
    if work.cancelled():
        return watcher.result() if watcher.done() and not watcher.cancelled() \
            and watcher.exception() is None else "client_cancelled"
    if work.exception() is not None:
        exc = work.exception()
        if isinstance(exc, GatewayError):
            run.fail(exc)
            return None
        raise exc
    return None


async def _store_outcome(gw: Gateway, session_id: str, run: ResponseRun) -> None:
    items, usage, cost = run.items_to_store(), run.usage(), await run.cost()
    cost += run.speech_cost

    def change(s: RealtimeSession) -> None:
        for item in items:
            if not any(i["id"] == item["id"] for i in s.items):
                s.items.append(item)
        if s.response and s.response.get("id") == run.response_id:
            s.response = None
        s.usage = add_usage(s.usage, usage, cost, run.response_id, run.status)
    await mutate(gw.store, session_id, change, cache=gw.sessions)
