"""Costs per token class: the priced total of a call equals a hand computation from the usage
object the provider itself answered with (read from the simulator's request log), for every
provider family, streamed or not."""
from __future__ import annotations

import openai
import pytest

# Every class its own price, none equal to another or to its parent, so a token counted in the
# wrong class (or twice, or not at all) changes the total.
PRICES = {"cost_input_1Mtokens": 1.0, "cost_output_1Mtokens": 2.0,
          "cost_cached_input_1Mtokens": 0.25, "cost_cache_write_input_1Mtokens": 1.25,
          "cost_audio_input_1Mtokens": 4.0, "cost_reasoning_1Mtokens": 3.0,
          "cost_audio_output_1Mtokens": 8.0}
P = {k: v / 1e6 for k, v in PRICES.items()}
# Ask the simulator to report every class (each dialect reports those its provider does).
PROMPT = ("what does this cost [sim:cached=1000] [sim:cache_write=300] [sim:reasoning=500] "
          "[sim:audio_in=200] [sim:audio_out=70]")


def openai_cost(u: dict) -> float:
    """OpenAI's usage: cached and audio tokens are parts of prompt_tokens, reasoning and audio
    parts of completion_tokens."""
    pd, cd = u.get("prompt_tokens_details") or {}, u.get("completion_tokens_details") or {}
    cached, audio_in = pd.get("cached_tokens", 0), pd.get("audio_tokens", 0)
    reasoning, audio_out = cd.get("reasoning_tokens", 0), cd.get("audio_tokens", 0)
    return ((u["prompt_tokens"] - cached - audio_in) * P["cost_input_1Mtokens"]
            + cached * P["cost_cached_input_1Mtokens"]
            + audio_in * P["cost_audio_input_1Mtokens"]
            + (u["completion_tokens"] - reasoning - audio_out) * P["cost_output_1Mtokens"]
            + reasoning * P["cost_reasoning_1Mtokens"]
            + audio_out * P["cost_audio_output_1Mtokens"])


def claude_cost(u: dict) -> float:
    """Anthropic's usage: input_tokens is the uncached prompt; cache writes and reads beside."""
    return (u["input_tokens"] * P["cost_input_1Mtokens"]
            + u["cache_creation_input_tokens"] * P["cost_cache_write_input_1Mtokens"]
            + u["cache_read_input_tokens"] * P["cost_cached_input_1Mtokens"]
            + u["output_tokens"] * P["cost_output_1Mtokens"])


def gemini_cost(u: dict) -> float:
    """Gemini's usageMetadata: promptTokenCount includes cached and audio tokens; thoughts are
    beside candidatesTokenCount."""
    def modality(details: str, name: str) -> int:
        return sum(d["tokenCount"] for d in u.get(details, []) if d["modality"] == name)
    cached = u.get("cachedContentTokenCount", 0)
    audio_in, audio_out = modality("promptTokensDetails", "AUDIO"), modality(
        "candidatesTokensDetails", "AUDIO")
    return ((u["promptTokenCount"] - cached - audio_in) * P["cost_input_1Mtokens"]
            + cached * P["cost_cached_input_1Mtokens"]
            + audio_in * P["cost_audio_input_1Mtokens"]
            + (u["candidatesTokenCount"] - audio_out) * P["cost_output_1Mtokens"]
            + u.get("thoughtsTokenCount", 0) * P["cost_reasoning_1Mtokens"]
            + audio_out * P["cost_audio_output_1Mtokens"])


PROVIDERS = {          # catalog model cloned -> (hand computation, simulator path fragment)
    "gpt-4o-mini": (openai_cost, "/chat/completions"),
    "gemini-2.5-flash": (gemini_cost, "enerateContent"),
    "claude-sonnet-4": (claude_cost, "awPredict"),
    "llama-3.3-70b": (openai_cost, "/endpoints/openapi/chat/completions"),
}


def put_model(admin, doc: dict) -> dict:
    resp = admin.put(f"/v1/organization/models/{doc['id']}", json=doc)
    assert resp.status_code == 200, resp.text
    return resp.json()


