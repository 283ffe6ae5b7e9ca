"""The files and batches tests' own gateway: on SQLite with files in the data folder, and on
the Cosmos DB test server with files in Azurite (so the API runs end to end on both storage
backends), with a small file limit and the jobs tests' quick retry settings."""
from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import ADMIN_KEY, ISSUED_KEYS, blob_env, cosmos_env
from .jobs_support import GatewayProcess

MAX_FILE = 512 * 1024


@pytest.fixture(scope="module")
def batch_gateway(simulator, tmp_path_factory, logs_dir, store_kind, request):
    # A limit's 429 asks for a wait of up to a minute; the tests' lines give up after 0.1 s.
    extra = {"LLMPROXY_MAX_FILE_BYTES": str(MAX_FILE),
             "LLMPROXY_JOB_MAX_RETRY_AFTER_SECONDS": "0.1",
             **getattr(request.module, "GATEWAY_SETTINGS", {})}    # a module's own additions
    if store_kind == "cosmos":
        extra.update(cosmos_env(request.getfixturevalue("cosmos_server"), "batch-tests"))
        extra.update(blob_env(request.getfixturevalue("azurite")))
    process = GatewayProcess(simulator, tmp_path_factory.mktemp("batch-data"),
                             logs_dir / f"batch-gateway-{store_kind}-{request.module.__name__}.log",
                             **extra).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def openai_for(batch_gateway):
    """An openai SDK client for a project (a new key each call)."""
    def make(project: str) -> openai.OpenAI:
        with httpx.Client(base_url=batch_gateway.url, timeout=30,
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            resp = admin.post(f"/v1/organization/projects/{project}/api_keys",
                              json={"name": "batch"})
        assert resp.status_code == 201, resp.text
        ISSUED_KEYS.append(resp.json()["value"])
        return openai.OpenAI(base_url=batch_gateway.url + "/v1", api_key=resp.json()["value"],
                             max_retries=0, timeout=60)
    return make


def _with_store(process: GatewayProcess, use):
    """Run `use(store)` on the gateway's store, opened with the gateway's own settings."""
    import asyncio

    from shared.config import Settings
    from shared.store import create_store

    async def run():
        store = create_store(Settings.from_env(process.env))
        await store.open()
        try:
            return await use(store)
        finally:
            await store.close()
    return asyncio.run(run())


def usage_rows(process: GatewayProcess, project: str) -> list:
    return _with_store(process, lambda store: store.query_usage(project, limit=10_000))


def put_limits(process: GatewayProcess, project: str, doc: dict) -> None:
    """Set a project's limits in the store, as the admin API would."""
    from shared.limits import validate_limits
    validate_limits(doc)
    _with_store(process, lambda store: store.put_limits(project, doc))


def with_objects(process: GatewayProcess, use):
    """Run `use(storage)` on the gateway's object storage (its folder, or Azurite)."""
    import asyncio

    from shared.config import Settings
    from shared.files.storage import create_storage

    async def run():
        storage = create_storage(Settings.from_env(process.env))
        try:
            return await use(storage)
        finally:
            await storage.close()
    return asyncio.run(run())
