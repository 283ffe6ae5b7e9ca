"""The model catalog: the seed's model document, validated, and an in-process cache of it.

A document says which provider serves a model (`provider`, `model_type`), the provider's own id
for it (`code`), how to reach it (`parameters`, where `"$NAME"` is read from configuration so
secrets never live in the document), what it costs per 1M tokens, which operations it allows and,
when `private`, which projects may see it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config import Settings
from .errors import GatewayError, InvalidRequest, ModelNotFound, ServiceUnavailable
from .policy import build_policy, check_policy, split_parameters

log = logging.getLogger(__name__)


class Provider(str, Enum):
    AZURE = "Azure"
    GOOGLE = "Google"


class ModelType(str, Enum):
    AZURE_OPENAI = "AzureOpenAI"
    AZURE_FOUNDRY = "AzureFoundry"
    GOOGLE_VERTEX = "GoogleVertex"
    GOOGLE_VERTEX_CLAUDE = "GoogleVertexClaude"
    GOOGLE_VERTEX_DEEPSEEK = "GoogleVertexDeepSeek"
    GOOGLE_VERTEX_META = "GoogleVertexMeta"
    GOOGLE_VERTEX_MISTRAL = "GoogleVertexMistral"
    GOOGLE_VERTEX_JAMBA = "GoogleVertexJamba"
    GOOGLE_VERTEX_QWEN = "GoogleVertexQwen"
    GOOGLE_VERTEX_OPENAI = "GoogleVertexOpenAI"

    @property
    def provider(self) -> Provider:
        return Provider.AZURE if self.value.startswith("Azure") else Provider.GOOGLE


class Operation(str, Enum):
    RESPONSES = "Responses"
    CHAT = "ChatCompletion"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    AUDIO_TTS = "audio_tts"
    AUDIO_STT = "audio_stt"
    AUDIO_REALTIME = "audio_realtime"


# Token classes priced apart, each with the price it falls back to when the catalog gives it
# none (docs/costs.md): (Usage field, Costs field, parent Costs field).
TOKEN_CLASS_PRICES = (
    ("cached_input_tokens", "cost_cached_input_1Mtokens", "cost_input_1Mtokens"),
    ("cache_write_input_tokens", "cost_cache_write_input_1Mtokens", "cost_input_1Mtokens"),
    ("audio_input_tokens", "cost_audio_input_1Mtokens", "cost_input_1Mtokens"),
    ("reasoning_tokens", "cost_reasoning_1Mtokens", "cost_output_1Mtokens"),
    ("audio_output_tokens", "cost_audio_output_1Mtokens", "cost_output_1Mtokens"),
)
_INPUT_PARTS = tuple(u for u, _, parent in TOKEN_CLASS_PRICES if parent == "cost_input_1Mtokens")
_OUTPUT_PARTS = tuple(u for u, _, parent in TOKEN_CLASS_PRICES if parent == "cost_output_1Mtokens")


class Costs(BaseModel):
    """Prices in the catalog's currency: per 1M tokens, and for operations priced in other units,
    per image, per 1M characters of speech input and per minute of transcribed audio.

    Token classes that providers bill apart (cache reads and writes, audio, reasoning) have
    their own optional price; a class left unset (None) is priced like its parent (input or
    output) and listed by `unpriced_classes` so the admin view can flag it.

    The seed had two schemas; this one keeps `cost_input_1Mtokens`/`cost_output_1Mtokens` and
    converts the older per-1K `input`/`output` on the way in.
    """
    model_config = ConfigDict(extra="forbid")
    cost_input_1Mtokens: float = Field(0.0, ge=0)
    cost_output_1Mtokens: float = Field(0.0, ge=0)
    cost_cached_input_1Mtokens: float | None = Field(None, ge=0)
    cost_cache_write_input_1Mtokens: float | None = Field(None, ge=0)
    cost_audio_input_1Mtokens: float | None = Field(None, ge=0)
    cost_reasoning_1Mtokens: float | None = Field(None, ge=0)
    cost_audio_output_1Mtokens: float | None = Field(None, ge=0)
    cost_per_image: float = Field(0.0, ge=0)
    cost_1Mcharacters: float = Field(0.0, ge=0)
    cost_per_minute: float = Field(0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _convert_per_1k(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("input" in data or "output" in data):
            data = dict(data)
            if "input" in data:
                data.setdefault("cost_input_1Mtokens", float(data.pop("input")) * 1000)
            if "output" in data:
                data.setdefault("cost_output_1Mtokens", float(data.pop("output")) * 1000)
        return data

    def price_of(self, token_class: str) -> float:
        """The price per 1M tokens of a `Usage` token class (its own, else its parent's)."""
        for usage_field, own, parent in TOKEN_CLASS_PRICES:
            if usage_field == token_class:
                value = getattr(self, own)
                return getattr(self, parent) if value is None else value
        raise KeyError(token_class)

    def unpriced_classes(self) -> list[str]:
        """Token classes without a price of their own (priced like input or output)."""
        return [usage_field for usage_field, own, _ in TOKEN_CLASS_PRICES
                if getattr(self, own) is None]

    def cost(self, prompt_tokens: int, completion_tokens: int, *, images: int = 0,
             characters: int = 0, audio_seconds: float = 0.0, **token_classes: int) -> float:
        """What a call cost. `token_classes` (Usage field names) are parts of the prompt and
        completion tokens: the rest of each is priced at the input or output price."""
        plain_input = prompt_tokens - sum(token_classes.get(n, 0) for n in _INPUT_PARTS)
        plain_output = completion_tokens - sum(token_classes.get(n, 0) for n in _OUTPUT_PARTS)
        per_million = (max(0, plain_input) * self.cost_input_1Mtokens
                       + max(0, plain_output) * self.cost_output_1Mtokens
                       + characters * self.cost_1Mcharacters)
        for name, count in token_classes.items():
            if count:
                per_million += count * self.price_of(name)
        return (per_million / 1_000_000 + images * self.cost_per_image
                + audio_seconds / 60 * self.cost_per_minute)

    def cost_of(self, usage: Any) -> float:
        """`cost` of a `providers.Usage` (every class it carries)."""
        return self.cost(usage.prompt_tokens, usage.completion_tokens, images=usage.images,
                         characters=usage.characters, audio_seconds=usage.audio_seconds,
                         **{n: getattr(usage, n) for n, _, _ in TOKEN_CLASS_PRICES})


class PoolMember(BaseModel):
    """One deployment of a pooled model: another catalog entry (or the model's own id, meaning
    its own `parameters`). Requests go to the lowest `priority` members that are healthy, split
    by `weight`; higher priorities are fallbacks (e.g. Azure first, then Vertex)."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    weight: int = Field(1, ge=1, le=1000)
    priority: int = Field(0, ge=0, le=100)


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+/-]*$")


class ModelDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    id: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\?#\s]+$")
    name: str = ""
    code: str = Field(min_length=1, max_length=300)
    provider: Provider
    model_type: ModelType
    parameters: dict[str, Any] = Field(default_factory=dict)
    costs: Costs = Field(default_factory=Costs)
    operations: list[Operation] = Field(min_length=1)
    projects: list[str] = Field(default_factory=list)
    private: bool = False
    pool: list[PoolMember] = Field(default_factory=list, max_length=32)
    # Opt-in to storing a credential parameter as a literal value instead of a `$NAME` setting.
    literal_credentials: bool = False

    @field_validator("code")
    @classmethod
    def _safe_code(cls, code: str) -> str:
        # The code goes into the provider's URL path (deployments/{code}, models/{code}):
        # names like "claude-sonnet-4@20250514" or "meta/llama-3.3-70b-instruct-maas" pass;
        # spaces, '?', '#', '%', '\\' and '.'/'..' segments would change the request.
        if not _CODE.match(code) or any(part in ("", ".", "..") for part in code.split("/")):
            raise ValueError("must be the provider's model or deployment name: letters, digits "
                             "and . _ - @ : +, '/' between non-empty parts, no '.' or '..' part")
        return code

    @field_validator("operations")
    @classmethod
    def _unique_ops(cls, ops: list[Operation]) -> list[Operation]:
        return list(dict.fromkeys(ops))

    @model_validator(mode="after")
    def _consistent(self) -> "ModelDocument":
        if self.model_type.provider != self.provider:
            raise ValueError(f"model_type {self.model_type.value} belongs to provider "
                             f"{self.model_type.provider.value}, not {self.provider.value}")
        if self.private and not self.projects:
            raise ValueError("a private model must list the projects that may use it")
        members = [m.model for m in self.pool]
        if len(members) != len(set(members)):
            raise ValueError("pool lists a model twice")
        return self

    @property
    def serves_itself(self) -> bool:
        """Whether the document's own `parameters` are a deployment (always, without a pool)."""
        return not self.pool or any(m.model == self.id for m in self.pool)

    def visible_to(self, project: str) -> bool:
        return not self.private or project in self.projects

    def to_json(self) -> dict[str, Any]:
        # The opt-in appears only where it is given: other documents keep their shape.
        data = self.model_dump(mode="json", exclude=None if self.literal_credentials
                               else {"literal_credentials"})
        # A class price left unset is absent, not null: exported documents stay as written.
        data["costs"] = {k: v for k, v in data["costs"].items() if v is not None}
        return data


def validate_document(data: Any) -> ModelDocument:
    """Validate a model document from a caller, turning pydantic errors into a 400 naming the field."""
    from .validation import parse_document
    doc = parse_document(ModelDocument, data, "model document")
    try:
        check_policy(doc.parameters)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid model document: {exc}",
                             param=str(exc).split(":", 1)[0]) from None
    return doc


