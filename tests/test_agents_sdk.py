"""The OpenAI Agents SDK (`openai-agents`) against the gateway, configured the way its docs tell
users to point it at another OpenAI-compatible endpoint: an `AsyncOpenAI` client with our
base URL and key handed to its default model provider, whose default model speaks the
Responses API. One agent with one function tool, run whole and streamed, on every simulator
chat model family (Azure native pass-through and translated, Gemini, Claude, Llama).

The simulated model calls the first tool it is given until it sees the tool's output, then
answers "[simulated] tool result: <output>", so each run is two model turns with the SDK
running our tool in between."""
from __future__ import annotations

import asyncio

import openai
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider
from agents.models.openai_responses import OpenAIResponsesModel

from .test_responses import MODELS


def _agent(calls: list[str]) -> Agent:
    @function_tool
    def get_weather(city: str) -> str:
        """The weather for a city."""
        calls.append(city)
        return f"snow in {city}, -3C"

    return Agent(name="forecaster", instructions="Answer with the tool's result.",
                 tools=[get_weather])


def _config(gateway: str, key: str, model: str) -> RunConfig:
    client = openai.AsyncOpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0,
                                timeout=60)
    # No export of traces: the SDK would send them to api.openai.com with our key.
    return RunConfig(model=model, model_provider=OpenAIProvider(openai_client=client),
                     tracing_disabled=True)


def _check(result, calls: list[str], client: openai.OpenAI, model: str) -> None:
    assert len(calls) == 1 and calls[0]                      # the SDK ran our tool once
    assert result.final_output == f"[simulated] tool result: snow in {calls[0]}, -3C"
    # Two model turns, both through /v1/responses: the first asked for the tool, the second
    # answered from its output. The ids are the gateway's stored responses.
    assert len(result.raw_responses) == 2
    first, second = (r.response_id for r in result.raw_responses)
    assert first.startswith("resp_") and second.startswith("resp_") and first != second
    call = next(i for i in client.responses.retrieve(first).output if i.type == "function_call")
    assert call.name == "get_weather"
    stored = client.responses.retrieve(second)
    assert stored.model == model and stored.output_text == result.final_output
    assert all(r.usage.input_tokens > 0 and r.usage.output_tokens > 0
               for r in result.raw_responses)


def test_the_default_model_is_the_responses_model(gateway, key):
    provider = _config(gateway, key, "gpt-4o-mini").model_provider
    assert isinstance(provider.get_model("gpt-4o-mini"), OpenAIResponsesModel)


@pytest.mark.parametrize("model", MODELS)
def test_an_agent_with_one_tool(gateway, key, client, model):
    calls: list[str] = []
    result = asyncio.run(Runner.run(_agent(calls), "What's the weather in Oslo?",
                                    run_config=_config(gateway, key, model)))
    _check(result, calls, client, model)


@pytest.mark.parametrize("model", MODELS)
def test_an_agent_with_one_tool_streamed(gateway, key, client, model):
    calls: list[str] = []

    async def run():
        streamed = Runner.run_streamed(_agent(calls), "What's the weather in Oslo?",
                                       run_config=_config(gateway, key, model))
        kinds, deltas = [], []
        async for event in streamed.stream_events():
            kinds.append(event.type)
            if event.type == "raw_response_event" and \
                    event.data.type == "response.output_text.delta":
                deltas.append(event.data.delta)
        return streamed, kinds, "".join(deltas)

    streamed, kinds, text = asyncio.run(run())
    _check(streamed, calls, client, model)
    assert text == streamed.final_output                     # streamed token by token
    assert "run_item_stream_event" in kinds and kinds.count("agent_updated_stream_event") == 1
