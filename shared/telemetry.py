"""OpenTelemetry traces: one trace per request, the upstream call as its child span.

Off unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set: then `configure` imports
`azure-monitor-opentelemetry` (lazily, so cold start and the import-cost tests are unaffected when
it is not) and exports to Application Insights, with an Entra credential when
`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` says `Authorization=AAD` (the template turns key-based
ingestion off). Tests and other hosts plug in their own provider with `use_tracer_provider`.

What a request span carries (attribute names follow OpenTelemetry's gen_ai conventions where one
exists): the operation, method and status; the project and key id; the model, tokens, cost and
latency once metered. Never prompts, completions, request or response bodies, headers or secrets:
the only values recorded are the ones `UsageRecorder` stores, which are the same by design.

When tracing is off every helper here is a no-op on a shared object; nothing is imported.
"""
from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any, AsyncIterator

from . import genai_semconv
from .config import Settings

log = logging.getLogger(__name__)

_tracer: Any = None                       # an opentelemetry Tracer once configured
_metrics: Any = None                      # genai_semconv.Metrics once configured
_current: ContextVar["RequestTrace | None"] = ContextVar("llmproxy_request_trace", default=None)

# Instrumentations azure-monitor-opentelemetry would switch on by default. HTTP-library ones are
# off: they would record full URLs of every inbound and outbound call (our own spans say what
# matters); the Azure SDK one stays on so Cosmos, Event Hubs and Web PubSub calls appear as
# dependencies under the request.
_INSTRUMENTATIONS_OFF = ("django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")


def configure(settings: Settings) -> bool:
    """Turn tracing on if Application Insights is configured. Idempotent; True when on."""
    global _tracer
    if _tracer is not None:
        return True
    connection_string = settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry import trace
    configure_azure_monitor(
        connection_string=connection_string,
        credential=_ingestion_credential(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")),
        sampling_ratio=settings.trace_sample_ratio,
        disable_logging=True,       # the Functions host already ships the worker's log lines
        disable_metrics=False,      # the GenAI client metrics (genai_semconv.Metrics)
        enable_live_metrics=False,
        instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS_OFF},
    )
    _tracer = trace.get_tracer("llmproxy")
    from opentelemetry import metrics
    use_meter_provider(metrics.get_meter_provider())
    return True


def _ingestion_credential(auth: str | None) -> Any:
    """`ClientId=...;Authorization=AAD` (the Functions host's own format) -> an Entra credential."""
    if not auth:
        return None
    parts = dict(p.split("=", 1) for p in auth.split(";") if "=" in p)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    client_id = parts.get("ClientId")
    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


def use_tracer_provider(provider: Any | None) -> None:
    """Trace into `provider` (an OpenTelemetry TracerProvider), or stop tracing with None."""
    global _tracer
    _tracer = provider.get_tracer("llmproxy") if provider is not None else None


def use_meter_provider(provider: Any | None) -> None:
    """Record the GenAI metrics into `provider` (an OpenTelemetry MeterProvider), or stop."""
    global _metrics
    from .genai_semconv import Metrics
    _metrics = Metrics(provider) if provider is not None else None


def enabled() -> bool:
    return _tracer is not None


class RequestTrace:
    """The span of one gateway request. `NOOP` stands in when tracing is off."""

    __slots__ = ("span", "_token", "_otel_token", "_metered")

    def __init__(self, span: Any = None):
        self.span = span
        self._token = None
        self._otel_token = None
        self._metered: list[dict[str, Any]] = []     # one entry per metered model call

    def annotate(self, **attributes: Any) -> None:
        if self.span is not None:
            self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})

    def enter(self) -> None:
        """Make this the current request (for `annotate_usage`, child spans, Azure SDK spans)."""
        if self.span is None:
            return
        from opentelemetry import context, trace
        self._token = _current.set(self)
        self._otel_token = context.attach(trace.set_span_in_context(self.span))

    def leave(self) -> None:
        if self.span is None or self._token is None:
            return
        from opentelemetry import context
        try:
            context.detach(self._otel_token)
            _current.reset(self._token)
        except ValueError:            # left from another context (a stream's last step)
            _current.set(None)
        self._token = self._otel_token = None

    def finish(self, status: int, error_code: str | None = None) -> None:
        if self.span is None:
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode
        if self.span.kind == SpanKind.SERVER:
            self.span.set_attribute("http.response.status_code", status)
        if error_code:
            self.span.set_attribute("error.type", error_code)
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR, error_code or str(status)))
        self.span.end()


NOOP = RequestTrace()


def start_request(operation: str, method: str | None = None) -> RequestTrace:
    """The span of one HTTP request (`method` given) or of one event's processing (an async
    job from Event Hubs: a CONSUMER span)."""
    if _tracer is None:
        return NOOP
    from opentelemetry.trace import SpanKind
    attributes = {"llmproxy.operation": operation}
    if method:
        attributes["http.request.method"] = method
    span = _tracer.start_span(f"llmproxy {operation}",
                              kind=SpanKind.SERVER if method else SpanKind.CONSUMER,
                              attributes=attributes)
    return RequestTrace(span)


async def traced_stream(chunks: AsyncIterator[bytes], trace: RequestTrace,
                        status: int) -> AsyncIterator[bytes]:
    """Relay a streamed body with `trace` current at every step, so the usage metered when the
    stream ends lands on the request's span; end the span when the stream does."""
    iterator = chunks.__aiter__()
    outcome = 499                           # the client left before the end
    try:
        while True:
            _current.set(trace)
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                outcome = status
                break
            yield chunk
    finally:
        _current.set(trace)
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
        _current.set(None)
        trace.finish(outcome)


