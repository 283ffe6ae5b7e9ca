"""Deterministic reply generation shared by every provider dialect.

Each dialect (OpenAI chat, Gemini, Anthropic) first reduces its request to a
provider-neutral `Turn` (the prompt text, the last user text, the tools and the
tool result, if any) and then asks `plan_reply` what to answer.  Keeping the
decision in one place means every provider answers the same prompt the same way,
which is what the gateway's cross-provider tests rely on.

Token counting is deliberately simple: a "token" is one whitespace-separated
word.  Prompt tokens are the words of every text in the request; completion
tokens are the words of the reply text, or of the tool name plus its JSON
arguments for a tool call.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SIMULATED_PREFIX = "[simulated]"

# `[sim:words=N]` anywhere in the last user message makes the reply exactly N words
# long (the echo, truncated or padded with `w1 w2 ...`).  Benchmarks use it to ask
# for long streams.
_WORDS_DIRECTIVE = re.compile(r"\[sim:words=(\d+)\]")
MAX_WORDS = 100_000
# `[sim:cached=N]`, `[sim:cache_write=N]`, `[sim:reasoning=N]`, `[sim:audio_in=N]`,
# `[sim:audio_out=N]` make the usage report N tokens of that class on top of the word counts,
# in each dialect's own way (see `UsageDetails`).
_DETAIL_DIRECTIVE = re.compile(r"\[sim:(cached|cache_write|reasoning|audio_in|audio_out)=(\d+)\]")
# `[sim:tool=NAME]` makes the reply call that offered tool (a client that always offers tools,
# e.g. an agent CLI, can be steered to one), `[sim:tool=none]` answers with text although tools
# are offered; `[sim:arg.KEY=VALUE]` sets that string argument of the call (e.g. a shell tool's
# `cmd`), where the schema-built arguments would say "simulated".
_TOOL_DIRECTIVE = re.compile(r"\[sim:tool=([A-Za-z0-9_.:-]+)\]")
_ARG_DIRECTIVE = re.compile(r"\[sim:arg\.([A-Za-z0-9_]+)=([^\]]*)\]")
_ANY_DIRECTIVE = re.compile(
    r"\[sim:(?:[a-z_]+=\d+|tool=[A-Za-z0-9_.:-]+|arg\.[A-Za-z0-9_]+=[^\]]*)\]")
MAX_DETAIL = 10_000_000


@dataclass
class UsageDetails:
    """Token classes a request asked the simulator to report, beyond the plain word counts:
    prompt tokens read from a cache (`cached`) or written to one (`cache_write`, Claude), audio
    prompt tokens, and completion tokens spent reasoning or on audio. Each dialect reports them
    as its provider does (OpenAI: parts of prompt/completion tokens; Claude: cache counts
    beside `input_tokens`; Gemini: `cachedContentTokenCount` inside `promptTokenCount`,
    `thoughtsTokenCount` beside `candidatesTokenCount`)."""
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    audio_in: int = 0
    audio_out: int = 0

    @classmethod
    def parse(cls, text: str) -> "UsageDetails":
        found = {name: min(int(n), MAX_DETAIL) for name, n in _DETAIL_DIRECTIVE.findall(text)}
        return cls(**found)


@dataclass
class Tool:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    """What a request boils down to, whatever its wire format."""

    prompt_texts: list[str]
    last_user_text: str
    tools: list[Tool] = field(default_factory=list)
    # None: the model may pick (first tool); "none": no tool; other str: that tool.
    forced_tool: str | None = None
    tool_choice_none: bool = False
    tool_result: str | None = None  # content of the trailing tool message, if any
    # Structured output asked for: None (free text), {} (any JSON object) or a JSON schema the
    # reply must satisfy (OpenAI `response_format`, Gemini `responseSchema`, ...).
    json_schema: dict[str, Any] | None = None
    thinking: bool = False  # the request asked to see the model's thinking (Gemini, Claude)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(", ", ": "))


@dataclass
class Reply:
    text: str | None
    tool_call: ToolCall | None
    prompt_tokens: int
    completion_tokens: int
    thinking: str | None = None  # shown thinking; its words are counted in completion_tokens
    thinking_tokens: int = 0
    details: UsageDetails = field(default_factory=UsageDetails)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def words(self) -> list[str]:
        """The text split into stream pieces whose concatenation is the text."""
        if not self.text:
            return []
        parts = self.text.split(" ")
        return [parts[0]] + [" " + p for p in parts[1:]]


def count_words(text: str) -> int:
    return len(text.split())


def stable_id(prefix: str, *parts: str, length: int = 24) -> str:
    """An id derived from the request, so identical requests get identical ids."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"{prefix}{digest[:length]}"


