"""The Messages <-> Chat Completions translation (shared/surfaces), as pure functions: what the
simulator's chat models never produce (reasoning, parallel tool calls, cache reads) and
property tests that translated requests keep every text and tool exchange."""
from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidRequest
from shared.surfaces.messages import from_chat, to_chat
from shared.surfaces.messages_stream import from_chat_stream

B64 = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def sse(*chunks: dict) -> list[bytes]:
    return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def events(raw: list[bytes]) -> list[dict]:
    text = b"".join(raw).decode()
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]


async def collect(chunks: list[bytes], split: bool = False) -> list[bytes]:
    async def source():
        for chunk in chunks:
            if split:             # events cut mid-way, as TCP may deliver them
                middle = len(chunk) // 2
                yield chunk[:middle]
                yield chunk[middle:]
            else:
                yield chunk
    return [e async for e in from_chat_stream(source(), "m")]


def test_request_blocks_translate_to_chat_parts():
    body = {"model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "sys"}],
            "tool_choice": {"type": "any"}, "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "look"}, {"type": "image", "source": B64},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    {"type": "document", "source": {**B64, "media_type": "application/pdf"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "tu1", "name": "t", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "tu1", "is_error": True,
                     "content": [{"type": "text", "text": "boom"}, {"type": "image", "source": B64}]},
                    {"type": "text", "text": "and now?"}]}]}
    chat = to_chat(body, "m")
    assert chat["tool_choice"] == "required" and chat["max_completion_tokens"] == 5
    system, user, assistant, tool, follow = chat["messages"]
    assert system == {"role": "system", "content": "sys"}
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "image_url", "file"]
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="
    assert user["content"][3]["file"]["file_data"].startswith("data:application/pdf;base64,")
    assert assistant == {"role": "assistant", "content": "calling", "tool_calls": [
        {"id": "tu1", "type": "function", "function": {"name": "t", "arguments": '{"a": 1}'}}]}
    assert tool == {"role": "tool", "tool_call_id": "tu1", "content": "[tool error] boom"}
    assert [p["type"] for p in follow["content"]] == ["image_url", "text"]


@pytest.mark.parametrize("field, value, param", [
    ("top_k", 3, "top_k"), ("mcp_servers", [{}], "mcp_servers"), ("bogus", 1, "bogus"),
    ("tools", [{"type": "bash_20250124", "name": "bash"}], "tools.0.type"),
    ("tool_choice", {"type": "sometimes"}, "tool_choice.type"),
])
def test_what_chat_cannot_carry_is_a_400_naming_the_field(field, value, param):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
            field: value}
    with pytest.raises(InvalidRequest) as caught:
        to_chat(body, "m")
    assert caught.value.param == param


def test_answer_with_reasoning_tools_and_cache_reads():
    data = {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "ok", "reasoning_content": "because",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 2}'}},
                       {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4,
                  "prompt_tokens_details": {"cached_tokens": 6}}}
    message = from_chat(data, "m")
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert message["content"][2]["input"] == {"x": 2}
    assert message["content"][3]["input"] == {"_raw": "not json"}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 4, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 6, "output_tokens": 4}


@pytest.mark.parametrize("split", [False, True])
def test_stream_of_reasoning_text_and_parallel_tools(split):
    chunks = sse(
        {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "thin"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "king"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ': 1}'}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}})
    got = events(asyncio.run(collect(chunks, split)))
    kinds = [e["type"] for e in got]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e["content_block"] for e in got if e["type"] == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use", "tool_use"]
    assert [b.get("id") for b in starts[2:]] == ["a", "b"]
    deltas = [e for e in got if e["type"] == "content_block_delta"]
    assert "".join(d["delta"].get("thinking", "") for d in deltas) == "thinking"
    assert "".join(d["delta"].get("partial_json", "") for d in deltas if d["index"] == 2) == '{"x": 1}'
    assert kinds.count("content_block_stop") == 4
    assert got[-2]["delta"]["stop_reason"] == "tool_use"
    assert got[-2]["usage"]["input_tokens"] == 7 and got[-2]["usage"]["output_tokens"] == 9


_TEXT = st.text(min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "tool"]), _TEXT), min_size=1,
                max_size=8))
def test_property_every_text_and_tool_exchange_survives(turns):
    messages, expected = [], []
    for i, (kind, text) in enumerate(turns):
        if kind == "tool":
            messages.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": f"t{i}", "name": "f", "input": {"q": text}}]})
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"t{i}", "content": text}]})
            expected += [("assistant", None, f"t{i}", {"q": text}), ("tool", text, f"t{i}", None)]
        else:
            messages.append({"role": kind, "content": [{"type": "text", "text": text}]})
            expected.append((kind, text, None, None))
    chat = to_chat({"model": "m", "max_tokens": 1, "messages": messages}, "m")["messages"]
    got = []
    for m in chat:
        if m["role"] == "tool":
            got.append(("tool", m["content"], m["tool_call_id"], None))
        elif m.get("tool_calls"):
            call = m["tool_calls"][0]
            got.append(("assistant", None, call["id"], json.loads(call["function"]["arguments"])))
        else:
            content = m["content"]
            got.append((m["role"], content if isinstance(content, str) else content[0]["text"],
                        None, None))
    assert got == expected


def test_a_stream_not_in_chat_shape_is_the_providers_failure():
    from shared.errors import UpstreamError
    with pytest.raises(UpstreamError):
        asyncio.run(collect([b'data: {"id": "c", "choices": ["not a choice"]}\n\n']))
    with pytest.raises(UpstreamError):
        asyncio.run(collect([b"data: {not json\n\n"]))
