"""LLMPROXY_RESPONSES_RETENTION_DAYS over a real socket: a stored response can be read and
continued until its retention has passed, then it is gone (404) like one never stored."""
from __future__ import annotations

import time

import httpx
import openai
import pytest

from .conftest import ADMIN_KEY, ISSUED_KEYS, gateway_env, running_gateway

RETENTION_SECONDS = 3


@pytest.fixture(scope="module")
def short_lived(simulator, tmp_path_factory, logs_dir):
    env = gateway_env(simulator, tmp_path_factory.mktemp("retention"),
                      LLMPROXY_RESPONSES_RETENTION_DAYS=str(RETENTION_SECONDS / 86400))
    with running_gateway(env, logs_dir / "gateway-retention.log") as url:
        # This gateway's own admin API (the shared `make_key` fixture serves the other one).
        resp = httpx.post(f"{url}/v1/organization/projects/retention/api_keys",
                          json={"name": "t"}, timeout=30,
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert resp.status_code == 201, resp.text
        ISSUED_KEYS.append(resp.json()["value"])
        yield openai.OpenAI(base_url=url + "/v1", api_key=resp.json()["value"], max_retries=0)


def test_a_response_expires_after_the_retention(short_lived):
    resp = short_lived.responses.create(model="gpt-4o-mini", input="short lived")
    assert short_lived.responses.retrieve(resp.id).id == resp.id
    follow = short_lived.responses.create(model="gpt-4o-mini", input="still here?",
                                          previous_response_id=resp.id)
    time.sleep(RETENTION_SECONDS + 0.5)
    for gone in (lambda: short_lived.responses.retrieve(resp.id),
                 lambda: short_lived.responses.input_items.list(follow.id),
                 lambda: short_lived.responses.create(model="gpt-4o-mini", input="x",
                                                      previous_response_id=resp.id)):
        with pytest.raises(openai.NotFoundError):
            gone()