def get_model(admin, model_id: str) -> dict:
    resp = admin.get(f"/v1/organization/models/{model_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def priced_clone(admin, source: str, prices: dict) -> str:
    doc = get_model(admin, source)
    doc.pop("priced_like_parent")
    model_id = f"priced-{source}"
    put_model(admin, {**doc, "id": model_id, "costs": prices})
    return model_id


def usage_rows(admin, project: str) -> list[dict]:
    resp = admin.get(f"/v1/organization/projects/{project}/usage")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def provider_usage(sim, fragment: str) -> dict:
    """The usage object of the provider's last answer on a path containing `fragment`."""
    entries = [e for e in sim.get("/_sim/requests").json()["requests"]
               if fragment in e["path"] and "usage" in e]
    assert entries, f"no provider answer on *{fragment}* carried usage"
    return entries[-1]["usage"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("source", list(PROVIDERS))
def test_priced_total_matches_the_providers_usage(gateway, admin, make_key, sim, source, stream):
    compute, fragment = PROVIDERS[source]
    model = priced_clone(admin, source, PRICES)
    project = f"costs-{source.replace('.', '-')}-{int(stream)}"
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key(project), max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True))
        assert chunks and not any(c.usage for c in chunks)    # the client did not ask for usage
    else:
        client.chat.completions.create(model=model, messages=messages)
    reported = provider_usage(sim, fragment)
    expected = compute(reported)
    (row,) = usage_rows(admin, project)
    assert row["cost"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert row["cost"] > 0 and row["stream"] is stream
    # Every class the provider reported is kept on the row, so costs can be re-derived.
    if source == "claude-sonnet-4":
        assert (row["cached_input_tokens"], row["cache_write_input_tokens"]) == (
            reported["cache_read_input_tokens"], reported["cache_creation_input_tokens"]) == (
            1000, 300)
    elif source == "gemini-2.5-flash":
        assert (row["cached_input_tokens"], row["reasoning_tokens"], row["audio_input_tokens"],
                row["audio_output_tokens"]) == (1000, 500, 200, 70)
    elif source == "gpt-4o-mini":
        assert (row["cached_input_tokens"], row["reasoning_tokens"], row["audio_input_tokens"],
                row["audio_output_tokens"]) == (1000, 500, 200, 70)


def test_a_class_without_a_price_is_priced_like_its_parent_and_flagged(gateway, admin, make_key,
                                                                       sim):
    model = priced_clone(admin, "gpt-4o-mini", {"cost_input_1Mtokens": 1.0,
                                                "cost_output_1Mtokens": 2.0,
                                                "cost_cached_input_1Mtokens": 0.25})
    view = get_model(admin, model)
    assert view["priced_like_parent"] == ["cache_write_input_tokens", "audio_input_tokens",
                                          "reasoning_tokens", "audio_output_tokens"]
    assert "cost_reasoning_1Mtokens" not in view["costs"]      # unset stays unset, not null
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("costs-parent"),
                           max_retries=0)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    u = provider_usage(sim, "/chat/completions")
    cached = u["prompt_tokens_details"]["cached_tokens"]
    expected = ((u["prompt_tokens"] - cached) * 1.0 + cached * 0.25
                + u["completion_tokens"] * 2.0) / 1e6
    (row,) = usage_rows(admin, "costs-parent")
    assert row["cost"] == pytest.approx(expected, rel=1e-9)
    assert get_model(admin, "gpt-4o-mini")["priced_like_parent"] == [
        "cache_write_input_tokens", "audio_input_tokens", "reasoning_tokens",
        "audio_output_tokens"]


def test_a_document_read_can_be_written_back_as_it_is(admin):
    doc = get_model(admin, "gpt-4o-mini")
    assert "priced_like_parent" in doc
    assert put_model(admin, doc)["costs"] == doc["costs"]


def test_a_negative_class_price_is_a_400_naming_it(admin):
    doc = get_model(admin, "gpt-4o-mini")
    doc.pop("priced_like_parent")
    resp = admin.put("/v1/organization/models/bad-price", json={
        **doc, "id": "bad-price", "costs": {"cost_reasoning_1Mtokens": -1}})
    assert resp.status_code == 400
    assert "cost_reasoning_1Mtokens" in resp.json()["error"]["param"]


def test_transcription_audio_tokens_are_priced_as_audio(gateway, admin, make_key):
    """gpt-4o-transcribe reports its input as audio tokens (`input_token_details`); whisper-1
    reports seconds."""
    from .test_audio import make_wav
    model = priced_clone(admin, "gpt-4o-transcribe", PRICES)
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("costs-stt"),
                           max_retries=0)
    result = client.audio.transcriptions.create(model=model, file=("a.wav", make_wav(1.2)))
    u = result.usage.model_dump()                   # the provider's object, relayed as it is
    audio = u["input_token_details"]["audio_tokens"]
    assert audio == u["input_tokens"] > 0
    expected = (audio * P["cost_audio_input_1Mtokens"]
                + u["output_tokens"] * P["cost_output_1Mtokens"])
    (row,) = usage_rows(admin, "costs-stt")
    assert row["audio_input_tokens"] == audio
    assert row["cost"] == pytest.approx(expected, rel=1e-9)
