"""A streamed chat completion as the Responses API's event sequence.

    events = ResponsesEvents(response)        # the response object from `new_response`
    events.start()                            # response.created, response.in_progress
    events.chunk(chat_chunk)                  # per chat.completion.chunk: item and delta events
    events.end()                              # every open item done, then response.completed
                                              # (or response.incomplete when cut short)
    events.fail(code, message)                # response.failed, after a provider broke off

Each method returns the events (dicts, each with its `sequence_number`) in the order OpenAI sends
them: an item is `output_item.added` before its parts and deltas, and `output_item.done` after
them; text is `content_part.added`, `output_text.delta`..., `output_text.done`,
`content_part.done`; a function call is `function_call_arguments.delta`... then `.done`; a
custom tool call is `custom_tool_call_input.delta` and `.done` once its input is whole.
Reasoning text (chat `reasoning_content`) streams as a `reasoning` item's `reasoning_text`.
The openai SDK's `responses.stream()` accumulates exactly these.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

from . import responses_output as out
from .responses_tools import call_item, custom_input, offered_tools, search_arguments

Event = dict[str, Any]


class ResponsesEvents:
    def __init__(self, response: dict[str, Any], conversation: Any = ()):
        self.response = response
        self._seq = 0
        self._items: list[dict[str, Any]] = []      # output items, in output_index order
        self._open_text: int | None = None          # output_index of the open message
        self._open_reasoning: int | None = None
        self._calls: dict[int, int] = {}            # chat tool_call index -> output_index
        self._open_calls: list[int] = []
        self._offered = offered_tools(response.get("tools"), conversation)
        self._whole_args: dict[int, str] = {}       # output_index -> chat args sent once whole
        self._finish_reason: Any = None
        self._usage: Any = None
        self._ending = False

    def _status(self, index: int) -> str:
        """An item's final status: the last one is incomplete when the model was cut short."""
        if self._ending and index == len(self._items) - 1 and out.cut_short(self._finish_reason):
            return "incomplete"
        return "completed"

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.response))

    def start(self) -> list[Event]:
        return [self._event("response.created", response=self._snapshot()),
                self._event("response.in_progress", response=self._snapshot())]

    # -- items ---------------------------------------------------------------------------------
    def _add(self, item: dict[str, Any]) -> tuple[int, Event]:
        self._items.append(item)
        index = len(self._items) - 1
        return index, self._event("response.output_item.added", output_index=index,
                                  item=json.loads(json.dumps(item)))

    def _reasoning_delta(self, text: str) -> list[Event]:
        events = self._close_text()
        if self._open_reasoning is None:
            item = out.reasoning_item(out.new_id("rs"), "", status="in_progress")
            self._open_reasoning, added = self._add(item)
            item["content"].append({"type": "reasoning_text", "text": ""})
            events += [added, self._event(
                "response.content_part.added", item_id=item["id"],
                output_index=self._open_reasoning, content_index=0,
                part={"type": "reasoning_text", "text": ""})]
        item = self._items[self._open_reasoning]
        item["content"][0]["text"] += text
        events.append(self._event("response.reasoning_text.delta", item_id=item["id"],
                                  output_index=self._open_reasoning, content_index=0,
                                  delta=text))
        return events

    def _close_reasoning(self) -> list[Event]:
        index, self._open_reasoning = self._open_reasoning, None
        if index is None:
            return []
        item = self._items[index]
        item["status"] = self._status(index)
        part = item["content"][0]
        return [self._event("response.reasoning_text.done", item_id=item["id"],
                            output_index=index, content_index=0, text=part["text"]),
                self._event("response.content_part.done", item_id=item["id"],
                            output_index=index, content_index=0, part=dict(part)),
                self._event("response.output_item.done", output_index=index,
                            item=json.loads(json.dumps(item)))]

    def _text_delta(self, text: str) -> list[Event]:
        events = self._close_reasoning()
        if self._open_text is None:
            item = out.message_item(out.new_id("msg"), [], status="in_progress")
            self._open_text, added = self._add(item)
            item["content"].append(out.text_part(""))
            events += [added, self._event(
                "response.content_part.added", item_id=item["id"], output_index=self._open_text,
                content_index=0, part=out.text_part(""))]
        item = self._items[self._open_text]
        item["content"][0]["text"] += text
        events.append(self._event("response.output_text.delta", item_id=item["id"],
                                  output_index=self._open_text, content_index=0, delta=text,
                                  logprobs=[]))
        return events

    def _close_text(self) -> list[Event]:
        index, self._open_text = self._open_text, None
        if index is None:
            return []
        item = self._items[index]
        item["status"] = self._status(index)
        part = item["content"][0]
        return [self._event("response.output_text.done", item_id=item["id"], output_index=index,
                            content_index=0, text=part["text"], logprobs=[]),
                self._event("response.content_part.done", item_id=item["id"],
                            output_index=index, content_index=0, part=dict(part)),
                self._event("response.output_item.done", output_index=index,
                            item=json.loads(json.dumps(item)))]

    def _tool_delta(self, call: dict[str, Any]) -> list[Event]:
        events = self._close_reasoning() + self._close_text()
        position = call.get("index", 0)
        function = call.get("function") or {}
        index = self._calls.get(position)
        if index is None:
            item = call_item(self._offered, out.new_id("fc"), call.get("id") or out.new_id("call"),
                             function.get("name") or "", "", status="in_progress")
            index, added = self._add(item)
            self._calls[position] = index
            self._open_calls.append(index)
            events.append(added)
        item = self._items[index]
        piece = function.get("arguments") or ""
        if piece and item["type"] in ("custom_tool_call", "tool_search_call"):
            # A custom call's input is a string inside the chat call's JSON arguments, a tool
            # search's arguments an object: known, and sent, once the arguments are whole.
            self._whole_args[index] = self._whole_args.get(index, "") + piece
        elif piece:
            item["arguments"] += piece
            events.append(self._event("response.function_call_arguments.delta",
                                      item_id=item["id"], output_index=index, delta=piece))
        return events

    def _close_calls(self) -> list[Event]:
        events = []
        for index in self._open_calls:
            item = self._items[index]
            item["status"] = self._status(index)
            ids = {"item_id": item["id"], "output_index": index}
            if item["type"] == "tool_search_call":
                item["arguments"] = search_arguments(self._whole_args.get(index, ""))
            elif item["type"] == "custom_tool_call":
                item["input"] = custom_input(self._whole_args.get(index, ""))
                if item["input"]:
                    events.append(self._event("response.custom_tool_call_input.delta",
                                              delta=item["input"], **ids))
                events.append(self._event("response.custom_tool_call_input.done",
                                          input=item["input"], **ids))
            else:
                events.append(self._event("response.function_call_arguments.done",
                                          name=item["name"], arguments=item["arguments"], **ids))
            events.append(self._event("response.output_item.done", output_index=index,
                                      item=json.loads(json.dumps(item))))
        self._open_calls = []
        return events

    # -- the chat stream -------------------------------------------------------------------------
    def chunk(self, data: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        if isinstance(data.get("usage"), dict):
            self._usage = data["usage"]
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("reasoning_content"), str) and delta["reasoning_content"]:
                events += self._reasoning_delta(delta["reasoning_content"])
            if isinstance(delta.get("content"), str) and delta["content"]:
                events += self._text_delta(delta["content"])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def end(self) -> list[Event]:
        self._ending = True
        events = self._close_reasoning() + self._close_text() + self._close_calls()
        out.finish(self.response, self._items, self._finish_reason, self._usage)
        kind = "response.incomplete" if self.response["status"] == "incomplete" \
            else "response.completed"
        return events + [self._event(kind, response=self._snapshot())]

    def fail(self, code: str | None, message: str) -> list[Event]:
        self.response["output"] = self._items
        out.failed(self.response, code, message)
        self.response["usage"] = out.usage(self._usage)
        return [self._event("response.failed", response=self._snapshot())]


def encode(event: Event) -> bytes:
    return (f"event: {event['type']}\ndata: ".encode()
            + json.dumps(event, separators=(",", ":")).encode() + b"\n\n")


async def chat_chunks(sse: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a chat SSE stream (`[DONE]` ends it). An `{"error": ...}` event (the
    gateway's own, after a provider broke off) is yielded like a chunk for the caller to see."""
    buffer = b""
    async for data in sse:
        buffer += data
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            block, buffer = buffer[:end], buffer[end + 2:]
            for line in block.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return
                try:
                    value = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    yield value