@dataclass(frozen=True)
class Member:
    """A deployment in a model's pool, resolved to its catalog entry."""
    model: "ResolvedModel"
    weight: int = 1
    priority: int = 0


class ResolvedModel:
    """A catalog entry with its `$NAME` parameters read from configuration, ready to dispatch."""
    __slots__ = ("doc", "params", "missing", "secrets", "adapter", "prepared", "problem",
                 "policy", "members", "adapter_ready", "adapter_enforces_timeouts")

    def __init__(self, doc: ModelDocument, settings: Settings, adapter: Any):
        self.doc = doc
        self.adapter = adapter
        # Read once, not per call (see `Adapter` in providers/base.py).
        self.adapter_ready = getattr(adapter, "ready", None)
        self.adapter_enforces_timeouts = bool(getattr(adapter, "enforces_timeouts", False))
        self.params: dict[str, Any] = {}
        self.missing: list[str] = []
        try:
            self.policy = build_policy(doc.parameters, settings)
            policy_problem = ""
        except ValueError as exc:          # stored without the admin API's validation
            self.policy, policy_problem = build_policy({}, settings), str(exc)
        # Without a pool a model is its own single deployment; `Catalog` links pools.
        self.members: list[Member] = [Member(self)]
        secrets: list[str] = []
        provider_params, _ = split_parameters(doc.parameters)
        for key, value in provider_params.items():
            if isinstance(value, str) and value.startswith("$") and len(value) > 1:
                resolved = settings.get(value[1:])
                if resolved is None:
                    self.missing.append(value[1:])
                    continue
                value = resolved
            # A credential is a secret whatever its source: a `$NAME` setting or a literal.
            if _looks_secret(key):
                secrets.extend(secret_values(value))
            self.params[key] = value
        self.secrets = tuple(secrets)
        self.prepared: Any = None
        self.problem = ""
        if policy_problem:
            self.problem = policy_problem
        elif not doc.serves_itself:
            pass                      # only a front for its pool: its own parameters are unused
        elif self.missing:
            self.problem = f"setting(s) {', '.join(self.missing)} are not set"
        else:
            try:
                self.prepared = adapter.prepare(doc, self.params)
            except ValueError as exc:
                self.problem = str(exc)

    def require_configured(self) -> None:
        if not self.members:
            raise GatewayError(f"The model '{self.doc.id}' is not configured correctly on this "
                               "gateway: none of its pool members is in the catalog.",
                               code="model_misconfigured")
        if self.problem and len(self.members) == 1 and self.members[0].model is self:
            raise GatewayError(f"The model '{self.doc.id}' is not configured correctly on this "
                               f"gateway: {self.problem}.", code="model_misconfigured")


