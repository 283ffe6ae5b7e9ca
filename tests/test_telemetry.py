"""Tracing: one span per request with the metered figures, the provider call as its child span,
and nothing of the conversation in any of them.

The gateway core runs in this process (an in-memory span exporter can only see spans made here),
against the provider simulator over a real socket; the spans are what Application Insights would
receive through azure-monitor-opentelemetry.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import telemetry
from shared.admin import create_key, upsert_model
from shared.config import Settings
from shared.gateway import Gateway
from shared.handlers import audio, chat, embeddings, models
from shared.handlers.respond import respond
from shared.http_types import ApiRequest

from .conftest import ROOT

PROMPT = "my-private-question-about-cardamom-4821"
SIM_KEY = "sim-azure-key"
PEPPER = "telemetry-test-pepper-0123"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(provider)
    yield exporter
    telemetry.use_tracer_provider(None)
    provider.shutdown()


@pytest.fixture
async def gateway(simulator, tmp_path):
    settings = Settings.from_env({
        "LLMPROXY_DATA_DIR": str(tmp_path), "LLMPROXY_KEY_PEPPER": PEPPER,
        "LLMPROXY_SIMULATOR_URL": simulator, "SIMULATOR_AZURE_API_KEY": SIM_KEY,
        "LLMPROXY_REQUEST_TIMEOUT_SECONDS": "5"})
    gw = await Gateway(settings).ready()
    catalog = json.loads((ROOT / "catalog" / "simulator.json").read_text())
    for doc in catalog:
        if doc["id"] in ("gpt-4o-mini", "text-embedding-3-small", "tts-1"):
            await upsert_model(gw, doc)
    key, _ = await create_key(gw, "tracing", "test")
    try:
        yield gw, key
    finally:
        await gw.close()


def chat_request(key: str, **extra) -> ApiRequest:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}], **extra}
    return ApiRequest(method="POST", path="/v1/chat/completions",
                      headers={"authorization": f"Bearer {key}"}, body=json.dumps(body).encode())


def by_kind(exporter: InMemorySpanExporter):
    finished = exporter.get_finished_spans()
    server = [s for s in finished if s.kind == SpanKind.SERVER]
    client = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert len(server) == 1, [s.name for s in finished]
    return server[0], client


def assert_nothing_private(exporter, *private: str) -> None:
    for span in exporter.get_finished_spans():
        texts = [span.name, *map(str, span.attributes.values()), *map(str, span.attributes)]
        texts += [str(v) for e in span.events for v in e.attributes.values()]
        for value in private:
            assert not any(value in t for t in texts), (span.name, value)


async def test_a_request_is_one_trace_with_the_upstream_call_as_its_child(gateway, spans):
    gw, key = gateway
    response = await respond(gw, chat.chat_completions, chat_request(key))
    assert response.status == 200, response.body
    reply = json.loads(response.body)
    request, upstream = by_kind(spans)

    attrs = request.attributes
    assert request.name == "llmproxy chat_completions"
    assert attrs["llmproxy.operation"] == "chat_completions"
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["llmproxy.project"] == "tracing"
    assert attrs["gen_ai.usage.input_tokens"] == reply["usage"]["prompt_tokens"] > 0
    assert attrs["gen_ai.usage.output_tokens"] == reply["usage"]["completion_tokens"] > 0
    expected_cost = (reply["usage"]["prompt_tokens"] * 0.15
                     + reply["usage"]["completion_tokens"] * 0.6) / 1e6
    assert attrs["llmproxy.cost"] == pytest.approx(expected_cost)
    assert attrs["llmproxy.latency_ms"] > 0
    assert attrs["llmproxy.stream"] is False
    assert request.status.status_code != StatusCode.ERROR

    assert len(upstream) == 1
    child = upstream[0]
    assert child.parent is not None and child.parent.span_id == request.context.span_id
    assert child.context.trace_id == request.context.trace_id
    assert child.attributes["llmproxy.provider"] == "Azure OpenAI"
    assert child.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert child.attributes["llmproxy.upstream_status"] == 200
    assert child.end_time <= request.end_time

    completion = reply["choices"][0]["message"]["content"]
    assert_nothing_private(spans, PROMPT, completion, key, SIM_KEY, PEPPER)


async def test_a_stream_is_traced_until_its_last_chunk(gateway, spans):
    gw, key = gateway
    response = await respond(gw, chat.chat_completions, chat_request(key, stream=True))
    assert response.stream is not None
    assert spans.get_finished_spans() == ()          # still streaming: nothing has ended yet
    body = b"".join([chunk async for chunk in response.stream])
    assert body.rstrip().endswith(b"data: [DONE]")
    request, upstream = by_kind(spans)
    assert request.attributes["llmproxy.stream"] is True
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["gen_ai.usage.output_tokens"] > 0
    assert [c.parent.span_id for c in upstream] == [request.context.span_id]
    deltas = "".join(
        (json.loads(line[5:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in body.decode().splitlines()
        if line.startswith("data: {"))
    assert deltas
    assert_nothing_private(spans, PROMPT, deltas, key, SIM_KEY)


async def test_a_failed_upstream_call_marks_both_spans(gateway, spans, sim):
    gw, key = gateway
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 500, "count": 10})
    response = await respond(gw, chat.chat_completions, chat_request(key))
    assert response.status == 502
    request, upstream = by_kind(spans)
    assert request.status.status_code == StatusCode.ERROR
    assert request.attributes["http.response.status_code"] == 502
    assert request.attributes["error.type"] == "upstream_error"
    assert request.attributes["llmproxy.upstream_status"] == 502
    assert upstream                                  # one child span per attempt (retries)
    for attempt in upstream:
        assert attempt.status.status_code == StatusCode.ERROR
        assert attempt.attributes["llmproxy.upstream_status"] == 502
        assert attempt.parent.span_id == request.context.span_id
    assert_nothing_private(spans, PROMPT, key, SIM_KEY)


async def test_requests_without_a_provider_call_have_no_child_span(gateway, spans):
    gw, key = gateway
    response = await respond(gw, models.list_models, ApiRequest(
        method="GET", path="/v1/models", headers={"authorization": f"Bearer {key}"}))
    assert response.status == 200
    request, upstream = by_kind(spans)
    assert request.attributes["llmproxy.operation"] == "list_models"
    assert upstream == []


async def test_an_unauthenticated_request_is_traced_without_a_project(gateway, spans):
    gw, _ = gateway
    response = await respond(gw, chat.chat_completions, chat_request("wrong-key"))
    assert response.status == 401
    request, _ = by_kind(spans)
    assert request.attributes["error.type"] == "invalid_api_key"
    assert "llmproxy.project" not in request.attributes
    assert request.status.status_code != StatusCode.ERROR        # a client error, not ours
    assert_nothing_private(spans, "wrong-key", PROMPT)


def test_tracing_stays_off_and_unimported_without_application_insights():
    code = ("import sys\n"
            "from shared.config import Settings\n"
            "from shared import telemetry\n"
            "assert telemetry.configure(Settings.from_env({})) is False\n"
            "assert not telemetry.enabled()\n"
            "assert telemetry.start_request('x', 'GET') is telemetry.NOOP\n"
            "assert not any(m.startswith(('azure.monitor', 'opentelemetry.sdk')) for m in sys.modules)\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_application_insights_is_configured_from_its_settings():
    """With a connection string the exporter is set up (no network at setup time), and the
    Entra credential follows the Functions host's APPLICATIONINSIGHTS_AUTHENTICATION_STRING."""
    code = ("from shared.config import Settings\n"
            "from shared import telemetry\n"
            "cs = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            "IngestionEndpoint=http://127.0.0.1:9/'\n"
            "s = Settings.from_env({'APPLICATIONINSIGHTS_CONNECTION_STRING': cs,"
            " 'LLMPROXY_TRACE_SAMPLE_RATIO': '0.5'})\n"
            "assert telemetry.configure(s) is True and telemetry.enabled()\n"
            "from azure.identity import ManagedIdentityCredential\n"
            "c = telemetry._ingestion_credential('ClientId=abc;Authorization=AAD')\n"
            "assert isinstance(c, ManagedIdentityCredential)\n"
            "assert telemetry._ingestion_credential('') is None\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().endswith("ok"), out.stderr[-3000:]


async def test_the_traced_adapter_leaves_set_up_calls_alone(spans):
    from shared.providers import Completion, Usage

    class Adapter:
        name = "Fake provider"

        def prepare(self, doc, params):
            return "prepared"

        async def ready(self):
            return "ready"

        async def chat(self, prepared, body, stream, secrets):
            return Completion(b"{}", Usage(1, 2))

    traced = telemetry.TracedAdapter(Adapter())
    assert traced.name == "Fake provider" and traced.prepare(None, {}) == "prepared"
    assert await traced.ready() == "ready"
    assert (await traced.chat("p", {}, False, ())).usage.completion_tokens == 2
    assert spans.get_finished_spans() == ()      # no request in progress: nothing to attach to

    trace = telemetry.start_request("unit", "POST")
    trace.enter()
    try:
        await traced.ready()
        await traced.chat("p", {}, False, ())
    finally:
        trace.leave()
    trace.finish(200)
    names = sorted(s.name for s in spans.get_finished_spans())
    assert names == ["chat", "llmproxy unit"]       # `{operation} {model}`; no model known


def json_request(key: str, path: str, body: dict) -> ApiRequest:
    return ApiRequest(method="POST", path=path, headers={"authorization": f"Bearer {key}"},
                      body=json.dumps(body).encode())


async def test_every_operation_is_traced_the_same_way(gateway, spans):
    gw, key = gateway
    response = await respond(gw, embeddings.embeddings, json_request(
        key, "/v1/embeddings", {"model": "text-embedding-3-small", "input": PROMPT}))
    assert response.status == 200, response.body
    request, upstream = by_kind(spans)
    assert request.name == "llmproxy embeddings"
    assert request.attributes["gen_ai.request.model"] == "text-embedding-3-small"
    assert request.attributes["gen_ai.usage.input_tokens"] > 0
    assert [u.name for u in upstream] == ["embeddings text-embedding-3-small"]
    assert upstream[0].parent.span_id == request.context.span_id
    assert_nothing_private(spans, PROMPT, key, SIM_KEY)


async def test_streamed_speech_is_traced_until_the_audio_ends(gateway, spans):
    gw, key = gateway
    response = await respond(gw, audio.speech, json_request(
        key, "/v1/audio/speech", {"model": "tts-1", "input": PROMPT, "voice": "alloy",
                                  "response_format": "wav"}))
    assert response.status == 200 and response.stream is not None
    assert spans.get_finished_spans() == ()
    audio_bytes = b"".join([chunk async for chunk in response.stream])
    assert audio_bytes[:4] == b"RIFF"
    request, upstream = by_kind(spans)
    assert request.name == "llmproxy speech"
    assert [u.name for u in upstream] == ["generate_content tts-1"]
    assert upstream[0].end_time <= request.end_time
    assert_nothing_private(spans, PROMPT, key, SIM_KEY)


async def test_an_async_job_is_one_trace_with_its_provider_call(gateway, spans):
    from shared.jobs.events import HubEvent
    from shared.jobs.worker import process_batch
    gw, _ = gateway
    line = {"custom_id": "trace-1", "method": "POST", "url": "/v1/chat/completions",
            "project": "tracing",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}}
    finished = await process_batch(gw, [HubEvent(body=json.dumps(line).encode())])
    assert len(finished) == 1
    job = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert [s.name for s in job] == ["llmproxy chat_job"]
    attrs = job[0].attributes
    assert attrs["llmproxy.project"] == "tracing" and attrs["llmproxy.job_status"] == "completed"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.output_tokens"] > 0
    assert "http.response.status_code" not in attrs
    upstream = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [u.parent.span_id for u in upstream] == [job[0].context.span_id]
    assert_nothing_private(spans, PROMPT, SIM_KEY)


