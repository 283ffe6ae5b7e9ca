"""Provider adapters, chosen by the catalog's `model_type`."""
from __future__ import annotations

from ..catalog import ModelDocument, ModelType
from ..config import Settings
from .base import (Adapter, AudioStream, Completion, CompletionStream, ROUTING_FIELDS, Upload,
                   Usage)

__all__ = ["Adapter", "AudioStream", "Completion", "CompletionStream", "ROUTING_FIELDS", "Upload",
           "Usage", "Registry"]


class Registry:
    """One adapter instance per provider family, shared by every model of that family."""

    def __init__(self, settings: Settings):
        from ..telemetry import TracedAdapter
        from .litellm_bridge import PARTNER_OPERATIONS, LiteLLMVertexAdapter
        from .openai_wire import OpenAIWireAdapter
        from .vertex_claude import VertexClaudeAdapter
        # Traced: each provider call becomes a child span of its request (a no-op when off).
        self.openai_wire = TracedAdapter(OpenAIWireAdapter(settings))
        self.vertex = TracedAdapter(LiteLLMVertexAdapter(settings))
        self.vertex_partner = TracedAdapter(LiteLLMVertexAdapter(settings, "Vertex AI partner",
                                                                 PARTNER_OPERATIONS))
        # Claude speaks Anthropic's Messages API natively (`messages`, `count_tokens`).
        self.vertex_claude = TracedAdapter(VertexClaudeAdapter(settings))

    def for_model(self, doc: ModelDocument) -> Adapter:
        if doc.model_type in (ModelType.AZURE_OPENAI, ModelType.AZURE_FOUNDRY):
            return self.openai_wire
        if doc.model_type == ModelType.GOOGLE_VERTEX:
            return self.vertex
        if doc.model_type == ModelType.GOOGLE_VERTEX_CLAUDE:
            return self.vertex_claude
        return self.vertex_partner

    def needs_litellm(self, doc: ModelDocument) -> bool:
        return self.for_model(doc) is not self.openai_wire