def _link_pool(model: ResolvedModel, by_id: dict[str, ResolvedModel]) -> list[Member]:
    members = []
    for entry in model.doc.pool:
        target = model if entry.model == model.doc.id else by_id.get(entry.model)
        if target is None or (target is not model and target.doc.pool):
            log.warning("model %s: pool member %s is missing or is itself a pool; skipped",
                        model.doc.id, entry.model)
            continue
        members.append(Member(target, entry.weight, entry.priority))
    return members


def _looks_secret(param_name: str) -> bool:
    name = param_name.lower()
    if name.endswith(("_scope", "_uri", "_url")):      # token_scope, token_uri: addresses
        return False
    return any(word in name for word in ("key", "secret", "token", "credential", "password"))


def secret_values(value: Any) -> list[str]:
    """The strings to redact for one credential value: itself, and, for a service-account
    document (a dict or its JSON text), its secret fields (`private_key`, its lines, ...), since
    a provider's or library's error may quote any part of them."""
    found: list[str] = []
    if isinstance(value, str):
        found.append(value)
        if value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                return found
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, str) and _looks_secret(str(name)):   # private_key, client_secret
                found.append(item)
                if "-----BEGIN" in item:        # the key's base64 lines, quoted one at a time
                    found.extend(line for line in item.splitlines()
                                 if len(line) >= 16 and not line.startswith("-----"))
    return [v for v in found if len(v) >= 4]