def reply_text(last_user_text: str) -> str:
    """`[simulated] <echo>`, resized to exactly N words when `[sim:words=N]` is present."""
    echo = " ".join(_ANY_DIRECTIVE.sub(" ", last_user_text).split())
    text = f"{SIMULATED_PREFIX} {echo}".rstrip()
    match = _WORDS_DIRECTIVE.search(last_user_text)
    if not match:
        return text
    wanted = max(1, min(int(match.group(1)), MAX_WORDS))
    words = text.split()[:wanted]
    words += [f"w{i}" for i in range(1, wanted - len(words) + 1)]
    return " ".join(words)


def example_value(schema: Any) -> Any:
    """A deterministic value satisfying a (Gemini- or JSON-) schema, for tool-call arguments."""
    if not isinstance(schema, dict):
        return "simulated"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    kind = (kind or ("object" if "properties" in schema else "string")).lower()
    if kind == "object":
        return {name: example_value(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example_value(schema.get("items") or {})]
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_value(schema[key][0])
    return "simulated"


def plan_reply(turn: Turn) -> Reply:
    reply = _plan_answer(turn)
    reply.details = UsageDetails.parse(turn.last_user_text)
    if turn.thinking:
        reply.thinking = f"[simulated thinking] about: {' '.join(turn.last_user_text.split())}"
        reply.thinking_tokens = count_words(reply.thinking)
        reply.completion_tokens += reply.thinking_tokens
    return reply


def _plan_answer(turn: Turn) -> Reply:
    prompt_tokens = sum(count_words(t) for t in turn.prompt_texts)
    if turn.tool_result is not None:
        text = f"{SIMULATED_PREFIX} tool result: {turn.tool_result}"
        return Reply(text, None, prompt_tokens, count_words(text))
    wanted = _TOOL_DIRECTIVE.search(turn.last_user_text)
    if wanted and turn.forced_tool is None and turn.tools:
        if wanted.group(1) == "none":
            return _text_answer(turn, prompt_tokens)
        turn.forced_tool = wanted.group(1)
    if turn.tools and not turn.tool_choice_none:
        tool = next((t for t in turn.tools if t.name == turn.forced_tool), turn.tools[0])
        args = example_value({"type": "object", **(tool.parameters or {})})
        args.update(_ARG_DIRECTIVE.findall(turn.last_user_text))
        call = ToolCall(stable_id("call_sim_", tool.name, turn.last_user_text), tool.name, args)
        completion = count_words(call.name) + count_words(call.arguments_json)
        return Reply(None, call, prompt_tokens, completion)
    return _text_answer(turn, prompt_tokens)


def _text_answer(turn: Turn, prompt_tokens: int) -> Reply:
    if turn.json_schema is not None:
        text = structured_text(turn.json_schema, turn.last_user_text)
        return Reply(text, None, prompt_tokens, count_words(text))
    text = reply_text(turn.last_user_text)
    return Reply(text, None, prompt_tokens, count_words(text))


def structured_text(schema: dict[str, Any], last_user_text: str) -> str:
    """A JSON reply valid for `schema` (an example value); for a bare JSON object request,
    the usual echo wrapped as {"reply": ...}."""
    if not schema:
        return json.dumps({"reply": reply_text(last_user_text)})
    return json.dumps(example_value(schema))
