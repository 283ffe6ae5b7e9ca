"""The Anthropic Messages API on the one dispatch path (`dispatch.py`): the same model
resolution, limits, routing and metering as chat, per deployment either native or translated.

A deployment whose adapter speaks Messages (`messages`: Claude on Vertex) gets the client's body
and relays Anthropic's answer; any other gets the request translated to Chat Completions and its
answer translated back (`surfaces/messages.py`). The choice is made per attempt, so a pool may
mix both and fail over between them. Messages requests need the model's chat operation.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable

from .catalog import Operation, ResolvedModel
from .dispatch import _guarded, resolve
from .errors import UpstreamError
from .gateway import Gateway
from .handlers.request_checks import check_chat_limits, estimate_prompt_tokens
from .keys import Caller
from .providers import Completion, CompletionStream
from .surfaces import messages as surface
from .surfaces.messages_stream import from_chat_stream


def speaks_messages(deployment: ResolvedModel) -> bool:
    return callable(getattr(deployment.adapter, "messages", None))


class _Attempt:
    """One call on one deployment; `needs_setup` tells the router that native calls skip the
    adapter's one-time setup (LiteLLM's import, which only the translated path uses)."""

    def __init__(self, body: dict[str, Any], stream: bool, beta: str | None):
        self.body, self.stream, self.beta = body, stream, beta

    @staticmethod
    def needs_setup(deployment: ResolvedModel) -> bool:
        return not speaks_messages(deployment)

    def __call__(self, deployment: ResolvedModel) -> Awaitable[Completion | CompletionStream]:
        if speaks_messages(deployment):
            return deployment.adapter.messages(deployment.prepared, self.body, self.stream,
                                               deployment.secrets, self.beta)
        return self._translated(deployment)

    async def _translated(self, deployment: ResolvedModel) -> Completion | CompletionStream:
        chat = surface.to_chat(self.body, deployment.doc.id)
        result = await deployment.adapter.chat(deployment.prepared, chat, self.stream,
                                               deployment.secrets)
        model = self.body["model"]
        if isinstance(result, Completion):
            try:
                message = surface.from_chat(json.loads(result.body), model)
            except (ValueError, AttributeError, TypeError, IndexError):
                raise UpstreamError(f"The provider of '{deployment.doc.id}' answered with a "
                                    "body that is not a chat completion.") from None
            return Completion(json.dumps(message).encode(), result.usage, result.headers)
        return CompletionStream(from_chat_stream(result.chunks, model), result.usage,
                                result.close, result.headers)


async def create_message(gw: Gateway, caller: Caller, model_name: str, body: dict[str, Any],
                         stream: bool, beta: str | None) -> Completion | CompletionStream:
    """`body` passed `surface.check_request`. Streams fail after their start with an Anthropic
    `error` event."""
    model = await resolve(gw, caller, model_name, Operation.CHAT)
    # The model's policy (message count, output tokens) and the limits' reservation read the
    # request as chat: the same figures whichever way it is served.
    chat_view = {"messages": body["messages"], "max_tokens": body["max_tokens"]}
    check_chat_limits(model.policy, chat_view)
    prompt = estimate_prompt_tokens(chat_view)
    result = await _guarded(gw, caller, model, Operation.CHAT, _Attempt(body, stream, beta),
                            stream=stream, reserve_tokens=prompt + body["max_tokens"],
                            prompt_estimate=prompt)
    if isinstance(result, CompletionStream):
        result.error_event = surface.error_event
    return result


async def count_tokens(gw: Gateway, caller: Caller, model_name: str, body: dict[str, Any],
                       beta: str | None) -> tuple[bytes, bool]:
    """Claude counts on Vertex (a provider call, limited, routed and metered like any); a model
    with any other deployment gets an estimate. The second value says it is one."""
    model = await resolve(gw, caller, model_name, Operation.CHAT)
    if not all(speaks_messages(member.model) for member in model.members):
        estimate = {"input_tokens": surface.estimate_input_tokens(body)}
        return json.dumps(estimate).encode(), True

    def attempt(deployment: ResolvedModel) -> Awaitable[Completion]:
        return deployment.adapter.count_tokens(deployment.prepared, body, deployment.secrets,
                                               beta)
    attempt.needs_setup = lambda deployment: False          # type: ignore[attr-defined]
    result: Completion = await _guarded(gw, caller, model, Operation.CHAT, attempt)
    return result.body, False
