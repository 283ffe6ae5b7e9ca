"""A Chat Completions stream (OpenAI's SSE chunks) as an Anthropic Messages stream.

Anthropic's event sequence: `message_start`, `ping`, then per content block
`content_block_start`, its deltas (`thinking_delta`, `text_delta`, `input_json_delta`),
`content_block_stop`; then `message_delta` (stop reason and final usage) and `message_stop`.
Chat reports usage only at the end (the gateway always asks for it), so `message_start`
carries zero tokens and `message_delta` the real figures, input included, as Anthropic's own
`message_delta.usage` may.
"""
from __future__ import annotations

from json import encoder
from typing import Any, AsyncIterator

from ..errors import UpstreamError
from ..json_codec import dumps_compact, loads
from .messages import STOP_REASONS, message_id, usage_from_chat

_quote = encoder.encode_basestring_ascii          # a JSON string literal, in C
# A delta per token is most of a stream: its event written from a template, not a dict.
_DELTA = ('event: content_block_delta\ndata: {{"type":"content_block_delta","index":{index},'
          '"delta":{{"type":"{kind}","{field}":{value}}}}}\n\n')


def event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps_compact({"type": kind, **data}) \
        + b"\n\n"


class _Blocks:
    """The open content block, and what each chat delta opens, extends or closes."""

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None      # "thinking", "text", or "tool:<chat index>"

    def open(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self.close()
        self.index += 1
        self.kind = kind
        out.append(event("content_block_start", {"index": self.index, "content_block": block}))
        return out

    def close(self) -> list[bytes]:
        if self.kind is None:
            return []
        self.kind = None
        return [event("content_block_stop", {"index": self.index})]

    def delta(self, kind: str, field: str, value: str) -> bytes:
        return _DELTA.format(index=self.index, kind=kind, field=field,
                             value=_quote(value)).encode()


def _events_for(delta: dict[str, Any], blocks: _Blocks) -> list[bytes]:
    out: list[bytes] = []
    reasoning = delta.get("reasoning_content")
    if reasoning:
        if blocks.kind != "thinking":
            out += blocks.open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        out.append(blocks.delta("thinking_delta", "thinking", reasoning))
    text = delta.get("content")
    if text:
        if blocks.kind != "text":
            out += blocks.open("text", {"type": "text", "text": ""})
        out.append(blocks.delta("text_delta", "text", text))
    for call in delta.get("tool_calls") or []:
        kind = f"tool:{call.get('index', 0)}"
        function = call.get("function") or {}
        if blocks.kind != kind:
            out += blocks.open(kind, {"type": "tool_use", "id": call.get("id") or "",
                                      "name": function.get("name") or "", "input": {}})
        if function.get("arguments"):
            out.append(blocks.delta("input_json_delta", "partial_json", function["arguments"]))
    return out


def _chunks(buffer: bytes) -> tuple[list[dict[str, Any]], bytes, bool]:
    """Complete chat chunks in `buffer`, the incomplete rest, and whether `[DONE]` came."""
    chunks, done = [], False
    end = buffer.rfind(b"\n\n")
    if end < 0:
        return chunks, buffer, done
    for raw in buffer[:end].split(b"\n\n"):
        for line in raw.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
            elif payload:
                data = loads(payload)
                if isinstance(data, dict):
                    chunks.append(data)
    return chunks, buffer[end + 2:], done


class _Translator:
    """The state of one translated stream: the open block, the stop reason and usage so far,
    and the bytes of an event not yet complete."""

    def __init__(self, model: str):
        self.model, self.blocks, self.started = model, _Blocks(), False
        self.finish: Any = None
        self.usage: Any = None
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        chunks, self.buffer, _ = _chunks(self.buffer + data)
        out: list[bytes] = []
        for chunk in chunks:
            if not self.started:
                self.started = True
                out.append(event("message_start", {"message": {
                    "id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
                    "model": self.model, "content": [], "stop_reason": None,
                    "stop_sequence": None, "usage": usage_from_chat(None)}}))
                out.append(event("ping", {}))
            self.usage = chunk.get("usage") or self.usage
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                out += _events_for(choice.get("delta") or {}, self.blocks)
                self.finish = choice.get("finish_reason") or self.finish
        return out

    def end(self) -> list[bytes]:
        if not self.started:
            return []              # the chat stream ended without a chunk: nothing to say
        return self.blocks.close() + [
            event("message_delta", {"delta": {"stop_reason": STOP_REASONS.get(self.finish,
                                                                              "end_turn"),
                                              "stop_sequence": None},
                                    "usage": usage_from_chat(self.usage)}),
            event("message_stop", {})]


async def from_chat_stream(chat: AsyncIterator[bytes], model: str) -> AsyncIterator[bytes]:
    """Messages events for a chat stream's bytes, as they arrive. A stream that is not chat's
    shape is the provider's failure (502), not an unhandled error."""
    translator = _Translator(model)
    async for data in chat:
        try:
            out = translator.feed(data)
        except (AttributeError, TypeError, ValueError):
            raise UpstreamError("The provider's stream is not a chat completion stream.") \
                from None
        if out:
            yield b"".join(out)
    tail = translator.end()
    if tail:
        yield b"".join(tail)
