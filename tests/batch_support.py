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
    extra = {"LLMPROXY_MAX_FILE_BYTES": str(MAX_FILE)}
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
            resp = admin.post(f"/admin/projects/{project}/keys", json={"name": "batch"})
        assert resp.status_code == 201, resp.text
        ISSUED_KEYS.append(resp.json()["key"])
        return openai.OpenAI(base_url=batch_gateway.url + "/v1", api_key=resp.json()["key"],
                             max_retries=0, timeout=60)
    return make


def usage_rows(process: GatewayProcess, project: str) -> list:
    """The project's usage rows, read from the gateway's store with its own settings."""
    import asyncio

    from shared.config import Settings
    from shared.store import create_store

    async def read() -> list:
        store = create_store(Settings.from_env(process.env))
        await store.open()
        try:
            return await store.query_usage(project, limit=10_000)
        finally:
            await store.close()
    return asyncio.run(read())