def test_several_model_calls_in_one_request_are_summed(spans):
    """A realtime turn meters transcription, chat and speech inside one event's trace."""
    trace = telemetry.start_request("realtime_event")
    trace.enter()
    try:
        for model, tokens, cost in (("whisper-1", (10, 5), 0.001), ("gpt-4o-mini", (20, 30), 0.002),
                                    ("tts-1", (0, 40), 0.003)):
            telemetry.annotate_usage(project="p", key_id="k", model=model, operation="x",
                                     prompt_tokens=tokens[0], completion_tokens=tokens[1],
                                     cost=cost, latency_ms=1.0, status=200, stream=False)
    finally:
        trace.leave()
    trace.finish(200)
    [span] = spans.get_finished_spans()
    assert span.kind == SpanKind.CONSUMER
    assert span.attributes["gen_ai.usage.input_tokens"] == 30
    assert span.attributes["gen_ai.usage.output_tokens"] == 75
    assert span.attributes["llmproxy.cost"] == pytest.approx(0.006)
    assert list(span.attributes["llmproxy.models"]) == ["whisper-1", "gpt-4o-mini", "tts-1"]
    assert span.attributes["llmproxy.model_calls"] == 3


# -- the GenAI semantic conventions --------------------------------------------------------------
@pytest.fixture
def genai_metrics():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry.use_meter_provider(provider)
    yield reader
    telemetry.use_meter_provider(None)
    provider.shutdown()


