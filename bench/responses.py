"""`python -m bench.responses SPEC_JSON`: what the Responses API adds over chat completions, on
the running gateway (the figures issue 17 sets targets for). Prints one JSON object.

Three pairs, each measured as alternating blocks of sequential requests in one process (so
both sides of a pair meet the machine's other load alike; each side keeps its best block):
  native      POST /v1/chat/completions vs POST /v1/responses on the same Azure v1 model
              whose catalog entry lists `Responses` (both relayed byte for byte)
  translated  chat vs Responses on a chat-only model (the request and answer translated)
  stream      a chat stream's first chunk vs a translated Responses stream's first event
"""
from __future__ import annotations

from typing import Any

import aiohttp

from .load import main, prepare, sequential, stream

NATIVE_MODEL, CHAT_MODEL = "gpt-4.1", "gpt-4o-mini"
PROMPT = "Hello from the benchmark"
STREAM_PROMPT = "Stream a long answer please [sim:words=200]"


def _chat(model: str, prompt: str, streamed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    return {**body, "stream": True} if streamed else body


def _responses(model: str, prompt: str, streamed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": prompt, "store": False}
    return {**body, "stream": True} if streamed else body


def _spec(base: str, key: str, path: str, body: dict[str, Any], spec: dict[str, Any]) -> dict:
    return prepare({
        "url": base + path, "body": body, "headers": {"Authorization": f"Bearer {key}"},
        "warmup": spec["warmup"], "requests": spec["requests"], "seconds": spec["seconds"],
        # A Responses stream ends with its `response.completed` event, not `[DONE]`.
        "done_marker": "response.completed" if path == "/v1/responses" else "data: [DONE]"})


async def _pair(session: aiohttp.ClientSession, run: Any, left: dict, right: dict,
                blocks: int, key: str) -> tuple[dict, dict]:
    best: list[dict | None] = [None, None]
    for _ in range(blocks):
        for side, spec in enumerate((left, right)):
            result = await run(session, spec)
            if result.get(key) is not None and (best[side] is None
                                                 or result[key] < best[side][key]):
                best[side] = result
    return best[0] or {}, best[1] or {}


def _added(a: dict, b: dict, key: str) -> float | None:
    return None if a.get(key) is None or b.get(key) is None else b[key] - a[key]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base, key = spec["base"], spec["key"]
    blocks = spec.get("blocks", 3)
    # Three pairs of two sides, `blocks` blocks each: the phase fits in about spec["seconds"].
    window = spec["seconds"] / (blocks * 6)
    each = {"warmup": spec["warmup"], "requests": spec["requests"] // blocks, "seconds": window}
    streams = {"warmup": 3, "requests": spec["stream_requests"] // blocks, "seconds": window}
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        pairs = {
            "native": (sequential, "p50_ms",
                       _spec(base, key, "/v1/chat/completions", _chat(NATIVE_MODEL, PROMPT), each),
                       _spec(base, key, "/v1/responses", _responses(NATIVE_MODEL, PROMPT), each)),
            "translated": (sequential, "p50_ms",
                           _spec(base, key, "/v1/chat/completions", _chat(CHAT_MODEL, PROMPT),
                                 each),
                           _spec(base, key, "/v1/responses", _responses(CHAT_MODEL, PROMPT),
                                 each)),
            "stream": (stream, "ttfc_p50_ms",
                       _spec(base, key, "/v1/chat/completions",
                             _chat(CHAT_MODEL, STREAM_PROMPT, True), streams),
                       _spec(base, key, "/v1/responses",
                             _responses(CHAT_MODEL, STREAM_PROMPT, True), streams)),
        }
        for name, (mode, figure, left, right) in pairs.items():
            chat, responses = await _pair(session, mode, left, right, blocks, figure)
            out[name] = {"chat": chat, "responses": responses,
                         "added_p50_ms": _added(chat, responses, figure)}
    out["translated_added_p50_ms"] = out["translated"]["added_p50_ms"]
    out["errors"] = sum(side.get("errors", 0) for pair in ("native", "translated", "stream")
                        for side in (out[pair]["chat"], out[pair]["responses"]))
    return out


if __name__ == "__main__":
    main(run)
