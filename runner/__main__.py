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
import socket
import sys
from pathlib import Path

from .environment import ROOT, has_provider_credentials, prepare
from .simulator_process import start_simulator, stop_simulators, use_simulator


async def _seed_catalog(path: Path, other: Path | None) -> str:
    """Add the catalog's models that the store does not have yet. Models that are exactly as
    the other example catalog seeded them (the simulator's, after switching to real providers,
    or the reverse) are replaced, or removed when this catalog has no such model: left, every
    call to them would fail. A model someone created or edited is never touched."""
    from shared.admin import delete_model, upsert_model
    from shared.catalog import validate_document
    from shared.config import Settings
    from shared.errors import GatewayError
    from shared.gateway import Gateway
    docs = json.loads(path.read_text())
    seeded_elsewhere = {}
    if other is not None:
        seeded_elsewhere = {d["id"]: validate_document(d).to_json()
                            for d in json.loads(other.read_text())}
    gateway = await Gateway(Settings.from_env()).ready()
    added, replaced, removed = 0, 0, 0
    try:
        async def untouched(model_id: str) -> bool:
            current = await gateway.store.get_model(model_id)
            return current is not None and current.to_json() == seeded_elsewhere.get(model_id)
        for doc in docs:
            if await gateway.store.get_model(doc["id"]) is None:
                await upsert_model(gateway, doc)
                added += 1
            elif await untouched(doc["id"]):
                await upsert_model(gateway, doc)
                replaced += 1
        for model_id in set(seeded_elsewhere) - {d["id"] for d in docs}:
            if await untouched(model_id):
                try:
                    await delete_model(gateway, model_id)
                    removed += 1
                except GatewayError:          # a pool someone made still uses it: leave both
                    pass
    finally:
        await gateway.close()
    summary = f"{added} model(s) added"
    if replaced or removed:
        summary += (f", {replaced} replaced and {removed} removed that {other.name} had seeded "
                    f"(the provider mode changed)")
    return summary


def server_options() -> dict:
    """uvicorn's fast paths, named rather than left to "auto" so a missing package is seen:
    httptools and uvloop (requirements-dev.txt) where importable. No proxy-headers middleware:
    the runner listens on localhost, nothing sits in front of it."""
    # Idle keep-alive connections are kept 75 s (aiohttp's and nginx's default), not uvicorn's
    # 5 s: a client that reuses a connection just as the server drops it sees a failed request
    # (clients retry only idempotent ones), and short idle pauses are common between calls.
    # At most 1000 open connections (runner/http_protocol.py answers one more with a 503): each
    # costs a protocol object and buffers, and a client opening them without end would
    # otherwise take the process's memory and file descriptors.
    options: dict = {"proxy_headers": False, "server_header": False, "timeout_keep_alive": 75,
                     "limit_concurrency": 1000}
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
    import shared.request_context        # every log record gets the request id it ran under
    logging.basicConfig(level=os.environ.get("LLMPROXY_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
    if os.environ.get("LLMPROXY_SIMULATOR_URL"):
        use_simulator(os.environ["LLMPROXY_SIMULATOR_URL"])
        mode, catalog = "simulator", ROOT / "catalog" / "simulator.json"
    elif has_provider_credentials():
        mode, catalog = "providers", ROOT / "catalog" / "example.json"
    else:
        use_simulator(start_simulator())
        mode, catalog = "simulator", ROOT / "catalog" / "simulator.json"
    other = ROOT / "catalog" / ("example.json" if mode == "simulator" else "simulator.json")
    if args.catalog:
        catalog, other = Path(args.catalog), None
    seeded = asyncio.run(_seed_catalog(catalog, other)) if str(catalog) != "none" else "none"

    import uvicorn
    import function_app
    from runner.asgi import build_asgi
    from runner.host_rules import HostRuleError
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

    hub_path = Path(os.environ["LLMPROXY_DATA_DIR"]) / "llmproxy.sqlite3"
    try:
        app = build_asgi(function_app.app, hub_path, on_shutdown=shutdown, store_getter=store,
                         webpubsub=bool(local_pubsub))
    except HostRuleError as err:
        # What the Functions host would drop at startup is refused here too (host_rules.py).
        stop_simulators()
        sys.exit(f"error: {err}")
    sock = _bind(args.host, args.port)
    url = f"http://{args.host}:{args.port}"
    print(f"LLM Proxy listening on {url}  (OpenAI base_url: {url}/v1)", flush=True)
    if mode == "simulator":
        print(f"No provider credentials configured: responses come from the local provider "
              f"simulator at {os.environ['LLMPROXY_SIMULATOR_URL']}.", flush=True)
    print(f"Catalog: {catalog} ({seeded}). Store: {_describe_store()}. "
          f"Admin key: {secrets_file}.", flush=True)
    print(f"Console: {url}/console/ (sign in with the admin key).", flush=True)
    if local_pubsub:
        print(f"Web PubSub: local, at {local_pubsub} (clients: ws://{args.host}:{args.port}"
              f"/client/hubs/realtime; the openai SDK's websocket_base_url: "
              f"ws://{args.host}:{args.port}/client/hubs).", flush=True)
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
    config = uvicorn.Config(app, log_level="warning", access_log=False, **server_options())
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the banner says "listening"; a port in use is one
    clear line and exit code 1, not a banner followed by a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        stop_simulators()
        sys.exit(f"error: cannot listen on {host}:{port}: {err.strerror}. Another process "
                 f"(another `make run`?) has the port; stop it or choose another: "
                 f"make run PORT={port + 1}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock

if __name__ == "__main__":
    main()
