"""The gateway's OpenAPI 3.1 description, served at `GET /openapi.json`.

One row per HTTP function in `OPERATIONS`; `tests/test_openapi.py` fails when a registered
function is missing here (or a row names no function), and fuzzes every operation from these
schemas. Request schemas of catalog and limit documents come from their pydantic models, so
they follow the validation the management API really applies.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .catalog import ModelDocument
from .limits import ProjectLimits

# function name, method, path, auth (project | admin | none), request schema, summary
OPERATIONS: list[tuple[str, str, str, str, str | None, str]] = [
    ("chat_completions", "post", "/v1/chat/completions", "project", "ChatCompletionRequest",
     "Create a chat completion; with `stream: true`, server-sent events"),
    ("create_response", "post", "/v1/responses", "project", "ResponseRequest",
     "Create a model response (Responses API); `stream: true` sends its events, "
     "`background: true` queues it"),
    ("get_response", "get", "/v1/responses/{id}", "project", None, "A stored response"),
    ("delete_response", "delete", "/v1/responses/{id}", "project", None,
     "Delete a stored response"),
    ("list_response_input_items", "get", "/v1/responses/{id}/input_items", "project", None,
     "A stored response's input items"),
    ("cancel_response", "post", "/v1/responses/{id}/cancel", "project", None,
     "Cancel a background response that has not finished"),
    ("submit_chat_job", "post", "/v1/chat/completions/async", "project", "ChatJobRequest",
     "Queue a chat completion as an async job (202)"),
    ("list_chat_jobs", "get", "/v1/chat/completions/async", "project", None,
     "The project's jobs, newest first"),
    ("chat_job_metrics", "get", "/v1/chat/completions/async/metrics", "project", None,
     "Counts and timings of the project's jobs"),
    ("get_chat_job", "get", "/v1/chat/completions/async/{id}", "project", None, "One job"),
    ("cancel_chat_job", "delete", "/v1/chat/completions/async/{id}", "project", None,
     "Cancel a job that has not finished"),
    ("create_file", "post", "/v1/files", "project", "FileUpload",
     "Upload a file (multipart, streamed to storage; purpose `batch` or `user_data`)"),
    ("list_files", "get", "/v1/files", "project", None, "The project's files"),
    ("get_file", "get", "/v1/files/{id}", "project", None, "One file"),
    ("delete_file", "delete", "/v1/files/{id}", "project", None, "Delete a file"),
    ("file_content", "get", "/v1/files/{id}/content", "project", None, "A file's bytes"),
    ("create_batch", "post", "/v1/batches", "project", "BatchRequest",
     "Create a batch from an uploaded JSONL file (runs on the async job pipeline)"),
    ("list_batches", "get", "/v1/batches", "project", None, "The project's batches, newest first"),
    ("get_batch", "get", "/v1/batches/{id}", "project", None, "One batch"),
    ("cancel_batch", "post", "/v1/batches/{id}/cancel", "project", None,
     "Cancel a batch: lines not yet started do not run"),
    ("realtime_create_session", "post", "/v1/realtime/sessions", "project",
     "RealtimeSessionRequest", "Create a realtime voice session (Web PubSub client URL)"),
    ("realtime_create_client_secret", "post", "/v1/realtime/client_secrets", "project",
     "RealtimeClientSecretRequest", "Create a realtime session (GA shape) and its client "
     "secret, with the websocket_base_url for the openai SDK"),
    ("realtime_list_sessions", "get", "/v1/realtime/sessions", "project", None,
     "The project's realtime sessions"),
    ("realtime_get_session", "get", "/v1/realtime/sessions/{id}", "project", None,
     "One realtime session"),
    ("realtime_delete_session", "delete", "/v1/realtime/sessions/{id}", "project", None,
     "Close a realtime session"),
    ("messages", "post", "/v1/messages", "project", "MessagesRequest",
     "Anthropic's Messages API (Claude natively, other models translated); with "
     "`stream: true`, Anthropic's server-sent events. Errors in Anthropic's envelope"),
    ("messages_count_tokens", "post", "/v1/messages/count_tokens", "project",
     "CountTokensRequest", "Count a Messages request's input tokens (Claude: the provider's "
                           "count; other models: an estimate)"),
    ("list_models", "get", "/v1/models", "project", None,
     "Models the caller's project may use (Anthropic's shape with `anthropic-version`)"),
    ("get_model", "get", "/v1/models/{id}", "project", None, "One model"),
    ("embeddings", "post", "/v1/embeddings", "project", "EmbeddingsRequest", "Create embeddings"),
    ("image_generations", "post", "/v1/images/generations", "project", "ImageRequest",
     "Generate images"),
    ("audio_speech", "post", "/v1/audio/speech", "project", "SpeechRequest",
     "Speak text; the audio is streamed as the provider sends it"),
    ("audio_transcriptions", "post", "/v1/audio/transcriptions", "project",
     "TranscriptionRequest", "Transcribe an audio file (multipart)"),
    ("audio_translations", "post", "/v1/audio/translations", "project", "TranscriptionRequest",
     "Translate an audio file into English text (multipart)"),
    ("health", "get", "/health", "none", None, "Liveness and store reachability"),
    ("openapi", "get", "/openapi.json", "none", None, "This description"),
    ("org_list_models", "get", "/v1/organization/models", "admin", None,
     "Every catalog document"),
    ("org_get_model", "get", "/v1/organization/models/{id}", "admin", None,
     "One catalog document"),
    ("org_put_model", "put", "/v1/organization/models/{id}", "admin", "ModelDocument",
     "Create or replace a catalog document"),
    ("org_delete_model", "delete", "/v1/organization/models/{id}", "admin", None,
     "Delete a catalog document"),
    ("org_create_api_key", "post", "/v1/organization/projects/{project_id}/api_keys", "admin",
     "KeyRequest", "Issue a project API key (its value is returned once)"),
    ("org_list_api_keys", "get", "/v1/organization/projects/{project_id}/api_keys", "admin", None,
     "A project's API keys (never the keys themselves)"),
    ("org_get_api_key", "get", "/v1/organization/projects/{project_id}/api_keys/{key_id}",
     "admin", None, "One of a project's API keys"),
    ("org_delete_api_key", "delete", "/v1/organization/projects/{project_id}/api_keys/{key_id}",
     "admin", None, "Revoke one of a project's API keys"),
    ("org_project_usage", "get", "/v1/organization/projects/{project_id}/usage", "admin", None,
     "A project's usage rows and totals"),
    ("org_create_webhook_secret", "post", "/v1/organization/projects/{project_id}/webhook_secret",
     "admin", None, "A new webhook signing secret for the project's jobs (returned once)"),
    ("org_get_limits", "get", "/v1/organization/projects/{project_id}/limits", "admin", None,
     "A project's limits and budget"),
    ("org_put_limits", "put", "/v1/organization/projects/{project_id}/limits", "admin",
     "ProjectLimits", "Set a project's limits and budget"),
    ("org_delete_limits", "delete", "/v1/organization/projects/{project_id}/limits", "admin", None,
     "Remove a project's limits"),
    ("org_usage_completions", "get", "/v1/organization/usage/completions", "admin", None,
     "Chat and Responses usage in time buckets (OpenAI's usage API)"),
    ("org_usage_embeddings", "get", "/v1/organization/usage/embeddings", "admin", None,
     "Embeddings usage in time buckets"),
    ("org_usage_images", "get", "/v1/organization/usage/images", "admin", None,
     "Images usage in time buckets"),
    ("org_usage_audio_speeches", "get", "/v1/organization/usage/audio_speeches", "admin", None,
     "Speech usage (characters) in time buckets"),
    ("org_usage_audio_transcriptions", "get", "/v1/organization/usage/audio_transcriptions",
     "admin", None, "Transcription usage (seconds) in time buckets"),
    ("org_costs", "get", "/v1/organization/costs", "admin", None,
     "Costs in time buckets (OpenAI's costs API)"),
    ("org_usage_summary", "get", "/v1/organization/usage/summary", "admin", None,
     "Per model and project: requests, errors, cost, tokens, latency p50/p95"),
    ("org_project_status", "get", "/v1/organization/projects/{project_id}/status", "admin",
     None, "A project's limits with consumption, jobs by status, live realtime sessions"),
    ("console", "get", "/console/{path}", "none", None,
     "The console web page and its assets (sign in with the admin key or Entra ID)"),
]

_MULTIPART = {"TranscriptionRequest", "FileUpload"}
_USAGE_QUERY = [("start_time", True), ("end_time", False), ("bucket_width", False),
                ("group_by", False), ("project_ids", False), ("api_key_ids", False),
                ("models", False), ("limit", False), ("page", False)]
_QUERY = {**{name: _USAGE_QUERY for name in (
              "org_usage_completions", "org_usage_embeddings", "org_usage_images",
              "org_usage_audio_speeches", "org_usage_audio_transcriptions", "org_costs")},
          "org_usage_summary": [("start_time", False), ("end_time", False)],
          "org_project_usage": [("since", False), ("until", False), ("limit", False)],
          "list_chat_jobs": [("status", False), ("limit", False), ("after", False)],
          "list_response_input_items": [("limit", False), ("order", False), ("after", False),
                                        ("before", False)],
          "list_batches": [("limit", False), ("after", False)],
          "list_files": [("purpose", False), ("limit", False), ("order", False),
                         ("after", False)]}

# Azure OpenAI's routes (blueprints/azure_api.py, azure_batch_api.py): each the twin of a /v1
# operation, under `/openai/deployments/{deployment}` (the operations Azure routes by
# deployment) or `/openai` with a dated `api-version`, and under `/openai/v1` with an optional
# one. Derived, so a twin cannot drift from its /v1 operation.
_AZURE_DEPLOYMENT_OPS = ("chat_completions", "embeddings", "image_generations", "audio_speech",
                         "audio_transcriptions", "audio_translations")
_AZURE_TWINS = _AZURE_DEPLOYMENT_OPS + (
    "list_models", "get_model", "create_response", "get_response", "delete_response",
    "list_response_input_items", "cancel_response", "create_file", "list_files", "get_file",
    "delete_file", "file_content", "create_batch", "list_batches", "get_batch", "cancel_batch")


def _add_azure_twins() -> None:
    """The Azure routes' rows in OPERATIONS and their query parameters in _QUERY."""
    by_name = {op[0]: op for op in OPERATIONS}
    for prefix, base, dated in (("azure_", "/openai", True), ("azure_v1_", "/openai/v1", False)):
        for twin in _AZURE_TWINS:
            _, method, path, auth, body, _ = by_name[twin]
            where = (base + "/deployments/{deployment}" if dated and twin in _AZURE_DEPLOYMENT_OPS
                     else base)
            surface = "Azure OpenAI route" if dated else "Azure OpenAI v1 route"
            OPERATIONS.append((prefix + twin, method, where + path.removeprefix("/v1"), auth,
                               body, f"{surface}: as {method.upper()} {path}"))
            _QUERY[prefix + twin] = [("api-version", dated)] + _QUERY.get(twin, [])


