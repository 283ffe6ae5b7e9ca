"""Tiny, real media files: solid-colour PNGs and sine tones as WAV/PCM (stdlib), and as MP3, Opus
(in Ogg), AAC (ADTS) and FLAC through PyAV, whose wheel bundles FFmpeg's encoders (a dev/test
dependency only; imported on first use)."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib

SAMPLE_RATE = 24_000  # OpenAI's `pcm` format: 24 kHz, 16-bit signed little-endian, mono
MAX_IMAGE_SIDE = 4096


def colour_for(text: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(text.encode()).digest()
    return digest[0], digest[1], digest[2]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour (zlib squeezes the identical rows to almost nothing)."""
    width, height = (max(1, min(v, MAX_IMAGE_SIDE)) for v in (width, height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width  # filter byte 0 ("none") + pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def parse_size(size: str | None, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in str(size).lower().split("x"))
        return width, height
    except (TypeError, ValueError):
        return default


def tone_pcm(seconds: float, frequency: float) -> bytes:
    """A sine tone as 16-bit mono PCM at SAMPLE_RATE, faded in/out to avoid clicks."""
    frames = max(1, int(seconds * SAMPLE_RATE))
    fade = min(frames // 2, SAMPLE_RATE // 100)
    samples = []
    for i in range(frames):
        envelope = min(1.0, i / fade, (frames - 1 - i) / fade) if fade else 1.0
        samples.append(int(8000 * envelope * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE)))
    return struct.pack(f"<{frames}h", *samples)


def wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_duration(data: bytes) -> float | None:
    """Duration of a WAV file in seconds, or None if the bytes are not WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as audio:
            return audio.getnframes() / float(audio.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


# OpenAI speech format -> (container, encoder) for PyAV.
ENCODED_FORMATS = {"mp3": ("mp3", "libmp3lame"), "opus": ("ogg", "libopus"),
                   "aac": ("adts", "aac"), "flac": ("flac", "flac")}


def encode(pcm: bytes, fmt: str) -> bytes:
    """16-bit mono PCM at SAMPLE_RATE encoded as `fmt` (a key of ENCODED_FORMATS)."""
    import av
    import numpy as np
    container, codec = ENCODED_FORMATS[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):     # PyAV converts to the encoder's sample format
            out.mux(packet)
        for packet in stream.encode(None):      # flush
            out.mux(packet)
    return buffer.getvalue()
