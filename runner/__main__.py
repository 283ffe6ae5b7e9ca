"""`python -m runner`: start the gateway locally on embedded defaults.

SQLite store under the data folder; the example catalog; and, when no provider credentials are
configured, the bundled provider simulator in a child process."""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
from pathlib import Path

from .environment import ROOT, has_provider_credentials, prepare
from .simulator_process import start_simulator, stop_simulators, use_simulator


async def _seed_catalog(path) -> int:
    """Add the example catalog's models that the store does not have yet (never overwrite)."""
    from shared.admin import upsert_model
    from shared.config import Settings
    from shared.gateway import Gateway
    gateway = await Gateway(Settings.from_env()).ready()
    added = 0
    try:
        for doc in json.loads(path.read_text()):
            if await gateway.store.get_model(doc["id"]) is None:
                await upsert_model(gateway, doc)
                added += 1
    finally:
        await gateway.close()
    return added


def server_options() -> dict:
    """uvicorn's fast paths, named rather than left to "auto" so a missing package is seen:
    httptools and uvloop (requirements-dev.txt) where importable. No proxy-headers middleware:
    the runner listens on localhost, nothing sits in front of it."""
    # Idle keep-alive connections are kept 75 s (aiohttp's and nginx's default), not uvicorn's
    # 5 s: a client that reuses a connection just as the server drops it sees a failed request
    # (clients retry only idempotent ones), and short idle pauses are common between calls.
    options: dict = {"proxy_headers": False, "server_header": False, "timeout_keep_alive": 75}
    for name, package in (("http", "httptools"), ("loop", "uvloop")):
        try:
            __import__(package)
            options[name] = package
            if name == "http":       # the runner's own protocol (runner/http_protocol.py)
                from .http_protocol import HttpProtocol
                options[name] = HttpProtocol
        except ImportError:
            logging.getLogger("llmproxy.runner").warning(
                "%s is not installed; the local runner uses a slower default", package)
    return options


def _describe_store() -> str:
    if os.environ.get("LLMPROXY_STORE", "sqlite").lower() == "cosmos":
        return (f"Cosmos DB {os.environ.get('COSMOS_ENDPOINT', '')} "
                f"database {os.environ.get('COSMOS_DATABASE') or 'llmproxy'}")
    return os.environ["LLMPROXY_DATA_DIR"]


def _trace_store(path: str) -> None:
    from shared.config import Settings
    from shared.gateway import Gateway, set_gateway
    from shared.store import create_store
    from shared.store.counting import counting
    settings = Settings.from_env()
    set_gateway(Gateway(settings, store=counting(create_store(settings), trace=path)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run LLM Proxy locally.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7071")))
    parser.add_argument("--catalog", help="catalog JSON to seed (default: the example catalog)")
    parser.add_argument("--store-trace", metavar="PATH",
                        help="append one JSON line per store and Cosmos DB operation to PATH "
                             "(measuring store work per request: bench/store_ops.py)")
    args = parser.parse_args()

    secrets_file = prepare()
    if os.environ.get("LLMPROXY_STORE", "sqlite").lower() == "cosmos":
        # Locally (a test server, a developer's own account) create what is missing; in Azure
        # the setting stays off and the deployment provisions the containers.
        os.environ.setdefault("COSMOS_CREATE_IF_MISSING", "true")
    from .webpubsub import configure_local
    local_pubsub = configure_local(args.host, args.port)
    logging.basicConfig(level=os.environ.get("LLMPROXY_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get("LLMPROXY_SIMULATOR_URL"):
        use_simulator(os.environ["LLMPROXY_SIMULATOR_URL"])
        mode, catalog = "simulator", ROOT / "catalog" / "simulator.json"
    elif has_provider_credentials():
        mode, catalog = "providers", ROOT / "catalog" / "example.json"
    else:
        use_simulator(start_simulator())
        mode, catalog = "simulator", ROOT / "catalog" / "simulator.json"
    if args.catalog:
        catalog = Path(args.catalog)
    added = asyncio.run(_seed_catalog(catalog)) if str(catalog) != "none" else 0

    import uvicorn
    import function_app
    from runner.asgi import build_asgi
    from shared.gateway import get_gateway
    if args.store_trace:
        _trace_store(args.store_trace)

    async def shutdown() -> None:
        try:
            await (await get_gateway()).close()
        finally:
            stop_simulators()

    async def store():
        return (await get_gateway()).store

    url = f"http://{args.host}:{args.port}"
    print(f"LLM Proxy listening on {url}  (OpenAI base_url: {url}/v1)", flush=True)
    if mode == "simulator":
        print(f"No provider credentials configured: responses come from the local provider "
              f"simulator at {os.environ['LLMPROXY_SIMULATOR_URL']}.", flush=True)
    print(f"Catalog: {catalog} ({added} model(s) added). Store: {_describe_store()}. "
          f"Admin key: {secrets_file}.", flush=True)
    hub_path = Path(os.environ["LLMPROXY_DATA_DIR"]) / "llmproxy.sqlite3"
    if local_pubsub:
        print(f"Web PubSub: local, at {local_pubsub} (clients: ws://{args.host}:{args.port}"
              f"/client/hubs/realtime).", flush=True)
    app = build_asgi(function_app.app, hub_path, on_shutdown=shutdown, store_getter=store,
                     webpubsub=bool(local_pubsub))
    # Everything loaded so far (modules, the catalog, pydantic and FastAPI internals) lives as
    # long as the process. Frozen, the collector's full passes stop walking it: under load
    # those passes took ~30 ms each, every few seconds, straight into the latency tail.
    gc.collect()
    gc.freeze()
    # Young collections every 10,000 allocations instead of 700: each one walks every young
    # object of the requests in flight, and at 32 concurrent requests that was ~5% of the
    # gateway's instructions (callgrind). Garbage in cycles waits a little longer; memory
    # under load did not move.
    gc.set_threshold(10_000, 10, 10)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                **server_options())


if __name__ == "__main__":
    main()
