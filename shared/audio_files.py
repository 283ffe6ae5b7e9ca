"""Recognizing uploaded audio by its first bytes, and reading a WAV file's duration.

Uploads are checked before any provider call, so a wrong file costs the caller a 400 instead of
a metered provider error. The containers are the ones OpenAI's transcription API accepts (flac,
mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm).
"""
from __future__ import annotations

import io
import wave


def _is_mpeg_frame(head: bytes) -> bool:
    # An MPEG audio frame header: 11 sync bits, then a version and layer that are not "reserved".
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    return (head[1] >> 3) & 0x3 != 0x1 and (head[1] >> 1) & 0x3 != 0x0


def sniff_audio(data: bytes) -> str | None:
    """The container's name if `data` starts like an audio file we accept, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or _is_mpeg_frame(data[:2]):
        return "mp3"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"\x1a\x45\xdf\xa3":         # EBML: WebM / Matroska
        return "webm"
    if data[4:8] == b"ftyp":                     # ISO base media: mp4, m4a
        return "mp4"
    if data[:2] == b"\xff\xf1" or data[:2] == b"\xff\xf9":   # ADTS AAC
        return "aac"
    return None


def wav_duration(data: bytes) -> float | None:
    """Seconds of audio in a WAV file, or None when the bytes are not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as audio:
            rate = audio.getframerate()
            return audio.getnframes() / float(rate) if rate else None
    except (wave.Error, EOFError):
        return None


def wav_from_pcm(pcm: bytes, sample_rate: int = 24_000, channels: int = 1) -> bytes:
    """16-bit little-endian PCM (OpenAI's `pcm`/realtime `pcm16` is 24 kHz mono) wrapped as WAV,
    the form `dispatch.transcribe` accepts: raw PCM has no header to recognize it by."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