def literal_credentials(parameters: dict[str, Any]) -> list[str]:
    """The names of credential parameters given as a literal value, not as a `$NAME` setting."""
    provider_params, _ = split_parameters(parameters)
    return [key for key, value in provider_params.items()
            if _looks_secret(key) and value not in (None, "")
            and not (isinstance(value, str) and value.startswith("$") and len(value) > 1)]


class Catalog:
    """Models by id and by code, refreshed from the store at most once per TTL.

    Requests never wait on the store except for the very first load: after that a stale
    catalog is served while one refresh runs, and a failed refresh keeps the last good copy.
    """

    def __init__(self, store: Any, settings: Settings, adapter_for: Any):
        self._store = store
        self._settings = settings
        self._adapter_for = adapter_for
        self._by_key: dict[str, ResolvedModel] = {}
        self._models: list[ResolvedModel] = []
        self._loaded_at = 0.0
        self._loaded = False
        self._refreshing: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def _load(self) -> None:
        docs = await self._store.list_models()
        models, by_key = [], {}
        for doc in docs:
            resolved = ResolvedModel(doc, self._settings, self._adapter_for(doc))
            models.append(resolved)
            by_key.setdefault(doc.code, resolved)
        for resolved in models:          # ids win over codes when they collide
            by_key[resolved.doc.id] = resolved
        by_id = {m.doc.id: m for m in models}
        for resolved in models:
            if resolved.doc.pool:
                resolved.members = _link_pool(resolved, by_id)
        self._models, self._by_key = models, by_key
        self._loaded_at, self._loaded = time.monotonic(), True

    async def _ensure(self) -> None:
        if not self._loaded:
            async with self._lock:
                if not self._loaded:
                    try:
                        await self._load()
                    except GatewayError:
                        raise
                    except Exception as exc:  # the store is down: say so, never "not found"
                        log.error("catalog load failed: %s", type(exc).__name__)
                        raise ServiceUnavailable("The model catalog is unavailable.") from exc
        elif time.monotonic() - self._loaded_at > self._settings.catalog_ttl:
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.ensure_future(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self._load()
        except Exception as exc:
            log.warning("catalog refresh failed, serving the last good copy: %s", type(exc).__name__)
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded = False

    async def get(self, name: str, project: str) -> ResolvedModel:
        """The model a caller named, if it exists and the project may see it; else 404."""
        await self._ensure()
        model = self._by_key.get(name)
        if model is None or not model.doc.visible_to(project):
            raise ModelNotFound(name)
        return model

    async def visible(self, project: str) -> list[ResolvedModel]:
        await self._ensure()
        return [m for m in self._models if m.doc.visible_to(project)]

    async def all(self) -> list[ResolvedModel]:
        await self._ensure()
        return list(self._models)