_add_azure_twins()

# OpenAI's file expiry range (shared/files/expiry.py)
_EXPIRY_SECONDS = {"type": "integer", "minimum": 3600, "maximum": 2592000}
_MESSAGE = {"type": "object", "required": ["role"], "additionalProperties": True,
            "properties": {"role": {"type": "string"},
                           "content": {"anyOf": [{"type": "string"}, {"type": "array"},
                                                 {"type": "null"}]},
                           "name": {"type": "string"}}}

_ANTHROPIC_MESSAGE = {"type": "object", "required": ["role", "content"],
                      "additionalProperties": True,
                      "properties": {"role": {"enum": ["user", "assistant"]},
                                     "content": {"anyOf": [{"type": "string"},
                                                           {"type": "array",
                                                            "items": {"type": "object"}}]}}}
_ANTHROPIC_PROMPT = {
    "model": {"type": "string"},
    "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
    "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
    "tools": {"type": "array", "items": {"type": "object"}},
    "tool_choice": {"type": "object"}, "thinking": {"type": "object"}}
# Operations whose errors come in Anthropic's envelope rather than OpenAI's.
ANTHROPIC_OPERATIONS = frozenset({"messages", "messages_count_tokens"})

_HAND_WRITTEN: dict[str, Any] = {
    "MessagesRequest": {
        "type": "object", "required": ["model", "messages", "max_tokens"],
        "additionalProperties": True,
        "properties": {**_ANTHROPIC_PROMPT,
                       "max_tokens": {"type": "integer", "minimum": 1},
                       "stream": {"type": "boolean"},
                       "stop_sequences": {"type": "array", "items": {"type": "string"}},
                       "temperature": {"type": "number"}, "top_p": {"type": "number"},
                       "metadata": {"type": "object"}}},
    "CountTokensRequest": {"type": "object", "required": ["model", "messages"],
                           "additionalProperties": True, "properties": _ANTHROPIC_PROMPT},
    "AnthropicError": {
        "type": "object", "required": ["type", "error"],
        "properties": {"type": {"const": "error"}, "error": {
            "type": "object", "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}},
    "ChatCompletionRequest": {
        "type": "object", "required": ["model", "messages"], "additionalProperties": True,
        "properties": {
            "model": {"type": "string"},
            "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object",
                               "properties": {"include_usage": {"type": "boolean"}}},
            "n": {"type": "integer", "minimum": 1},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number"}, "top_p": {"type": "number"},
            "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
            "user": {"type": "string"}}},
    "ResponseRequest": {
        "type": "object", "required": ["model"], "additionalProperties": False,
        "properties": {
            "model": {"type": "string"},
            "input": {"anyOf": [{"type": "string"}, {"type": "array",
                                                      "items": {"type": "object"}}]},
            "instructions": {"type": "string"},
            "previous_response_id": {"type": "string"},
            "stream": {"type": "boolean"}, "store": {"type": "boolean"},
            "background": {"type": "boolean"},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
            "parallel_tool_calls": {"type": "boolean"},
            "text": {"type": "object"}, "reasoning": {"type": "object"},
            "max_output_tokens": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "client_metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "user": {"type": "string"}, "safety_identifier": {"type": "string"},
            "prompt_cache_key": {"type": "string"},
            "service_tier": {"enum": ["auto", "default"]},
            "truncation": {"enum": ["disabled"]},
            "include": {"type": "array", "items": {"type": "string"}},
            "stream_options": {"type": "object"}}},
    "EmbeddingsRequest": {
        "type": "object", "required": ["model", "input"], "additionalProperties": False,
        "properties": {
            "model": {"type": "string"},
            "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                {"type": "array", "items": {"type": "integer"}}]},
            "encoding_format": {"enum": ["float", "base64"]},
            "dimensions": {"type": "integer", "minimum": 1}, "user": {"type": "string"}}},
    "ImageRequest": {
        "type": "object", "required": ["model", "prompt"], "additionalProperties": False,
        "properties": {
            "model": {"type": "string"}, "prompt": {"type": "string"},
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "size": {"type": "string", "pattern": "^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$"},
            "quality": {"type": "string"}, "style": {"type": "string"},
            "response_format": {"enum": ["url", "b64_json"]}, "user": {"type": "string"}}},
    "SpeechRequest": {
        "type": "object", "required": ["model", "input", "voice"], "additionalProperties": False,
        "properties": {
            "model": {"type": "string"}, "input": {"type": "string", "maxLength": 4096},
            "voice": {"type": "string"},
            "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
            "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0},
            "instructions": {"type": "string"}}},
    "TranscriptionRequest": {
        "type": "object", "required": ["model", "file"],
        "properties": {
            "file": {"type": "string", "format": "binary"}, "model": {"type": "string"},
            "language": {"type": "string"}, "prompt": {"type": "string"},
            "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]},
            "temperature": {"type": "number"},
            "timestamp_granularities[]": {"type": "array",
                                          "items": {"enum": ["word", "segment"]}}}},
    "FileUpload": {
        "type": "object", "required": ["file", "purpose"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "format": "binary"},
                       "purpose": {"enum": ["batch", "user_data"]},
                       # `expires_after` as the openai SDKs put a nested object in a form
                       "expires_after[anchor]": {"enum": ["created_at"]},
                       "expires_after[seconds]": _EXPIRY_SECONDS}},
    "BatchRequest": {
        "type": "object", "required": ["input_file_id", "endpoint", "completion_window"],
        "additionalProperties": False,
        "properties": {"input_file_id": {"type": "string"},
                       "endpoint": {"enum": ["/v1/chat/completions", "/v1/embeddings",
                                             "/v1/responses", "/chat/completions",
                                             "/embeddings"]},
                       "completion_window": {"enum": ["24h"]},
                       "metadata": {"type": "object", "maxProperties": 16,
                                    "additionalProperties": {"type": "string",
                                                             "maxLength": 512}},
                       "output_expires_after": {
                           "type": "object", "required": ["anchor", "seconds"],
                           "additionalProperties": False,
                           "properties": {"anchor": {"enum": ["created_at"]},
                                          "seconds": _EXPIRY_SECONDS}}}},
    "ChatJobRequest": {
        "allOf": [{"$ref": "#/components/schemas/ChatCompletionRequest"}],
        "type": "object", "required": ["model", "messages"], "additionalProperties": True,
        "properties": {
            "model": {"type": "string"},
            "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
            "priority": {"type": "integer", "minimum": 1, "maximum": 10},
            "ttl_hours": {"type": "integer", "minimum": 1},
            "webhook_url": {"type": "string"}, "idempotency_key": {"type": "string"},
            "custom_id": {"type": "string"}}},
    "RealtimeSessionRequest": {
        "type": "object", "additionalProperties": True,
        "properties": {"model": {"type": "string"}, "voice": {"type": "string"},
                       "instructions": {"type": "string"},
                       "input_audio_transcription": {"type": "object"}}},
    "RealtimeClientSecretRequest": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "expires_after": {"type": "object", "additionalProperties": False,
                              "properties": {"anchor": {"enum": ["created_at"]},
                                             "seconds": {"type": "integer", "minimum": 10,
                                                         "maximum": 7200}}},
            "session": {"type": "object", "required": ["type"], "additionalProperties": True,
                        "properties": {"type": {"enum": ["realtime"]},
                                       "model": {"type": "string"},
                                       "speech_model": {"type": "string"},
                                       "instructions": {"type": "string"},
                                       "output_modalities": {"type": "array",
                                                             "items": {"enum": ["text",
                                                                                "audio"]}},
                                       "audio": {"type": "object"},
                                       "tools": {"type": "array"}}}}},
    "KeyRequest": {"type": "object", "additionalProperties": False,
                   "properties": {"name": {"type": "string"}}},
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]},
                           "code": {"type": ["string", "null"]}}}}},
}

