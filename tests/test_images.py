"""POST /v1/images/generations on Azure OpenAI (pass-through) and Vertex Imagen (:predict)."""
from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

IMAGEN = "imagen-3.0-generate-002"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_dall_e_answers_urls_by_default_and_base64_on_request(client):
    by_url = client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1024x1024")
    assert by_url.data[0].url.startswith("http") and by_url.data[0].b64_json is None
    assert png_size(httpx.get(by_url.data[0].url, timeout=10).content) == (1024, 1024)
    by_b64 = client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1792x1024",
                                    response_format="b64_json", quality="hd", style="vivid")
    assert png_size(base64.b64decode(by_b64.data[0].b64_json)) == (1792, 1024)
    assert by_b64.created > 0


def test_gpt_image_on_the_v1_api_version_answers_base64(client):
    result = client.images.generate(model="gpt-image-1", prompt="a fox", n=2, size="1024x1024")
    assert len(result.data) == 2
    assert all(png_size(base64.b64decode(d.b64_json)) == (1024, 1024) for d in result.data)


@pytest.mark.parametrize("size, expected", [(None, (1024, 1024)), ("1024x1024", (1024, 1024)),
                                            ("1792x1024", (1408, 768)),
                                            ("1024x1792", (768, 1408))])
def test_imagen_answers_base64_pngs(client, size, expected):
    extra = {"size": size} if size else {}
    result = client.images.generate(model=IMAGEN, prompt="a red boat", n=2, **extra)
    assert len(result.data) == 2
    for item in result.data:
        assert item.url is None
        assert png_size(base64.b64decode(item.b64_json)) == expected
    explicit = client.images.generate(model=IMAGEN, prompt="a red boat",
                                      response_format="b64_json")
    assert len(explicit.data) == 1


@pytest.mark.parametrize("extra, param", [({"response_format": "url"}, "response_format"),
                                          ({"quality": "hd"}, "quality"),
                                          ({"style": "vivid"}, "style"),
                                          ({"size": "1000x300"}, "size"),
                                          ({"user": "someone"}, "user")])
def test_imagen_refuses_what_it_cannot_do(client, sim, extra, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=IMAGEN, prompt="a red boat", **extra)
    assert info.value.body["param"] == param
    if param == "response_format":
        assert "b64_json" in info.value.message
    assert not [r for r in sim.get("/_sim/requests").json()["requests"] if "imagen" in r["path"]]


@pytest.mark.parametrize("change, param", [
    ({"prompt": None}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"n": 0}, "n"),
    ({"n": 11}, "n"),
    ({"n": "2"}, "n"),
    ({"size": "big"}, "size"),
    ({"quality": 3}, "quality"),
    ({"response_format": "gif"}, "response_format"),
    ({"user": ["x"]}, "user"),
    ({"base_url": "http://elsewhere"}, "base_url"),
])
def test_bad_image_requests_are_400_naming_the_field(gateway, key, change, param):
    body = {k: v for k, v in {"model": "dall-e-3", "prompt": "x", **change}.items()
            if v is not None}
    resp = httpx.post(gateway + "/v1/images/generations", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_imagen_with_credentials_the_provider_refuses_is_502_without_secrets(gateway, admin,
                                                                            simulator, make_key):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    account = {"type": "service_account", "project_id": "sim-project", "private_key_id": "k1",
               "private_key": pem, "client_email": "intruder@sim-project.iam.gserviceaccount.com",
               "client_id": "1", "token_uri": simulator + "/token"}
    doc = {"id": "imagen-bad-creds", "code": IMAGEN, "provider": "Google",
           "model_type": "GoogleVertex", "operations": ["images"],
           "parameters": {"vertex_project": "sim-project", "vertex_location": "us-central1",
                          "vertex_credentials": account, "api_base": simulator},
           "literal_credentials": True}
    assert admin.put("/v1/organization/models/imagen-bad-creds", json=doc).status_code == 200
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("alpha"), max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        c.images.generate(model="imagen-bad-creds", prompt="x")
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_auth_failed"
    answer = info.value.response.text
    assert "PRIVATE KEY" not in answer and pem[40:80] not in answer
    admin.delete("/v1/organization/models/imagen-bad-creds")
