"""LiteLLM as a client of the gateway's Responses API (`litellm.responses` with an
`openai/<model>` name and our base URL, as LiteLLM documents for OpenAI-compatible servers):
plain, streamed and with a function tool, on a translated, a native pass-through and a Vertex
model. LiteLLM is already pinned (the gateway's provider layer); no new dependency."""
from __future__ import annotations

import os

import pytest

# Before litellm is imported: its model cost map would otherwise be fetched from GitHub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402

# LiteLLM's own pydantic models warn about their own usage objects; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning",
                                        "ignore:Items? .* ReadOnly:UserWarning")

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture
def call(gateway, key):
    def responses(model: str, **kw):
        return litellm.responses(model="openai/" + model, api_base=gateway + "/v1",
                                 api_key=key, num_retries=0, timeout=60, **kw)
    return responses


@pytest.fixture
def stored(gateway, key):
    """GET /v1/responses/{id} through LiteLLM (its ids wrap ours with its provider name)."""
    def get(response_id: str):
        return litellm.get_responses(response_id=response_id, api_base=gateway + "/v1",
                                     api_key=key, custom_llm_provider="openai", timeout=60)
    return get


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4"])
def test_litellm_responses_whole_streamed_and_with_a_tool(call, stored, model):
    whole = call(model, input="hello from litellm")
    assert whole.status == "completed" and whole.model == model
    text = whole.output[-1].content[0].text
    assert text.startswith("[simulated]") and "hello from litellm" in text
    assert whole.usage.input_tokens > 0 and whole.usage.output_tokens > 0
    assert stored(whole.id).output[-1].content[0].text == text          # stored by the gateway

    events = list(call(model, input="stream from litellm", stream=True))
    kinds = [str(getattr(e.type, "value", e.type)) for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if str(getattr(e.type, "value", e.type))
                     == "response.output_text.delta")
    assert "stream from litellm" in deltas

    first = call(model, input="weather in Lima?", tools=[WEATHER])
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    second = call(model, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "fog"}])
    assert "tool result: fog" in second.output[-1].content[0].text