def points(reader) -> dict[str, list]:
    found: dict[str, list] = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(
                    (dict(p.attributes), p.sum, p.count, metric.unit)
                    for p in metric.data.data_points)
    return found


@pytest.mark.parametrize("stream", [False, True])
async def test_the_provider_call_follows_the_genai_conventions(gateway, spans, genai_metrics,
                                                                simulator, stream):
    gw, key = gateway
    response = await respond(gw, chat.chat_completions, chat_request(key, stream=stream))
    body = b"".join([c async for c in response.stream]) if stream else response.body
    request, (client,) = by_kind(spans)
    a = client.attributes
    assert client.name == "chat gpt-4o-mini"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "azure.ai.openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"          # what the simulator answered
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    host = simulator.split("//")[1]
    assert f"{a['server.address']}:{a['server.port']}" == host
    assert a["gen_ai.usage.input_tokens"] == request.attributes["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.usage.output_tokens"] == request.attributes["gen_ai.usage.output_tokens"] > 0
    assert request.attributes["gen_ai.operation.name"] == "chat"

    found = points(genai_metrics)
    tokens = {p[0]["gen_ai.token.type"]: p for p in found["gen_ai.client.token.usage"]}
    assert tokens["input"][1] == a["gen_ai.usage.input_tokens"] and tokens["input"][3] == "{token}"
    assert tokens["output"][1] == a["gen_ai.usage.output_tokens"]
    assert tokens["input"][0]["gen_ai.provider.name"] == "azure.ai.openai"
    (duration,) = found["gen_ai.client.operation.duration"]
    assert duration[2] == 1 and 0 < duration[1] < 5 and duration[3] == "s"
    assert duration[0]["gen_ai.request.model"] == "gpt-4o-mini" and "error.type" not in duration[0]
    first = found.get("gen_ai.client.operation.time_to_first_chunk", [])
    if stream:                                  # streams only, as the conventions say
        assert len(first) == 1 and 0 < first[0][1] <= duration[1]
    else:
        assert first == []
    completion = body.decode()
    assert_nothing_private(spans, PROMPT, key, SIM_KEY)
    for name, series in found.items():
        assert PROMPT not in repr(series) and "[simulated]" not in repr(series), name
    assert "[simulated]" in completion                        # the answer was there to leak


async def test_a_failed_provider_call_is_an_error_in_the_duration_metric(gateway, spans,
                                                                         genai_metrics, sim):
    gw, key = gateway
    sim.post("/_sim/faults", json={"match": "gpt-4o-mini", "status": 500, "count": 10})
    response = await respond(gw, chat.chat_completions, chat_request(key))
    assert response.status == 502
    durations = points(genai_metrics)["gen_ai.client.operation.duration"]
    assert durations and all(p[0]["error.type"] for p in durations)
    assert "gen_ai.client.token.usage" not in points(genai_metrics)
