"""A realtime test client: a real WebSocket to the local Web PubSub, speaking the OpenAI Realtime
protocol (plain frames, or wrapped in json.webpubsub.azure.v1), and real speech audio."""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from shared.realtime import codecs

JSON_PROTOCOL = "json.webpubsub.azure.v1"
# A safety net so a broken gateway fails the test instead of hanging it; never an assertion.
NET = 60


def spoken(text: str) -> bytes:
    """`text` spoken by espeak-ng, as pcm16 24 kHz mono."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (`make test` installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        return codecs.wav_to_session_pcm(path.read_bytes())


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * codecs.RATE))


class Client:
    def __init__(self, ws: Any, protocol: str | None):
        self.ws, self.protocol = ws, protocol
        self.seen: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self._ack = 0

    @classmethod
    async def open(cls, url: str, protocol: str | None = None) -> "Client":
        ws = await asyncio.wait_for(connect(url, subprotocols=[protocol] if protocol else None,
                                            max_size=None), NET)
        return cls(ws, protocol)

    async def send(self, event: dict[str, Any] | str) -> None:
        if self.protocol == JSON_PROTOCOL:
            self._ack += 1
            await self.ws.send(json.dumps({"type": "event", "event": "message",
                                           "dataType": "json" if isinstance(event, dict) else "text",
                                           "data": event, "ackId": self._ack}))
        else:
            await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def raw(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def frame(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), NET))

    async def next(self) -> dict[str, Any]:
        """The next server event (protocol frames such as acks are kept apart)."""
        while True:
            data = await self.frame()
            if self.protocol == JSON_PROTOCOL:
                if data.get("type") == "ack":
                    self.acks.append(data)
                    continue
                if data.get("type") != "message":
                    continue
                data = data["data"]
            self.seen.append(data)
            return data

    async def until(self, type_: str) -> list[dict[str, Any]]:
        """Events up to and including the first of `type_`."""
        got = []
        while True:
            event = await self.next()
            got.append(event)
            if event["type"] == type_:
                return got

    async def append(self, pcm: bytes, fmt: str = "pcm16", chunk_ms: int = 100,
                     realtime: bool = True) -> None:
        """Stream audio the way a microphone does: one chunk per `chunk_ms` (pacing, not an
        assertion: events of one connection may be handled concurrently, like the service's
        separate upstream calls, so a burst of appends could be applied out of order)."""
        wire = codecs.from_session_pcm(pcm, fmt)
        step = int(codecs.bytes_per_ms(fmt) * chunk_ms)
        step -= step % 2
        for i in range(0, len(wire), step):
            await self.send({"type": "input_audio_buffer.append",
                             "audio": base64.b64encode(wire[i:i + step]).decode()})
            if realtime:
                await asyncio.sleep(chunk_ms / 1000)

    async def close(self) -> None:
        await self.ws.close()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events
                    if e["type"] == "response.audio.delta")
