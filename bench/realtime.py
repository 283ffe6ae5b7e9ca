"""Realtime turns: `python -m bench.realtime SPEC_JSON`, in its own process like `bench.load`.
Prints one JSON object on stdout.

Spec: {"base" (the gateway), "key", "simulator", "simulator_key", "models": {"chat",
       "transcription", "speech"}, "turns", "warmup" (turns), "audio_ms", "seconds"}

One session (`turn_detection: null`) over a real WebSocket to the runner's local Web PubSub.
Each turn: append `audio_ms` of a pcm16 tone, then time from sending `input_audio_buffer.commit`
to the first `response.audio.delta`. The protocol has the client send `response.create` once the
transcript is in (sent at once, before it, the response could start without the user's words),
so that round trip is part of the gateway's figure.

The providers' own time for the same turn replays the very requests the gateway made (read from
the simulator's request log), straight to the simulator, in the order the pipeline needs them:
the transcription (the whole answer), the chat stream up to the point where the gateway has its
first sentence (`split_sentences`, or the end of the stream), and that sentence's speech up to
the bytes of the gateway's first audio delta (`AUDIO_DELTA_MS` of pcm, or the end).
"""
from __future__ import annotations

import array
import asyncio
import base64
import io
import json
import math
import sys
import time
import wave
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from shared.audio_files import wav_from_pcm
from shared.realtime.codecs import RATE
# The gateway's own sentence splitting and delta size, so the replay stops where it would.
from shared.realtime.response_run import AUDIO_DELTA_MS, split_sentences

from .load import percentile

WAIT = 30.0                        # a guard against a hung gateway, not a measurement
FIRST_AUDIO_BYTES = RATE * 2 * AUDIO_DELTA_MS // 1000      # what the gateway's first delta holds