def annotate_usage(*, project: str, key_id: str, model: str, operation: str, prompt_tokens: int,
                   completion_tokens: int, cost: float, latency_ms: float, status: int,
                   stream: bool) -> None:
    """Put a metered call's figures on the current request's span (called by
    `UsageRecorder.record`). A request that makes several model calls (a realtime turn:
    transcription, chat, speech) carries their sums and the list of models it used."""
    trace = _current.get()
    if trace is None or trace.span is None:
        return
    trace._metered.append({"model": model, "input": prompt_tokens, "output": completion_tokens,
                           "cost": cost})
    calls = trace._metered
    models = list(dict.fromkeys(c["model"] for c in calls))
    trace.annotate(**{
        "llmproxy.project": project, "llmproxy.key_id": key_id, "gen_ai.request.model": models[0],
        "llmproxy.models": models if len(models) > 1 else None,
        "llmproxy.model_calls": len(calls) if len(calls) > 1 else None,
        "gen_ai.operation.name": genai_semconv.request_operation(operation),
        "llmproxy.catalog_operation": operation,
        "gen_ai.usage.input_tokens": sum(c["input"] for c in calls),
        "gen_ai.usage.output_tokens": sum(c["output"] for c in calls),
        "llmproxy.cost": round(sum(c["cost"] for c in calls), 10),
        "llmproxy.latency_ms": latency_ms, "llmproxy.upstream_status": status,
        "llmproxy.stream": stream})


# -- the upstream call as a child span -------------------------------------------------------

class TracedAdapter:
    """Wraps a provider adapter: every async call it makes to its provider becomes a CLIENT span
    under the current request's span, ending when the response (or the stream) is finished."""

    def __init__(self, inner: Any):
        self._inner = inner

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or name in _NOT_PROVIDER_CALLS or not _is_coroutine_function(attr):
            return attr

        async def traced(span: Any, args: tuple, kwargs: dict) -> Any:
            started = time.perf_counter()
            try:
                result = await attr(*args, **kwargs)
            except Exception as exc:
                _end_upstream(span, started, getattr(exc, "status", None) or 500,
                              getattr(exc, "code", None) or type(exc).__name__)
                raise
            return _end_with(result, span, started)

        def call(*args: Any, **kwargs: Any) -> Any:
            # Not a coroutine itself: untraced, the adapter's own coroutine is handed back
            # as it is (no extra layer for every await on the request path).
            span = _start_upstream(self._inner, name, args[0] if args else None)
            if span is None:
                return attr(*args, **kwargs)
            return traced(span, args, kwargs)
        # Kept on the instance: later lookups find it without coming back here (the hot path
        # calls one of these on every request).
        setattr(self, name, call)
        return call


# Adapter methods that are set-up or tear-down, not a call to the provider.
_NOT_PROVIDER_CALLS = frozenset({"prepare", "ready", "warm", "close", "aclose"})


def _is_coroutine_function(attr: Any) -> bool:
    import inspect
    return inspect.iscoroutinefunction(attr)


def _start_upstream(adapter: Any, method: str, prepared: Any) -> Any:
    if _tracer is None:
        return None
    trace = _current.get()
    if trace is None or trace.span is None:
        return None
    from opentelemetry import trace as otel
    from opentelemetry.trace import SpanKind
    attributes = genai_semconv.start_attributes(adapter, method, prepared)
    attributes.update({"llmproxy.provider": getattr(adapter, "name", type(adapter).__name__),
                       "llmproxy.upstream_method": method})
    return _tracer.start_span(genai_semconv.span_name(attributes), kind=SpanKind.CLIENT,
                              context=otel.set_span_in_context(trace.span),
                              attributes=attributes)


def _end_upstream(span: Any, started: float, status: int, error: str | None = None, *,
                  usage: Any = None, scan: genai_semconv.ResponseScan | None = None,
                  first_chunk: float | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode
    seconds = time.perf_counter() - started
    span.set_attribute("llmproxy.upstream_latency_ms", round(seconds * 1000, 3))
    span.set_attribute("llmproxy.upstream_status", status)
    if scan is not None:
        span.set_attributes(scan.attributes())
    span.set_attributes(genai_semconv.usage_attributes(usage))
    if error:
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR, error))
    if _metrics is not None:
        attributes = dict(getattr(span, "attributes", None) or {})
        _metrics.record(attributes, seconds, usage, error, first_chunk)
    span.end()


def _end_with(result: Any, span: Any, started: float) -> Any:
    """A finished response ends the span now; a stream ends it when it is closed, after its
    chunks were scanned for finish reasons (and timed to the first one) on the way through."""
    close = getattr(result, "close", None)
    scan = genai_semconv.ResponseScan()
    if close is None or not callable(close) or not hasattr(result, "chunks"):
        body = getattr(result, "body", None)
        if isinstance(body, bytes) and getattr(result, "media_type", "") == "application/json":
            scan.feed(body)
        _end_upstream(span, started, 200, usage=getattr(result, "usage", None), scan=scan)
        return result
    first: list[float] = []
    chunks = result.chunks

    sse = not hasattr(result, "content_type")                 # not an AudioStream's bytes

    async def scanned() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                if not first:
                    first.append(time.perf_counter() - started)
                if sse:
                    scan.feed(chunk)
                yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def close_and_end() -> None:
        try:
            await close()
        finally:
            _end_upstream(span, started, 200, usage=getattr(result, "usage", None), scan=scan,
                          first_chunk=first[0] if first else None)
    result.chunks, result.close = scanned(), close_and_end
    return result
