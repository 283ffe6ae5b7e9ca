"""How the gateway calls one model: timeouts, retries, circuit breaker, request limits.

These are catalog `parameters` the gateway itself reads (numbers, never `$NAME` settings); they
are taken out before the remaining parameters go to the provider adapter, so an adapter never
sees them and its own validation stays strict. Every timeout stays below the 230 s the Functions
front end allows an HTTP request.

    timeout_connect     s   TCP/TLS connect to the provider        (LLMPROXY_CONNECT_TIMEOUT_SECONDS)
    timeout_first_byte  s   until the answer (a stream: its first event) starts; also the
                            longest silence allowed inside a stream (LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS)
    timeout_total       s   the whole call, retries and failover included
                                                                    (LLMPROXY_REQUEST_TIMEOUT_SECONDS)
    retries                 extra attempts on one deployment after a 429/5xx/timeout (default 2)
    retry_after_max     s   the longest provider Retry-After the gateway waits out (default 5);
                            a longer one moves on to the next deployment, or is passed to the caller
    breaker_failures        consecutive failures that take a pool member out (default 3)
    breaker_cooldown    s   how long it stays out before one probe request (default 30)
    max_messages            longest `messages` array accepted (default 2048)
    max_n                   largest `n` accepted (default 16)
    max_output_tokens       largest `max_tokens` / `max_completion_tokens` accepted (default: no limit)
    allow_data_sources      true lets requests carry Azure's `data_sources` ("On Your Data", which
                            makes the provider call the search endpoints it names); default false
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .validation import parse_parameters

FUNCTIONS_HTTP_LIMIT = 230.0


class PolicyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_connect: float | None = Field(None, gt=0, lt=FUNCTIONS_HTTP_LIMIT)
    timeout_first_byte: float | None = Field(None, gt=0, lt=FUNCTIONS_HTTP_LIMIT)
    timeout_total: float | None = Field(None, gt=0, lt=FUNCTIONS_HTTP_LIMIT)
    retries: int = Field(2, ge=0, le=10)
    retry_after_max: float = Field(5.0, ge=0, le=60)
    breaker_failures: int = Field(3, ge=1, le=1000)
    breaker_cooldown: float = Field(30.0, gt=0, le=3600)
    max_messages: int = Field(2048, ge=1, le=100_000)
    max_n: int = Field(16, ge=1, le=128)
    max_output_tokens: int | None = Field(None, ge=1)
    allow_data_sources: bool = False


POLICY_KEYS = frozenset(PolicyParameters.model_fields)


@dataclass(frozen=True)
class Policy:
    connect_timeout: float
    first_byte_timeout: float
    total_timeout: float
    retries: int
    retry_after_max: float
    breaker_failures: int
    breaker_cooldown: float
    max_messages: int
    max_n: int
    max_output_tokens: int | None
    allow_data_sources: bool = False


def split_parameters(parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the provider's parameters, the gateway's policy parameters)."""
    provider = {k: v for k, v in parameters.items() if k not in POLICY_KEYS}
    policy = {k: v for k, v in parameters.items() if k in POLICY_KEYS}
    return provider, policy


def check_policy(parameters: dict[str, Any]) -> PolicyParameters:
    """Validate the policy parameters; ValueError names the parameter (`parameters.NAME`)."""
    _, raw = split_parameters(parameters)
    p = parse_parameters(PolicyParameters, raw)
    if p.timeout_first_byte and p.timeout_total and p.timeout_first_byte > p.timeout_total:
        raise ValueError("parameters.timeout_first_byte: must not exceed timeout_total")
    return p


def build_policy(parameters: dict[str, Any], settings: Any) -> Policy:
    p = check_policy(parameters)
    total = p.timeout_total or settings.request_timeout
    first_byte = min(p.timeout_first_byte or settings.first_byte_timeout, total)
    return Policy(connect_timeout=min(p.timeout_connect or settings.connect_timeout, total),
                  first_byte_timeout=first_byte, total_timeout=total, retries=p.retries,
                  retry_after_max=p.retry_after_max, breaker_failures=p.breaker_failures,
                  breaker_cooldown=p.breaker_cooldown, max_messages=p.max_messages,
                  max_n=p.max_n, max_output_tokens=p.max_output_tokens,
                  allow_data_sources=p.allow_data_sources)


@dataclass(frozen=True)
class CallTimeouts:
    """The timeouts of the attempt in progress (seconds), for the adapter's HTTP client."""
    connect: float
    first_byte: float
    total: float


# Set by the router around each attempt, read by the providers' HTTP client: adapters keep one
# signature for every operation and still honour each model's timeouts.
current_timeouts: ContextVar[CallTimeouts | None] = ContextVar("current_timeouts", default=None)