def tone(ms: int, hz: float = 440.0) -> bytes:
    """pcm16 24 kHz mono: a sine at a quarter of full scale (the simulator only counts bytes)."""
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * hz * i / RATE))
                                for i in range(RATE * ms // 1000)))
    return samples.tobytes()                     # little-endian on every machine this runs on


class Socket:
    def __init__(self, ws: Any):
        self.ws = ws

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def until(self, kind: str) -> dict[str, Any]:
        """The next event of `kind`; an `error` event on the way fails the turn."""
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            if event["type"] == "error":
                raise RuntimeError(f"error event: {json.dumps(event['error'])[:300]}")
            if event["type"] == kind:
                return event


async def gateway_turn(sock: Socket, pcm: bytes) -> dict[str, float]:
    step = RATE * 2 // 10                                     # 100 ms per append, as a mic
    for i in range(0, len(pcm), step):
        await sock.send({"type": "input_audio_buffer.append",
                         "audio": base64.b64encode(pcm[i:i + step]).decode()})
    # A barrier: events of a connection are handled in arrival order, so once this answers,
    # every append is in the buffer and the commit below is timed alone.
    await sock.send({"type": "session.update", "session": {}})
    await sock.until("session.updated")
    began = time.perf_counter()
    await sock.send({"type": "input_audio_buffer.commit"})
    await sock.until("conversation.item.input_audio_transcription.completed")
    heard = time.perf_counter()
    await sock.send({"type": "response.create"})
    await sock.until("response.audio.delta")
    first_audio = time.perf_counter()
    done = await sock.until("response.done")
    if done["response"]["status"] != "completed":
        raise RuntimeError(f"response ended {done['response']['status']}")
    return {"first_audio_ms": (first_audio - began) * 1000,
            "transcription_ms": (heard - began) * 1000,
            "response_ms": (first_audio - heard) * 1000}


def _calls(log: list[dict]) -> dict[str, dict]:
    """The turn's provider requests, by what they were for (the first speech call only)."""
    found: dict[str, dict] = {}
    for entry in log:
        for kind, suffix in (("transcription", "/audio/transcriptions"),
                             ("chat", "/chat/completions"), ("speech", "/audio/speech")):
            if entry["path"].endswith(suffix):
                found.setdefault(kind, entry)
    missing = {"transcription", "chat", "speech"} - set(found)
    if missing:
        raise RuntimeError(f"the simulator saw no {sorted(missing)} call for the turn")
    return found


def _sse_text(buffer: bytes) -> tuple[str, bytes]:
    """Text deltas in the complete SSE events of `buffer`, and what is left over."""
    text = ""
    while b"\n\n" in buffer:
        block, buffer = buffer.split(b"\n\n", 1)
        for line in block.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                for choice in json.loads(line[5:]).get("choices") or []:
                    text += (choice.get("delta") or {}).get("content") or ""
    return text, buffer


async def provider_turn(http: aiohttp.ClientSession, spec: dict, calls: dict[str, dict],
                        audio: bytes) -> dict[str, float]:
    headers = {"api-key": spec["simulator_key"]}

    def url(kind: str) -> tuple[str, dict]:
        return spec["simulator"] + calls[kind]["path"], calls[kind]["query"]

    began = time.perf_counter()
    form = aiohttp.FormData()
    form.add_field("file", audio, filename="audio.wav", content_type="audio/wav")
    form.add_field("model", spec["models"]["transcription"])
    form.add_field("response_format", "json")
    address, query = url("transcription")
    async with http.post(address, params=query, data=form, headers=headers) as resp:
        await resp.read()
    heard = time.perf_counter()
    address, query = url("chat")
    async with http.post(address, params=query, json=calls["chat"]["body"],
                         headers=headers) as resp:
        buffer, pending = b"", ""
        async for data in resp.content.iter_any():
            text, buffer = _sse_text(buffer + data)
            sentences, pending = split_sentences(pending + text)
            if sentences:
                break                  # the gateway hands this sentence to speech now
    sentence = time.perf_counter()
    address, query = url("speech")
    async with http.post(address, params=query, json=calls["speech"]["body"],
                         headers=headers) as resp:
        got = 0
        async for data in resp.content.iter_any():
            got += len(data)
            if got >= FIRST_AUDIO_BYTES:
                break
    first_audio = time.perf_counter()
    return {"first_audio_ms": (first_audio - began) * 1000,
            "transcription_ms": (heard - began) * 1000,
            "chat_ms": (sentence - heard) * 1000, "speech_ms": (first_audio - sentence) * 1000}


async def _session(http: aiohttp.ClientSession, spec: dict) -> dict[str, Any]:
    body = {"model": spec["models"]["chat"], "speech_model": spec["models"]["speech"],
            "input_audio_transcription": {"model": spec["models"]["transcription"]},
            "turn_detection": None, "modalities": ["text", "audio"]}
    async with http.post(spec["base"] + "/v1/realtime/sessions", json=body,
                         headers={"Authorization": f"Bearer {spec['key']}"}) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating a session failed: {resp.status} {await resp.text()}")
        return await resp.json()


def _summary(name: str, values: list[float]) -> dict[str, Any]:
    return {f"{name}_p50_ms": percentile(values, 50), f"{name}_p99_ms": percentile(values, 99)}


async def run(spec: dict) -> dict[str, Any]:
    pcm = tone(spec["audio_ms"])
    audio = wav_from_pcm(pcm, RATE)      # what the gateway sends for transcription
    sim = spec["simulator"]
    turns: list[dict[str, Any]] = []
    errors: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        session = await _session(http, spec)
        async with connect(session["websocket_url"], max_size=None) as ws:
            sock = Socket(ws)
            await sock.until("session.created")
            deadline = time.monotonic() + spec["seconds"]
            for index in range(spec["warmup"] + spec["turns"]):
                if time.monotonic() > deadline:
                    break
                async with http.delete(sim + "/_sim/requests") as resp:
                    await resp.read()
                try:
                    gateway = await gateway_turn(sock, pcm)
                    async with http.get(sim + "/_sim/requests") as resp:
                        calls = _calls((await resp.json())["requests"])
                    provider = await provider_turn(http, spec, calls, audio)
                except (RuntimeError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    break                  # the session's state is unknown now: stop here
                if index >= spec["warmup"]:
                    turns.append({"gateway": gateway, "provider": provider,
                                  "added_ms": gateway["first_audio_ms"]
                                  - provider["first_audio_ms"]})
    return {"turns": len(turns), "errors": len(errors), "error_sample": errors[0] if errors
            else "", "audio_ms": spec["audio_ms"],
            **_summary("gateway", [t["gateway"]["first_audio_ms"] for t in turns]),
            **_summary("provider", [t["provider"]["first_audio_ms"] for t in turns]),
            **_summary("added", [t["added_ms"] for t in turns]),
            **_summary("gateway_transcription", [t["gateway"]["transcription_ms"]
                                                 for t in turns]),
            **_summary("provider_transcription", [t["provider"]["transcription_ms"]
                                                  for t in turns]),
            **_summary("gateway_response", [t["gateway"]["response_ms"] for t in turns]),
            **_summary("provider_response", [t["provider"]["chat_ms"]
                                             + t["provider"]["speech_ms"] for t in turns]),
            "per_turn": turns}


def main() -> None:
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)


if __name__ == "__main__":
    main()
