"""`python -m simulator --host 127.0.0.1 --port PORT [--api-key KEY]`"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from .app import DEFAULT_API_KEY, create_app


async def serve(host: str, port: int, api_key: str) -> None:
    runner = web.AppRunner(create_app(api_key), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]  # the real port, also when asked for port 0
    print(f"simulator listening on http://{host}:{bound_port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="Azure OpenAI / Vertex AI simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="key Azure/OpenAI-style calls must carry")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.api_key))


if __name__ == "__main__":
    main()
