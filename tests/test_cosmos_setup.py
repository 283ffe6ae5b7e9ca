"""Cosmos-specific setup: how the client is configured and how containers are provisioned.
(What the store does is in the contract suite, `test_store_contract.py`.)"""
from __future__ import annotations

import uuid

import pytest
from azure.identity.aio import DefaultAzureCredential

from shared.config import Settings
from shared.store import StoreUnavailable, create_store
from shared.store.cosmos import CosmosStore
from shared.store.cosmos_support import CONTAINERS, make_client

from .conftest import COSMOS_KEY, cosmos_env


def settings(**values: str) -> Settings:
    return Settings.from_env({"LLMPROXY_STORE": "cosmos", **values})


def test_the_store_setting_selects_cosmos():
    store = create_store(settings(COSMOS_ENDPOINT="https://acct.documents.azure.com:443/",
                                  LLMPROXY_USAGE_RETENTION_DAYS="30"))
    assert isinstance(store, CosmosStore)
    assert store._usage_ttl == 30 * 86400


def test_an_endpoint_is_required():
    with pytest.raises(ValueError, match="COSMOS_ENDPOINT"):
        make_client(settings())


def test_tls_verification_can_only_be_turned_off_for_a_local_endpoint():
    with pytest.raises(ValueError, match="COSMOS_VERIFY_TLS"):
        make_client(settings(COSMOS_ENDPOINT="https://acct.documents.azure.com:443/",
                             COSMOS_KEY=COSMOS_KEY, COSMOS_VERIFY_TLS="false"))


async def test_without_a_key_the_client_uses_default_azure_credential():
    client, credential = make_client(settings(COSMOS_ENDPOINT="https://acct.documents.azure.com/"))
    assert isinstance(credential, DefaultAzureCredential)
    await client.close()
    await credential.close()


async def test_with_a_key_no_credential_object_is_made():
    client, credential = make_client(settings(COSMOS_ENDPOINT="https://127.0.0.1:1",
                                              COSMOS_KEY=COSMOS_KEY, COSMOS_VERIFY_TLS="false"))
    assert credential is None
    await client.close()


def test_the_cosmos_key_is_a_secret_to_redact():
    assert COSMOS_KEY in settings(COSMOS_KEY=COSMOS_KEY).secret_values()


def test_boolean_settings_reject_nonsense():
    with pytest.raises(ValueError, match="COSMOS_CREATE_IF_MISSING"):
        settings(COSMOS_CREATE_IF_MISSING="maybe")


async def test_startup_creates_the_database_and_every_container_when_configured(cosmos_server):
    store = CosmosStore(Settings.from_env(cosmos_env(cosmos_server, f"create-{uuid.uuid4().hex}")))
    await store.open()
    try:
        for spec in CONTAINERS:
            props = await store.container(spec.name).read()
            assert props["partitionKey"]["paths"] == [spec.partition_key]
            assert props.get("defaultTtl") == (-1 if spec.expiring else None)
        await store.ping()
    finally:
        await store.close()


async def test_without_create_a_missing_database_is_an_error_not_an_empty_store(cosmos_server):
    env = {**cosmos_env(cosmos_server, f"missing-{uuid.uuid4().hex}"),
           "COSMOS_CREATE_IF_MISSING": "false"}
    store = CosmosStore(Settings.from_env(env))
    await store.open()                  # no I/O yet: the first use reports the problem
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.list_models()
        with pytest.raises(StoreUnavailable):
            await store.query_usage("alpha")
    finally:
        await store.close()
