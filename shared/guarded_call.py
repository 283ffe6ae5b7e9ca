"""One provider call as every endpoint needs it: admitted by the project's limits, routed over
the model's deployments, metered, and its limits claims released, however it ends.

    call = await GuardedCall.admit(gw, caller, model, Operation.CHAT, stream=stream,
                                   reserve_tokens=..., prompt_estimate=...)   # 429 / 403 here
    result = await call.run(lambda deployment: deployment.adapter.chat(...))  # retries, failover
    headers = call.headers                                                    # x-ratelimit-*

A `Completion` is metered before `run` returns; a `CompletionStream` or `AudioStream` comes back
with chunks that meter when they end (200; 499 when the client leaves; the error's status when
the provider breaks off, after an SSE `error` event and never `data: [DONE]`). Every result's
`headers` carry the x-ratelimit-* headers of the project's limits.
"""
from __future__ import annotations

import time
from typing import Any, AsyncIterator, Awaitable, Callable

from .catalog import Operation, ResolvedModel
from .errors import GatewayError
from .keys import Caller
from .limits import Ticket
from .providers import AudioStream, CompletionStream, Usage


class GuardedCall:
    def __init__(self, gw: Any, caller: Caller, model: ResolvedModel, operation: Operation,
                 stream: bool, prompt_estimate: int):
        self._gw, self._caller, self._model = gw, caller, model
        self._operation, self._stream = operation, stream
        self._prompt_estimate = prompt_estimate
        self._started = time.perf_counter()
        self.ticket: Ticket | None = None

    @classmethod
    async def admit(cls, gw: Any, caller: Caller, model: ResolvedModel, operation: Operation, *,
                    stream: bool = False, reserve_tokens: int = 0,
                    prompt_estimate: int = 0) -> "GuardedCall":
        call = cls(gw, caller, model, operation, stream, prompt_estimate)
        try:
            call.ticket = await gw.limits.admit(caller, reserve_tokens)
        except GatewayError as err:
            call._meter(Usage(), err.status, model)        # refused requests are recorded too
            raise
        return call

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.ticket.headers) if self.ticket else {}

    def _meter(self, usage: Usage, status: int, served_by: ResolvedModel) -> float:
        return self._gw.usage.record(project=self._caller.project, key_id=self._caller.key_id,
                                     model=served_by, model_name=self._model.doc.id,
                                     operation=self._operation.value, usage=usage,
                                     latency_ms=(time.perf_counter() - self._started) * 1000,
                                     status=status, stream=self._stream,
                                     batch=self._caller.batch)

    async def run(self, attempt: Callable[[ResolvedModel], Awaitable[Any]]) -> Any:
        try:
            routed = await self._gw.router.call(self._model, attempt, stream=self._stream)
        except GatewayError as err:
            self._meter(Usage(), err.status, self._model)
            await self.ticket.finish(0, 0.0)
            raise
        except BaseException:
            self.ticket.finish_soon(0, 0.0)
            raise
        result, served_by = routed.result, routed.member
        if self.ticket.headers:           # x-ratelimit-*; a project without limits has none
            result.headers = {**result.headers, **self.ticket.headers}
        if isinstance(result, (CompletionStream, AudioStream)):
            self._meter_when_done(result, served_by, sse=isinstance(result, CompletionStream))
            return result
        usage = result.usage
        cost = self._meter(usage, 200, served_by)
        if self.ticket.limiter is not None:
            await self.ticket.finish(usage.prompt_tokens + usage.completion_tokens, cost)
        return result

    def _meter_when_done(self, result: CompletionStream | AudioStream, served_by: ResolvedModel,
                         sse: bool) -> None:
        """Meter a stream exactly once however it ends: iterated to the end (200), broken by
        the provider (its status; an SSE stream gets an `error` event first, never `[DONE]`),
        or left early by the consumer (499: `aclose()` the chunks, or `close()` the stream
        without reading it). Either way the upstream connection and the limits are released."""
        upstream_chunks, upstream_close = result.chunks, result.close
        done = False

        def finish(usage: Usage, status: int) -> None:
            nonlocal done
            if not done:
                done = True
                cost = self._meter(usage, status, served_by)
                self.ticket.finish_soon(usage.prompt_tokens + usage.completion_tokens, cost)

        async def chunks() -> AsyncIterator[bytes]:
            status, events = 499, 0
            try:
                async for chunk in upstream_chunks:
                    if sse:
                        events += chunk.count(b"data:")
                    yield chunk
                status = 200
            except GatewayError as err:
                status = err.status
                if not sse:
                    raise
                error_event = getattr(result, "error_event", None)
                yield error_event(err) if error_event else b"data: " + err.body() + b"\n\n"
            finally:
                await upstream_close()
                finish(produced_usage(result.usage, events, self._prompt_estimate), status)

        async def close() -> None:
            await upstream_close()
            finish(result.usage, 499)
        result.chunks, result.close = chunks(), close


def produced_usage(reported: Usage, events: int, prompt_estimate: int) -> Usage:
    """What a stream produced. Providers report usage in the last event; a stream cut short
    (client gone, upstream broken) has none, so count about one token per relayed event
    (OpenAI-style streams send one token per event) and estimate the prompt."""
    if reported.prompt_tokens or reported.completion_tokens or not events:
        return reported
    return Usage(prompt_estimate, max(0, events - 1))
