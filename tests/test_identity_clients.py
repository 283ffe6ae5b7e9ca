"""Azure SDK clients take the managed identity when no key is configured (the deployed shape:
infra.bicep sets identity-based settings only), and a key when one is (local runs, tests)."""
from __future__ import annotations

import pytest

from shared import azure_auth
from shared.config import Settings
from shared.errors import ServiceUnavailable
from shared.realtime.pubsub import HUB, PubSub

ENDPOINT = "https://llmproxy-wps.webpubsub.azure.com"


async def test_web_pubsub_without_a_connection_string_uses_the_managed_identity():
    from azure.identity.aio import DefaultAzureCredential
    pubsub = PubSub(Settings.from_env({"WebPubSubConnectionString__serviceUri": ENDPOINT}))
    assert pubsub.configured
    client = pubsub._client()
    try:
        assert client._config.endpoint == ENDPOINT and client._config.hub == HUB
        assert isinstance(client._config.credential, DefaultAzureCredential)
        assert client._config.credential is azure_auth.async_credential()   # one per loop
    finally:
        await pubsub.close()
        await azure_auth.close_all()


async def test_web_pubsub_with_a_connection_string_signs_with_its_key():
    from azure.core.credentials import AzureKeyCredential
    conn = f"Endpoint={ENDPOINT};AccessKey=a2V5LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk=;Version=1.0;"
    pubsub = PubSub(Settings.from_env({"WebPubSubConnectionString": conn,
                                       "WebPubSubConnectionString__serviceUri": ENDPOINT}))
    client = pubsub._client()
    try:
        assert isinstance(client._config.credential, AzureKeyCredential)
    finally:
        await pubsub.close()


async def test_web_pubsub_with_neither_is_a_clear_503():
    pubsub = PubSub(Settings.from_env({}))
    assert not pubsub.configured
    with pytest.raises(ServiceUnavailable) as info:
        await pubsub.client_url("s1")
    assert info.value.code == "realtime_not_configured"
    assert "WebPubSubConnectionString__serviceUri" in info.value.message


def test_cosmos_without_a_key_uses_the_managed_identity():
    from azure.identity.aio import DefaultAzureCredential
    from shared.store.cosmos_support import make_client
    client, credential = make_client(Settings.from_env({
        "COSMOS_ENDPOINT": "https://llmproxy-cosmos.documents.azure.com:443/"}))
    assert isinstance(credential, DefaultAzureCredential)