_REF = "#/components/schemas/{model}"


def _components() -> dict[str, Any]:
    schemas = dict(_HAND_WRITTEN)
    for model in (ModelDocument, ProjectLimits):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _operation(name: str, method: str, path: str, auth: str, body: str | None,
               summary: str) -> dict[str, Any]:
    anthropic = name in ANTHROPIC_OPERATIONS
    op: dict[str, Any] = {"operationId": name, "summary": summary, "responses": {
        "200": {"description": "OK"},
        "default": {"description": "Error (Anthropic's envelope)" if anthropic
                    else "Error (OpenAI's envelope)", "content": {"application/json": {
                        "schema": {"$ref": _REF.format(
                            model="AnthropicError" if anthropic else "Error")}}}}}}
    if auth != "none":
        op["security"] = ([{"projectKey": []}, {"azureApiKey": []}] if auth == "project"
                          else [{"adminKey": []}])
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
              for p in re.findall(r"{(\w+)}", path)]
    params += [{"name": q, "in": "query", "required": req, "schema": {"type": "string"}}
               for q, req in _QUERY.get(name, [])]
    if params:
        op["parameters"] = params
    if body:
        media = "multipart/form-data" if body in _MULTIPART else "application/json"
        op["requestBody"] = {"required": True, "content": {media: {
            "schema": {"$ref": _REF.format(model=body)}}}}
    return op


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for row in OPERATIONS:
        paths.setdefault(row[2], {})[row[1]] = _operation(*row)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM Proxy", "version": "1.0.0",
                 "description": "An OpenAI-compatible LLM gateway, which also speaks "
                                "Anthropic's Messages API. Errors use OpenAI's envelope (on "
                                "the Messages routes, Anthropic's); see docs/api.md for "
                                "statuses and limits."},
        "paths": paths,
        "components": {"schemas": _components(), "securitySchemes": {
            "projectKey": {"type": "http", "scheme": "bearer",
                           "description": "A project key (or the `api-key` or "
                                          "`x-api-key` header)"},
            "azureApiKey": {"type": "apiKey", "in": "header", "name": "api-key",
                            "description": "A project key, as the AzureOpenAI client sends it"},
            "adminKey": {"type": "http", "scheme": "bearer",
                         "description": "LLMPROXY_ADMIN_KEY"}}},
    }
