"""Configuration, read once at startup from the process environment.

Azure Functions turns app settings (including Key Vault references) into environment variables
before the worker starts, and the local runner does the same with local.settings.json. Reading
them once into `Settings` means no request ever consults `os.environ`, and a catalog parameter
written as `$NAME` resolves from this snapshot (see `Settings.resolve`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


def _number(env: Mapping[str, str], name: str, default, kind: type, what: str):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"setting {name} must be {what}, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "an integer")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"setting {name} must be true or false, got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number")


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"setting {name} must be between 0 and 1, got {value}")
    return value


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())


_KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("


def _blank_unresolved_references(env: dict[str, str]) -> tuple[str, ...]:
    """App Service leaves a Key Vault reference as its literal text when it cannot resolve it (the
    secret does not exist yet, or the identity may not read it). That text is public (it is in the
    template), so it must never count as a value: an admin key equal to it would open the admin
    API to anyone. Such settings are treated as unset and reported once at startup."""
    names = tuple(sorted(n for n, v in env.items()
                         if isinstance(v, str) and v.strip().startswith(_KEY_VAULT_REFERENCE)))
    for name in names:
        env[name] = ""
    return names


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite"                     # LLMPROXY_STORE: sqlite | cosmos
    data_dir: Path = Path(".data")            # LLMPROXY_DATA_DIR (SQLite file lives here)
    admin_key: str = ""                       # LLMPROXY_ADMIN_KEY (admin API off when empty)
    key_pepper: str = ""                      # LLMPROXY_KEY_PEPPER: HMAC key for stored key hashes
    max_body_bytes: int = 8 * 1024 * 1024     # LLMPROXY_MAX_BODY_BYTES
    max_audio_bytes: int = 25 * 1024 * 1024   # LLMPROXY_MAX_AUDIO_BYTES (uploads to transcribe)
    catalog_ttl: float = 30.0                 # LLMPROXY_CATALOG_TTL_SECONDS
    key_cache_ttl: float = 30.0               # LLMPROXY_KEY_CACHE_TTL_SECONDS
    connect_timeout: float = 10.0             # LLMPROXY_CONNECT_TIMEOUT_SECONDS
    request_timeout: float = 200.0            # LLMPROXY_REQUEST_TIMEOUT_SECONDS (< 230 s LB limit)
    first_byte_timeout: float = 60.0          # LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS
    limits_ttl: float = 10.0                  # LLMPROXY_LIMITS_TTL_SECONDS
    usage_retention_days: float = 0.0         # LLMPROXY_USAGE_RETENTION_DAYS (0: keep forever)
    responses_retention_days: float = 30.0    # LLMPROXY_RESPONSES_RETENTION_DAYS (stored responses)
    cosmos_endpoint: str = ""                 # COSMOS_ENDPOINT: https://ACCOUNT.documents.azure.com
    cosmos_key: str = field(default="", repr=False)  # COSMOS_KEY (empty: DefaultAzureCredential)
    cosmos_database: str = "llmproxy"         # COSMOS_DATABASE
    cosmos_create_if_missing: bool = False    # COSMOS_CREATE_IF_MISSING (off in production)
    cosmos_verify_tls: bool = True            # COSMOS_VERIFY_TLS (false only for a local endpoint)
    # Async chat jobs (see docs/jobs.md).
    job_concurrency: int = 8                  # LLMPROXY_JOB_CONCURRENCY: provider calls per batch
    job_max_retries: int = 3                  # LLMPROXY_JOB_MAX_RETRIES: after the first attempt
    job_retry_base: float = 2.0               # LLMPROXY_JOB_RETRY_BASE_SECONDS (doubles each time)
    job_max_retry_after: float = 60.0         # LLMPROXY_JOB_MAX_RETRY_AFTER_SECONDS
    job_lease: float = 300.0                  # LLMPROXY_JOB_LEASE_SECONDS: one attempt's claim
    job_default_ttl_hours: int = 24           # LLMPROXY_JOB_DEFAULT_TTL_HOURS
    job_requeue_after: float = 900.0          # LLMPROXY_JOB_REQUEUE_AFTER_SECONDS
    webhook_max_attempts: int = 5             # LLMPROXY_WEBHOOK_MAX_ATTEMPTS
    webhook_retry_base: float = 1.0           # LLMPROXY_WEBHOOK_RETRY_BASE_SECONDS
    webhook_timeout: float = 10.0             # LLMPROXY_WEBHOOK_TIMEOUT_SECONDS
    webhook_allow_hosts: tuple[str, ...] = () # LLMPROXY_WEBHOOK_ALLOW_HOSTS (comma-separated)
    # Realtime voice sessions (Azure Web PubSub). The connection string is the one the
    # Functions Web PubSub bindings read too (setting name `WebPubSubConnectionString`).
    webpubsub_connection_string: str = field(default="", repr=False)
    # Identity-based instead (Azure): the endpoint, reached with DefaultAzureCredential.
    webpubsub_endpoint: str = ""              # WebPubSubConnectionString__serviceUri
    realtime_chat_model: str = ""             # LLMPROXY_REALTIME_CHAT_MODEL (default for sessions)
    realtime_transcription_model: str = ""    # LLMPROXY_REALTIME_TRANSCRIPTION_MODEL
    realtime_speech_model: str = ""           # LLMPROXY_REALTIME_SPEECH_MODEL
    realtime_token_minutes: int = 5           # LLMPROXY_REALTIME_TOKEN_MINUTES: client token life
    realtime_session_minutes: int = 30        # LLMPROXY_REALTIME_SESSION_MINUTES: session life
    realtime_max_buffer_seconds: int = 60     # LLMPROXY_REALTIME_MAX_BUFFER_SECONDS
    trace_sample_ratio: float = 1.0           # LLMPROXY_TRACE_SAMPLE_RATIO (0..1, when tracing is on)
    # Files and batches (docs/batch.md). Blob Storage when an account is set, else `.data/files`.
    blob_account_url: str = ""                # LLMPROXY_BLOB_ACCOUNT_URL (managed identity)
    blob_connection_string: str = field(default="", repr=False)  # LLMPROXY_BLOB_CONNECTION_STRING
    blob_create_containers: bool = False      # LLMPROXY_BLOB_CREATE_CONTAINERS (local/tests only)
    max_file_bytes: int = 200 * 1024 * 1024   # LLMPROXY_MAX_FILE_BYTES (OpenAI's limit)
    batch_max_lines: int = 100_000            # LLMPROXY_BATCH_MAX_LINES
    # Entra ID sign-in for the console and management API through App Service Authentication
    # (docs/console.md): members of these app roles or groups are admins. Trusted only when the
    # platform says that authentication is on (WEBSITE_AUTH_ENABLED, set by App Service).
    entra_admin_roles: tuple[str, ...] = ()   # LLMPROXY_ENTRA_ADMIN_ROLES (comma-separated)
    entra_admin_groups: tuple[str, ...] = ()  # LLMPROXY_ENTRA_ADMIN_GROUPS (object ids)
    platform_auth_enabled: bool = False       # WEBSITE_AUTH_ENABLED (App Service sets it)
    # Settings whose value was a Key Vault reference the platform could not resolve (see below).
    unresolved: tuple[str, ...] = ()
    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        unresolved = _blank_unresolved_references(env)
        return cls(
            store=env.get("LLMPROXY_STORE", "sqlite").lower(),
            data_dir=Path(env.get("LLMPROXY_DATA_DIR", ".data")),
            admin_key=env.get("LLMPROXY_ADMIN_KEY", ""),
            key_pepper=env.get("LLMPROXY_KEY_PEPPER", ""),
            max_body_bytes=_int(env, "LLMPROXY_MAX_BODY_BYTES", 8 * 1024 * 1024),
            max_audio_bytes=_int(env, "LLMPROXY_MAX_AUDIO_BYTES", 25 * 1024 * 1024),
            catalog_ttl=_float(env, "LLMPROXY_CATALOG_TTL_SECONDS", 30.0),
            key_cache_ttl=_float(env, "LLMPROXY_KEY_CACHE_TTL_SECONDS", 30.0),
            connect_timeout=_float(env, "LLMPROXY_CONNECT_TIMEOUT_SECONDS", 10.0),
            request_timeout=_float(env, "LLMPROXY_REQUEST_TIMEOUT_SECONDS", 200.0),
            first_byte_timeout=_float(env, "LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS", 60.0),
            limits_ttl=_float(env, "LLMPROXY_LIMITS_TTL_SECONDS", 10.0),
            usage_retention_days=_float(env, "LLMPROXY_USAGE_RETENTION_DAYS", 0.0),
            responses_retention_days=_float(env, "LLMPROXY_RESPONSES_RETENTION_DAYS", 30.0),
            cosmos_endpoint=env.get("COSMOS_ENDPOINT", ""),
            cosmos_key=env.get("COSMOS_KEY", ""),
            cosmos_database=env.get("COSMOS_DATABASE", "") or "llmproxy",
            cosmos_create_if_missing=_bool(env, "COSMOS_CREATE_IF_MISSING", False),
            cosmos_verify_tls=_bool(env, "COSMOS_VERIFY_TLS", True),
            job_concurrency=_int(env, "LLMPROXY_JOB_CONCURRENCY", 8),
            job_max_retries=_int(env, "LLMPROXY_JOB_MAX_RETRIES", 3),
            job_retry_base=_float(env, "LLMPROXY_JOB_RETRY_BASE_SECONDS", 2.0),
            job_max_retry_after=_float(env, "LLMPROXY_JOB_MAX_RETRY_AFTER_SECONDS", 60.0),
            job_lease=_float(env, "LLMPROXY_JOB_LEASE_SECONDS", 300.0),
            job_default_ttl_hours=_int(env, "LLMPROXY_JOB_DEFAULT_TTL_HOURS", 24),
            job_requeue_after=_float(env, "LLMPROXY_JOB_REQUEUE_AFTER_SECONDS", 900.0),
            webhook_max_attempts=_int(env, "LLMPROXY_WEBHOOK_MAX_ATTEMPTS", 5),
            webhook_retry_base=_float(env, "LLMPROXY_WEBHOOK_RETRY_BASE_SECONDS", 1.0),
            webhook_timeout=_float(env, "LLMPROXY_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_allow_hosts=tuple(h.strip().lower() for h in
                                      env.get("LLMPROXY_WEBHOOK_ALLOW_HOSTS", "").split(",")
                                      if h.strip()),
            webpubsub_connection_string=env.get("WebPubSubConnectionString", ""),
            webpubsub_endpoint=env.get("WebPubSubConnectionString__serviceUri", ""),
            realtime_chat_model=env.get("LLMPROXY_REALTIME_CHAT_MODEL", ""),
            realtime_transcription_model=env.get("LLMPROXY_REALTIME_TRANSCRIPTION_MODEL", ""),
            realtime_speech_model=env.get("LLMPROXY_REALTIME_SPEECH_MODEL", ""),
            realtime_token_minutes=_int(env, "LLMPROXY_REALTIME_TOKEN_MINUTES", 5),
            realtime_session_minutes=_int(env, "LLMPROXY_REALTIME_SESSION_MINUTES", 30),
            realtime_max_buffer_seconds=_int(env, "LLMPROXY_REALTIME_MAX_BUFFER_SECONDS", 60),
            trace_sample_ratio=_ratio(env, "LLMPROXY_TRACE_SAMPLE_RATIO", 1.0),
            blob_account_url=env.get("LLMPROXY_BLOB_ACCOUNT_URL", ""),
            blob_connection_string=env.get("LLMPROXY_BLOB_CONNECTION_STRING", ""),
            blob_create_containers=_bool(env, "LLMPROXY_BLOB_CREATE_CONTAINERS", False),
            max_file_bytes=_int(env, "LLMPROXY_MAX_FILE_BYTES", 200 * 1024 * 1024),
            batch_max_lines=_int(env, "LLMPROXY_BATCH_MAX_LINES", 100_000),
            entra_admin_roles=_names(env, "LLMPROXY_ENTRA_ADMIN_ROLES"),
            entra_admin_groups=_names(env, "LLMPROXY_ENTRA_ADMIN_GROUPS"),
            platform_auth_enabled=_bool(env, "WEBSITE_AUTH_ENABLED", False),
            unresolved=unresolved,
            values=env,
        )

    def __post_init__(self) -> None:
        if self.usage_retention_days < 0:
            raise ValueError("setting LLMPROXY_USAGE_RETENTION_DAYS must be 0 (keep) or more")
        if self.responses_retention_days <= 0:
            raise ValueError("setting LLMPROXY_RESPONSES_RETENTION_DAYS must be more than 0")

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def secret_values(self) -> tuple[str, ...]:
        """Values that must never appear in a response or a log line."""
        return tuple(v for v in (self.admin_key, self.key_pepper, self.cosmos_key,
                                 self.webpubsub_access_key(), self.webpubsub_connection_string,
                                 self.blob_connection_string,
                                 _account_key(self.blob_connection_string))
                     if v)

    def webpubsub_access_key(self) -> str:
        for part in self.webpubsub_connection_string.split(";"):
            name, _, value = part.partition("=")
            if name.strip().lower() == "accesskey":
                return value.strip()
        return ""


def _account_key(connection_string: str) -> str:
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountkey":
            return value.strip()
    return ""
