"""Provider adapters, chosen by the catalog's `model_type`."""
from __future__ import annotations

from ..catalog import ModelDocument, ModelType
from ..config import Settings
from .base import Adapter, Completion, CompletionStream, ROUTING_FIELDS, Usage

__all__ = ["Adapter", "Completion", "CompletionStream", "ROUTING_FIELDS", "Usage", "Registry"]


class Registry:
    """One adapter instance per provider family, shared by every model of that family."""

    def __init__(self, settings: Settings):
        from ..telemetry import TracedAdapter
        from .litellm_bridge import LiteLLMVertexAdapter
        from .openai_wire import OpenAIWireAdapter
        # Traced: each provider call becomes a child span of its request (a no-op when off).
        self.openai_wire = TracedAdapter(OpenAIWireAdapter(settings))
        self.vertex = TracedAdapter(LiteLLMVertexAdapter())

    def for_model(self, doc: ModelDocument) -> Adapter:
        if doc.model_type in (ModelType.AZURE_OPENAI, ModelType.AZURE_FOUNDRY):
            return self.openai_wire
        return self.vertex

    def needs_litellm(self, doc: ModelDocument) -> bool:
        return self.for_model(doc) is self.vertex
