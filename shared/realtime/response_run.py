"""One response: its events in OpenAI's order, the text/audio it produced, its usage.

`generate` streams; the pipeline cancels it from outside when the session's cancel flag is set,
then `send_done` closes every open part, item and the response with the right status.
"""
from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from ..errors import GatewayError
from ..gateway import Gateway
from ..store import RealtimeSession
from . import audio_models, codecs, conversation, events
from .chat_stream import ChatResult, stream_chat
from .outbox import Outbox

AUDIO_DELTA_MS = 200
_SENTENCE_END = re.compile(r"[.!?;:。！？]+[\"')\]]*\s+|\n+")
_MAX_SENTENCE_CHARS = 240


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences at the front of `buffer`, and the unfinished rest."""
    done, start = [], 0
    for match in _SENTENCE_END.finditer(buffer):
        done.append(buffer[start:match.end()])
        start = match.end()
    rest = buffer[start:]
    if len(rest) > _MAX_SENTENCE_CHARS and " " in rest:      # a run-on: speak what we have
        cut = rest.rfind(" ") + 1
        done.append(rest[:cut])
        rest = rest[cut:]
    return done, rest


class ResponseRun:
    def __init__(self, gw: Gateway, session: RealtimeSession, config: dict[str, Any],
                 out: Outbox, response_id: str):
        self.gw, self.session, self.config, self.out = gw, session, config, out
        self.response_id = response_id
        self.audio = "audio" in config["modalities"]
        self.chat = ChatResult()
        self.item_id: str | None = None
        self.text = ""
        self.segments: list[list[Any]] = []           # [sentence, ms of audio], as spoken
        self.status, self.details = "completed", None
        self.function_items: list[dict[str, Any]] = []
        self.speech_cost = 0.0
        self._sentences: asyncio.Queue[str | None] = asyncio.Queue()

    # -- streaming --------------------------------------------------------------------------
    def _ids(self) -> dict[str, Any]:
        return {"response_id": self.response_id, "item_id": self.item_id, "output_index": 0,
                "content_index": 0}

    async def generate(self) -> None:
        await self.out.emit("response.created", response=events.response(
            self.response_id, modalities=self.config["modalities"]))
        messages = conversation.to_messages(self.session.items, self.config["instructions"])
        speaker = asyncio.ensure_future(self._speak()) if self.audio else None
        try:
            pending = ""
            stream = stream_chat(self.gw, self.session, messages, self.config, self.chat)
            try:
                async for delta in stream:
                    await self._text_delta(delta)
                    if speaker is not None:
                        sentences, pending = split_sentences(pending + delta)
                        for sentence in sentences:
                            self._sentences.put_nowait(sentence)
            finally:
                await stream.aclose()
            if speaker is not None:
                if pending.strip():
                    self._sentences.put_nowait(pending)
                self._sentences.put_nowait(None)
                await speaker
            await self._function_calls()
        finally:
            if speaker is not None and not speaker.done():
                speaker.cancel()

    async def _open_message(self) -> None:
        self.item_id = events.new_id("item")
        item = events.assistant_item(self.item_id)
        await self.out.emit("response.output_item.added", response_id=self.response_id,
                            output_index=0, item=item)
        await self.out.emit("conversation.item.created", previous_item_id=(
            self.session.items[-1]["id"] if self.session.items else None), item=item)
        await self.out.emit("response.content_part.added", **self._ids(), part=self._part())

    def _part(self) -> dict[str, Any]:
        if self.audio:
            return {"type": "audio", "transcript": self.text}
        return {"type": "text", "text": self.text}

    async def _text_delta(self, delta: str) -> None:
        if self.item_id is None:
            await self._open_message()
        self.text += delta
        kind = "response.audio_transcript.delta" if self.audio else "response.text.delta"
        await self.out.emit(kind, **self._ids(), delta=delta)

    async def _speak(self) -> None:
        fmt = self.config["output_audio_format"]
        chunk = codecs.RATE * 2 * AUDIO_DELTA_MS // 1000          # session pcm per delta
        while (sentence := await self._sentences.get()) is not None:
            if not sentence.strip():
                continue
            spoken = 0
            async for pcm in audio_models.speak(self.gw, self.session, sentence.strip(),
                                                self.config["voice"], chunk):
                audio = codecs.from_session_pcm(pcm, fmt)
                await self.out.emit("response.audio.delta", **self._ids(),
                                    delta=base64.b64encode(audio).decode())
                spoken += len(pcm)
            self.segments.append([sentence, spoken * 1000 // (codecs.RATE * 2)])
            self.speech_cost += await audio_models.model_cost(
                self.gw, self.session, "speech", characters=len(sentence.strip()))

    async def _function_calls(self) -> None:
        for index in sorted(self.chat.tool_calls):
            call = self.chat.tool_calls[index]
            output_index = len(self.function_items) + (1 if self.item_id else 0)
            item_id = events.new_id("item")
            call_id = call.call_id or events.new_id("call")
            base = {"response_id": self.response_id, "item_id": item_id,
                    "output_index": output_index, "call_id": call_id}
            await self.out.emit("response.output_item.added", response_id=self.response_id,
                                output_index=output_index,
                                item=events.function_call_item(item_id, call_id, call.name))
            await self.out.emit("response.function_call_arguments.delta", **base,
                                delta=call.arguments)
            await self.out.emit("response.function_call_arguments.done", **base,
                                name=call.name, arguments=call.arguments)
            item = events.function_call_item(item_id, call_id, call.name, call.arguments,
                                             status="completed")
            self.function_items.append(item)
            await self.out.emit("response.output_item.done", response_id=self.response_id,
                                output_index=output_index, item=item)

    # -- ending -----------------------------------------------------------------------------
    def fail(self, err: GatewayError) -> None:
        self.status = "failed"
        self.details = {"type": "failed", "error": {"type": err.type, "code": err.code,
                                                    "message": err.message}}

    def finish(self, cancelled: str | None) -> None:
        if cancelled:
            self.status = "cancelled"
            self.details = {"type": "cancelled", "reason": cancelled}

    def _message_item(self) -> dict[str, Any] | None:
        if self.item_id is None:
            return None
        status = "completed" if self.status == "completed" else "incomplete"
        if self.audio:
            # What the client heard: the sentences whose audio was sent.
            transcript = self.text if status == "completed" else "".join(
                s for s, _ in self.segments)
            content = [{"type": "audio", "transcript": transcript}]
        else:
            content = [{"type": "text", "text": self.text}]
        return events.assistant_item(self.item_id, status, content)

    def items_to_store(self) -> list[dict[str, Any]]:
        message = self._message_item()
        stored = [] if message is None else [{**message, "segments": self.segments}]
        return stored + self.function_items

    def usage(self) -> dict[str, Any]:
        return events.usage(self.chat.usage.prompt_tokens, self.chat.usage.completion_tokens)

    async def cost(self) -> float:
        try:
            model = await self.gw.catalog.get(self.session.models["chat"], self.session.project)
        except GatewayError:
            return 0.0
        return model.doc.costs.cost(self.chat.usage.prompt_tokens,
                                    self.chat.usage.completion_tokens)

    async def send_done(self) -> None:
        message = self._message_item()
        if message is not None:
            ids = self._ids()
            if self.audio:
                await self.out.emit("response.audio.done", **ids)
                await self.out.emit("response.audio_transcript.done", **ids,
                                    transcript=message["content"][0]["transcript"])
            else:
                await self.out.emit("response.text.done", **ids, text=self.text)
            await self.out.emit("response.content_part.done", **ids, part=message["content"][0])
            await self.out.emit("response.output_item.done", response_id=self.response_id,
                                output_index=0, item=message)
        output = ([message] if message else []) + self.function_items
        await self.out.emit("response.done", response=events.response(
            self.response_id, self.status, output, self.usage(), self.details,
            self.config["modalities"]))
