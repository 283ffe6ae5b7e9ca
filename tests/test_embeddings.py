"""POST /v1/embeddings on Azure OpenAI (pass-through) and Vertex (through LiteLLM)."""
from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

AZURE, GEMINI, TEXT_005 = "text-embedding-3-small", "gemini-embedding-001", "text-embedding-005"
TEXTS = ["hello world", "a second, longer text to embed"]


@pytest.mark.parametrize("model", [AZURE, GEMINI, TEXT_005])
def test_base64_embeddings_decode_to_the_float_embeddings(client, model):
    raw = client.embeddings.with_raw_response.create(model=model, input=TEXTS)
    wire = raw.http_response.json()
    assert isinstance(wire["data"][0]["embedding"], str)      # the SDK asked for base64
    as_base64 = raw.parse()
    as_float = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    assert as_float.object == "list" and len(as_float.data) == 2
    for b64, flt in zip(as_base64.data, as_float.data):
        assert b64.index == flt.index
        assert len(b64.embedding) == len(flt.embedding) > 0
        assert b64.embedding == pytest.approx(flt.embedding, abs=1e-6)
    assert as_float.data[0].embedding != as_float.data[1].embedding
    assert as_float.usage.prompt_tokens > 0
    assert as_float.usage.total_tokens == as_float.usage.prompt_tokens


@pytest.mark.parametrize("model", [AZURE, GEMINI, TEXT_005])
def test_dimensions_are_honoured(client, model):
    result = client.embeddings.create(model=model, input="shorter please", dimensions=16,
                                      encoding_format="float")
    assert len(result.data[0].embedding) == 16
    raw = client.embeddings.with_raw_response.create(model=model, input="shorter please",
                                                     dimensions=16)
    packed = base64.b64decode(raw.http_response.json()["data"][0]["embedding"])
    assert len(packed) == 16 * 4                                # little-endian float32
    assert list(struct.unpack("<16f", packed)) == pytest.approx(result.data[0].embedding,
                                                                abs=1e-6)


@pytest.mark.parametrize("value, count", [("one string", 1), (["a", "b", "c"], 3),
                                          ([1, 2, 3], 1), ([[1, 2], [3, 4]], 2)])
def test_every_input_shape_on_azure(client, value, count):
    result = client.embeddings.create(model=AZURE, input=value, encoding_format="float",
                                      user="end-user-7")
    assert [d.index for d in result.data] == list(range(count))


def test_vertex_refuses_token_ids_and_user_instead_of_dropping_them(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=GEMINI, input=[1, 2, 3])
    assert info.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=GEMINI, input="x", user="someone")
    assert info.value.body["param"] == "user"


@pytest.mark.parametrize("change, param", [
    ({"input": None}, "input"),
    ({"input": ""}, "input"),
    ({"input": []}, "input"),
    ({"input": [""]}, "input[0]"),
    ({"input": ["ok", 5]}, "input[1]"),
    ({"input": ["ok", [1, 2]]}, "input"),
    ({"input": [-1]}, "input[0]"),
    ({"input": {"text": "x"}}, "input"),
    ({"encoding_format": "hex"}, "encoding_format"),
    ({"dimensions": 0}, "dimensions"),
    ({"dimensions": "8"}, "dimensions"),
    ({"user": 5}, "user"),
    ({"model": None}, "model"),
    ({"api_base": "http://elsewhere"}, "api_base"),
])
def test_bad_embedding_requests_are_400_naming_the_field(gateway, key, change, param):
    body = {"model": AZURE, "input": "text", **change}
    body = {k: v for k, v in body.items() if v is not None}
    resp = httpx.post(gateway + "/v1/embeddings", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
