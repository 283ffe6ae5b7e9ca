"""Cosmos-specific setup and helpers: how the client is configured, how containers are
provisioned, and the ETag/expiry helpers other features reuse on their own containers.
(What the store does is in the contract suite, `test_store_contract.py`.)"""
from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.cosmos import PartitionKey
from azure.identity.aio import DefaultAzureCredential

from shared.config import Settings
from shared.store import StoreConflict, StoreUnavailable, create_store
from shared.store.cosmos import CosmosStore
from shared.store.cosmos_support import (CONTAINERS, cosmos_read_modify_write, make_client,
                                         read_item_or_none, replace_if_unchanged, with_expiry)

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
            if spec.index is not None:      # (the test server keeps the policy it is given)
                policy = props["indexingPolicy"]
                assert [p["path"] for p in policy["includedPaths"]] == list(spec.index)
                assert policy["excludedPaths"] == [{"path": "/*"}]
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


@pytest.fixture
async def scratch(cosmos_server):
    """A container of its own, as another feature (jobs, sessions) would add one."""
    store = CosmosStore(Settings.from_env(cosmos_env(cosmos_server, f"rmw-{uuid.uuid4().hex}")))
    await store.open()
    database = store._database
    container = await database.create_container_if_not_exists(
        "jobs", PartitionKey(path="/project"), default_ttl=-1)
    yield container
    await store.close()


async def test_the_etag_helper_loses_no_concurrent_update(scratch):
    await scratch.create_item({"id": "job1", "project": "alpha", "log": []})

    def append(entry):
        return lambda doc: {**doc, "log": doc["log"] + [entry]}

    entries = ["a", "b", "c", "d"]
    await asyncio.gather(*(cosmos_read_modify_write(scratch, "job1", "alpha", append(e))
                           for e in entries))
    doc = await read_item_or_none(scratch, "job1", "alpha")
    assert sorted(doc["log"]) == entries


async def test_the_etag_helper_skips_unneeded_writes_and_missing_documents(scratch):
    await scratch.create_item({"id": "job1", "project": "alpha", "state": "queued"})
    etag = (await scratch.read_item("job1", partition_key="alpha"))["_etag"]
    unchanged = await cosmos_read_modify_write(scratch, "job1", "alpha", lambda doc: None)
    assert unchanged["state"] == "queued"
    assert (await scratch.read_item("job1", partition_key="alpha"))["_etag"] == etag  # no write
    assert await cosmos_read_modify_write(
        scratch, "nope", "alpha", lambda doc: {**doc, "state": "running"}) is None


async def test_a_stale_etag_never_overwrites_another_writer(scratch):
    await scratch.create_item({"id": "job1", "project": "alpha", "state": "queued"})
    stale = (await scratch.read_item("job1", partition_key="alpha"))["_etag"]
    await scratch.upsert_item({"id": "job1", "project": "alpha", "state": "cancelled"})
    with pytest.raises(StoreConflict):
        await replace_if_unchanged(scratch, "job1", {"id": "job1", "project": "alpha",
                                                     "state": "running"}, stale)
    assert (await read_item_or_none(scratch, "job1", "alpha"))["state"] == "cancelled"


async def test_expired_documents_are_not_returned_by_point_reads(scratch):
    await scratch.create_item(with_expiry({"id": "s1", "project": "alpha"}, 60, now=1000.0))
    assert await read_item_or_none(scratch, "s1", "alpha", now=1059.0) is not None
    assert await read_item_or_none(scratch, "s1", "alpha", now=1060.0) is None
    doc = await read_item_or_none(scratch, "s1", "alpha")
    assert doc["ttl"] == 60                                     # Cosmos deletes it on its own
