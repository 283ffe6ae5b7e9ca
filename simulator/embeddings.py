"""Deterministic embeddings: unit vectors derived from a SHA-256 stream of the text.

The same text always gets the same vector (in any dimension, the shorter vector
being the renormalised prefix of the longer), different texts get unrelated ones.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from .content import count_words
from .openai_chat import BadRequest

# Default dimensions of the real models; anything else gets DEFAULT_DIMENSIONS.
_MODEL_DIMENSIONS = {"text-embedding-3-large": 3072, "gemini-embedding": 3072, "text-embedding-0": 768,
                     "text-multilingual-embedding": 768, "textembedding-gecko": 768}
DEFAULT_DIMENSIONS = 1536
MAX_DIMENSIONS = 8192


def default_dimensions(model: str) -> int:
    return next((d for prefix, d in _MODEL_DIMENSIONS.items() if prefix in model), DEFAULT_DIMENSIONS)


def vector(text: str, dimensions: int) -> list[float]:
    dimensions = max(1, min(int(dimensions), MAX_DIMENSIONS))
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend(v / 32768.0 for v in struct.unpack("<16h", block))
        counter += 1
    raw = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 8) for v in raw]


def _inputs(value: Any) -> list[str]:
    """OpenAI `input`: a string, a list of strings, or token arrays (hashed as their text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [" ".join(map(str, value))]
        if all(isinstance(v, (str, list)) for v in value):
            return [v if isinstance(v, str) else " ".join(map(str, v)) for v in value]
    raise BadRequest("'input' must be a non-empty string, array of strings, or array of token arrays.")


def openai_embeddings(body: dict[str, Any], model: str) -> dict[str, Any]:
    texts = _inputs(body.get("input"))
    dimensions = body.get("dimensions") or default_dimensions(model)
    as_base64 = body.get("encoding_format") == "base64"  # the openai SDK asks for this by default
    data = []
    for index, text in enumerate(texts):
        values = vector(text, dimensions)
        embedding: Any = (base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
                          if as_base64 else values)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(count_words(t) for t in texts)
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def vertex_predict(body: dict[str, Any], model: str) -> dict[str, Any]:
    """Vertex `:predict` for text-embedding-* / gemini-embedding-*."""
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list.")
    parameters = body.get("parameters") or {}
    dimensions = parameters.get("outputDimensionality") or default_dimensions(model)
    predictions = []
    for instance in instances:
        text = instance.get("content", "") if isinstance(instance, dict) else str(instance)
        predictions.append({"embeddings": {"values": vector(text, dimensions),
                                           "statistics": {"token_count": count_words(text), "truncated": False}}})
    characters = sum(len(i.get("content", "")) for i in instances if isinstance(i, dict))
    return {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}
