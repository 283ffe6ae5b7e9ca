"""Audio formats of the Realtime protocol and conversions between them.

The session keeps its input buffer as pcm16 (signed 16-bit little-endian, mono) at 24 kHz, the
protocol's native format. G.711 (u-law, A-law) is 8 kHz in the protocol, so it is decoded and
resampled on the way in and resampled and encoded on the way out. Pure Python (the stdlib's
audioop is gone in 3.13): lookup tables for G.711, linear interpolation for resampling.
"""
from __future__ import annotations

import array
import io
import struct
import sys
import wave

RATE = 24_000
G711_RATE = 8_000


def _samples(pcm: bytes) -> array.array:
    out = array.array("h")
    out.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _bytes(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


# -- G.711 (ITU-T G.711 segment encoding) ----------------------------------------------------
def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if sign else magnitude


def _alaw_decode(byte: int) -> int:
    byte ^= 0x55
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if sign else -magnitude


_ULAW_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _ulaw_encode(sample: int) -> int:
    value = sample >> 2                                   # 14-bit, as the reference coder
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + (0x84 >> 2)
    seg = _segment(value, _ULAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _alaw_encode(sample: int) -> int:
    value = sample >> 3                                   # 13-bit
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    seg = _segment(value, _ALAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    code = (seg << 4) | ((value >> (1 if seg < 2 else seg)) & 0x0F)
    return code ^ mask


_ULAW_DECODE = [_ulaw_decode(b) for b in range(256)]
_ALAW_DECODE = [_alaw_decode(b) for b in range(256)]


def g711_decode(data: bytes, law: str) -> bytes:
    table = _ULAW_DECODE if law == "ulaw" else _ALAW_DECODE
    return _bytes(array.array("h", (table[b] for b in data)))


_ENCODE_TABLES: dict[str, bytes] = {}


def _encode_table(law: str) -> bytes:
    """Code for every 16-bit sample (index = sample + 32768), built once."""
    table = _ENCODE_TABLES.get(law)
    if table is None:
        encode = _ulaw_encode if law == "ulaw" else _alaw_encode
        table = _ENCODE_TABLES[law] = bytes(encode(s) for s in range(-32768, 32768))
    return table


def g711_encode(pcm: bytes, law: str) -> bytes:
    table = _encode_table(law)
    return bytes(table[s + 32768] for s in _samples(pcm))


# -- resampling ------------------------------------------------------------------------------
def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Linear interpolation. Enough for speech between 8, 16, 22.05 and 24 kHz."""
    if src_rate == dst_rate or not pcm:
        return pcm
    src = _samples(pcm)
    count = max(1, len(src) * dst_rate // src_rate)
    step = (len(src) - 1) / max(count - 1, 1)
    out = array.array("h", bytes(2 * count))
    last = len(src) - 1
    for i in range(count):
        pos = i * step
        j = int(pos)
        frac = pos - j
        a = src[j]
        b = src[j + 1] if j < last else a
        out[i] = int(a + (b - a) * frac)
    return _bytes(out)


# -- protocol formats <-> the session's pcm16 24 kHz ------------------------------------------
def to_session_pcm(data: bytes, fmt: str) -> bytes:
    if fmt == "pcm16":
        return data[: len(data) - len(data) % 2]
    return resample(g711_decode(data, fmt[len("g711_"):]), G711_RATE, RATE)


def from_session_pcm(pcm: bytes, fmt: str) -> bytes:
    if fmt == "pcm16":
        return pcm
    return g711_encode(resample(pcm, RATE, G711_RATE), fmt[len("g711_"):])


def bytes_per_ms(fmt: str) -> float:
    return RATE * 2 / 1000 if fmt == "pcm16" else G711_RATE / 1000


# -- WAV (wrapping pcm as WAV is shared.audio_files.wav_from_pcm) ---------------------------------------------------------------------------------
def wav_to_session_pcm(data: bytes) -> bytes:
    """pcm16 24 kHz mono out of a 16-bit PCM WAV (any rate; stereo is mixed down)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from None
    if width != 2:
        raise ValueError(f"WAV sample width {width * 8} bits is not supported (16 only)")
    if channels > 1:
        s = _samples(frames)
        frames = _bytes(array.array("h", (sum(s[i:i + channels]) // channels
                                          for i in range(0, len(s), channels))))
    return resample(frames, rate, RATE)
