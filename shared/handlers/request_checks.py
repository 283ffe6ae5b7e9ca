"""Checks a chat request must pass before any provider is called, against the model's policy
(`shared.policy`), and the token estimates limits reserve and cut-short streams are metered by."""
from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..policy import Policy

_LIMIT = "request_limit_exceeded"


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be an integer of at least 1.", param=name,
                             code="invalid_value")
    return value


# OpenAI's documented ranges for the standard chat parameters. Checked here for every provider,
# so a value OpenAI refuses is not forwarded to one that would accept, clamp or 500 on it.
_RANGES = (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0),
           ("presence_penalty", -2.0, 2.0), ("frequency_penalty", -2.0, 2.0))


def check_standard_ranges(body: dict[str, Any]) -> None:
    """400 naming the field for a standard parameter of the wrong type or out of its range."""
    for name, low, high in _RANGES:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequest(f"'{name}' must be a number.", param=name)
        if not low <= value <= high:
            raise InvalidRequest(f"'{name}' must be between {low:g} and {high:g}; got {value}.",
                                 param=name, code="invalid_value")
    for name in ("n", "max_tokens", "max_completion_tokens"):
        _positive_int(body, name)


def check_chat_limits(policy: Policy, body: dict[str, Any]) -> None:
    """400 naming the field when the request asks for more than this model allows."""
    if body.get("data_sources") is not None and not policy.allow_data_sources:
        raise InvalidRequest("'data_sources' is not allowed for this model: it makes the "
                             "provider call the endpoints it names. An administrator can allow "
                             "it with the model's allow_data_sources parameter.",
                             param="data_sources", code="forbidden_parameter")
    count = len(body["messages"])
    if count > policy.max_messages:
        raise InvalidRequest(f"'messages' has {count} items; this model accepts at most "
                             f"{policy.max_messages}.", param="messages", code=_LIMIT)
    n = _positive_int(body, "n")
    if n is not None and n > policy.max_n:
        raise InvalidRequest(f"'n' is {n}; this model accepts at most {policy.max_n}.",
                             param="n", code=_LIMIT)
    for name in ("max_tokens", "max_completion_tokens"):
        check_output_limit(policy, body, name)


def check_output_limit(policy: Policy, body: dict[str, Any], name: str) -> None:
    """400 when the output token field `name` asks for more than the model produces."""
    asked = _positive_int(body, name)
    if asked is not None and policy.max_output_tokens and asked > policy.max_output_tokens:
        raise InvalidRequest(f"'{name}' is {asked}; this model produces at most "
                             f"{policy.max_output_tokens} tokens.", param=name, code=_LIMIT)


def _text_length(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(_text_length(part.get("text")) for part in content if isinstance(part, dict))
    return 0


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """About four characters per token plus a few per message: a stand-in for a tokenizer,
    used only when a provider reported no usage (a stream the client left early)."""
    messages = body.get("messages") or []
    chars = sum(_text_length(m.get("content")) for m in messages if isinstance(m, dict))
    return chars // 4 + 4 * len(messages) + 1


def requested_output_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return value * (body.get("n") or 1) if isinstance(value, int) else 0
