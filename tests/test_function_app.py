"""The Functions app indexes the way the Python worker will: routes, methods, bindings, typing."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing

import azure.functions as func
import pytest
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from .conftest import ROOT

# The API as docs/api.md documents it: function name -> (route, methods).
DOCUMENTED = {
    "chat_completions": ("v1/chat/completions", ["POST"]),
    "messages": ("v1/messages", ["POST"]),
    "messages_count_tokens": ("v1/messages/count_tokens", ["POST"]),
    "list_models": ("v1/models", ["GET"]),
    "get_model": ("v1/models/{id}", ["GET"]),
    "embeddings": ("v1/embeddings", ["POST"]),
    "image_generations": ("v1/images/generations", ["POST"]),
    "audio_speech": ("v1/audio/speech", ["POST"]),
    "audio_transcriptions": ("v1/audio/transcriptions", ["POST"]),
    "audio_translations": ("v1/audio/translations", ["POST"]),
    "health": ("health", ["GET"]),
    "openapi": ("openapi.json", ["GET"]),
    "org_list_models": ("v1/organization/models", ["GET"]),
    "org_get_model": ("v1/organization/models/{id}", ["GET"]),
    "org_put_model": ("v1/organization/models/{id}", ["PUT"]),
    "org_delete_model": ("v1/organization/models/{id}", ["DELETE"]),
    "org_create_api_key": ("v1/organization/projects/{project_id}/api_keys", ["POST"]),
    "org_list_api_keys": ("v1/organization/projects/{project_id}/api_keys", ["GET"]),
    "org_get_api_key": ("v1/organization/projects/{project_id}/api_keys/{key_id}", ["GET"]),
    "org_delete_api_key": ("v1/organization/projects/{project_id}/api_keys/{key_id}", ["DELETE"]),
    "org_project_usage": ("v1/organization/projects/{project_id}/usage", ["GET"]),
    "org_get_limits": ("v1/organization/projects/{project_id}/limits", ["GET"]),
    "org_put_limits": ("v1/organization/projects/{project_id}/limits", ["PUT"]),
    "org_delete_limits": ("v1/organization/projects/{project_id}/limits", ["DELETE"]),
    "org_create_webhook_secret": ("v1/organization/projects/{project_id}/webhook_secret", ["POST"]),
    "submit_chat_job": ("v1/chat/completions/async", ["POST"]),
    "list_chat_jobs": ("v1/chat/completions/async", ["GET"]),
    "get_chat_job": ("v1/chat/completions/async/{id}", ["GET"]),
    "cancel_chat_job": ("v1/chat/completions/async/{id}", ["DELETE"]),
    "chat_job_metrics": ("v1/chat/completions/async/metrics", ["GET"]),
    "create_file": ("v1/files", ["POST"]),
    "list_files": ("v1/files", ["GET"]),
    "get_file": ("v1/files/{id}", ["GET"]),
    "delete_file": ("v1/files/{id}", ["DELETE"]),
    "file_content": ("v1/files/{id}/content", ["GET"]),
    "create_batch": ("v1/batches", ["POST"]),
    "list_batches": ("v1/batches", ["GET"]),
    "get_batch": ("v1/batches/{id}", ["GET"]),
    "cancel_batch": ("v1/batches/{id}/cancel", ["POST"]),
    "realtime_create_session": ("v1/realtime/sessions", ["POST"]),
    "realtime_create_client_secret": ("v1/realtime/client_secrets", ["POST"]),
    "realtime_list_sessions": ("v1/realtime/sessions", ["GET"]),
    "realtime_get_session": ("v1/realtime/sessions/{id}", ["GET"]),
    "realtime_delete_session": ("v1/realtime/sessions/{id}", ["DELETE"]),
    "org_usage_completions": ("v1/organization/usage/completions", ["GET"]),
    "org_usage_embeddings": ("v1/organization/usage/embeddings", ["GET"]),
    "org_usage_images": ("v1/organization/usage/images", ["GET"]),
    "org_usage_audio_speeches": ("v1/organization/usage/audio_speeches", ["GET"]),
    "org_usage_audio_transcriptions": ("v1/organization/usage/audio_transcriptions", ["GET"]),
    "org_costs": ("v1/organization/costs", ["GET"]),
    "org_usage_summary": ("v1/organization/usage/summary", ["GET"]),
    "org_project_status": ("v1/organization/projects/{project_id}/status", ["GET"]),
    "console": ("console/{*path}", ["GET"]),
    "create_response": ("v1/responses", ["POST"]),
    "get_response": ("v1/responses/{id}", ["GET"]),
    "delete_response": ("v1/responses/{id}", ["DELETE"]),
    "list_response_input_items": ("v1/responses/{id}/input_items", ["GET"]),
    "cancel_response": ("v1/responses/{id}/cancel", ["POST"]),
    # Azure OpenAI's routes (docs/azure-openai-clients.md)
    "azure_chat_completions": ("openai/deployments/{deployment}/chat/completions", ["POST"]),
    "azure_embeddings": ("openai/deployments/{deployment}/embeddings", ["POST"]),
    "azure_image_generations": ("openai/deployments/{deployment}/images/generations", ["POST"]),
    "azure_audio_speech": ("openai/deployments/{deployment}/audio/speech", ["POST"]),
    "azure_audio_transcriptions": ("openai/deployments/{deployment}/audio/transcriptions",
                                   ["POST"]),
    "azure_audio_translations": ("openai/deployments/{deployment}/audio/translations", ["POST"]),
    "azure_list_models": ("openai/models", ["GET"]),
    "azure_get_model": ("openai/models/{id}", ["GET"]),
    "azure_v1_chat_completions": ("openai/v1/chat/completions", ["POST"]),
    "azure_v1_embeddings": ("openai/v1/embeddings", ["POST"]),
    "azure_v1_image_generations": ("openai/v1/images/generations", ["POST"]),
    "azure_v1_audio_speech": ("openai/v1/audio/speech", ["POST"]),
    "azure_v1_audio_transcriptions": ("openai/v1/audio/transcriptions", ["POST"]),
    "azure_v1_audio_translations": ("openai/v1/audio/translations", ["POST"]),
    "azure_v1_list_models": ("openai/v1/models", ["GET"]),
    "azure_v1_get_model": ("openai/v1/models/{id}", ["GET"]),
    "azure_create_response": ("openai/responses", ["POST"]),
    "azure_get_response": ("openai/responses/{id}", ["GET"]),
    "azure_delete_response": ("openai/responses/{id}", ["DELETE"]),
    "azure_list_response_input_items": ("openai/responses/{id}/input_items", ["GET"]),
    "azure_cancel_response": ("openai/responses/{id}/cancel", ["POST"]),
    "azure_v1_create_response": ("openai/v1/responses", ["POST"]),
    "azure_v1_get_response": ("openai/v1/responses/{id}", ["GET"]),
    "azure_v1_delete_response": ("openai/v1/responses/{id}", ["DELETE"]),
    "azure_v1_list_response_input_items": ("openai/v1/responses/{id}/input_items", ["GET"]),
    "azure_v1_cancel_response": ("openai/v1/responses/{id}/cancel", ["POST"]),
    "azure_create_file": ("openai/files", ["POST"]),
    "azure_list_files": ("openai/files", ["GET"]),
    "azure_get_file": ("openai/files/{id}", ["GET"]),
    "azure_delete_file": ("openai/files/{id}", ["DELETE"]),
    "azure_file_content": ("openai/files/{id}/content", ["GET"]),
    "azure_create_batch": ("openai/batches", ["POST"]),
    "azure_list_batches": ("openai/batches", ["GET"]),
    "azure_get_batch": ("openai/batches/{id}", ["GET"]),
    "azure_cancel_batch": ("openai/batches/{id}/cancel", ["POST"]),
    "azure_v1_create_file": ("openai/v1/files", ["POST"]),
    "azure_v1_list_files": ("openai/v1/files", ["GET"]),
    "azure_v1_get_file": ("openai/v1/files/{id}", ["GET"]),
    "azure_v1_delete_file": ("openai/v1/files/{id}", ["DELETE"]),
    "azure_v1_file_content": ("openai/v1/files/{id}/content", ["GET"]),
    "azure_v1_create_batch": ("openai/v1/batches", ["POST"]),
    "azure_v1_list_batches": ("openai/v1/batches", ["GET"]),
    "azure_v1_get_batch": ("openai/v1/batches/{id}", ["GET"]),
    "azure_v1_cancel_batch": ("openai/v1/batches/{id}/cancel", ["POST"]),
}
# Non-HTTP functions: name -> (trigger type, output binding types by parameter name).
TRIGGERED = {
    "process_chat_jobs": ("eventHubTrigger", {"results": "cosmosDB", "followups": "eventHub"}),
    "requeue_stale_jobs": ("timerTrigger", {"events": "eventHub"}),
    "realtime_connect": ("webPubSubTrigger", {}),
    "realtime_connected": ("webPubSubTrigger", {}),
    "realtime_disconnected": ("webPubSubTrigger", {}),
    "realtime_message": ("webPubSubTrigger", {}),
}
# The Web PubSub triggers (generic bindings): name -> (event type, event name).
DOCUMENTED_WEBPUBSUB = {
    "realtime_connect": ("system", "connect"),
    "realtime_connected": ("system", "connected"),
    "realtime_disconnected": ("system", "disconnected"),
    "realtime_message": ("user", "message"),
}
# HTTP functions with output bindings besides the HTTP response.
HTTP_OUTPUTS = {"submit_chat_job": {"events": "eventHub"},
                "cancel_chat_job": {"events": "eventHub"},
                "create_response": {"events": "eventHub"},      # background responses
                "cancel_response": {"events": "eventHub"},
                "azure_create_response": {"events": "eventHub"},
                "azure_cancel_response": {"events": "eventHub"},
                "azure_v1_create_response": {"events": "eventHub"},
                "azure_v1_cancel_response": {"events": "eventHub"},
                "create_batch": {"events": "eventHub"},
                "cancel_batch": {"events": "eventHub"},
                "azure_create_batch": {"events": "eventHub"},
                "azure_cancel_batch": {"events": "eventHub"},
                "azure_v1_create_batch": {"events": "eventHub"},
                "azure_v1_cancel_batch": {"events": "eventHub"}}


@pytest.fixture(scope="module")
def functions():
    import function_app
    return function_app.app.get_functions()        # may be called once per app


def http(functions):
    return [f for f in functions if f.get_trigger().get_binding_name() == "httpTrigger"]


def outputs(fn) -> dict[str, str]:
    """Output bindings other than the HTTP response: parameter name -> binding type."""
    return {b["name"]: b["type"] for b in map(json.loads, fn.get_raw_bindings())
            if b["direction"] == "OUT" and b["name"] != "$return"}


def assert_out_parameters(fn, hints, expected: dict[str, str]) -> None:
    """Each output binding is a parameter of the same name typed `func.Out[...]`."""
    assert outputs(fn) == expected, fn.get_function_name()
    for name in expected:
        assert typing.get_origin(hints[name]) is func.Out, (fn.get_function_name(), name)


def test_every_documented_route_is_registered_and_nothing_else(functions):
    found = {}
    for fn in http(functions):
        trigger = fn.get_trigger()
        found[fn.get_function_name()] = (trigger.route,
                                         sorted(m.value for m in trigger.methods))
    assert found == {name: (route, sorted(methods)) for name, (route, methods) in DOCUMENTED.items()}


def test_http_functions_follow_the_workers_rules(functions):
    for fn in http(functions):
        trigger = fn.get_trigger()
        assert trigger.auth_level.value == "anonymous", fn.get_function_name()
        user = fn.get_user_function()
        assert inspect.iscoroutinefunction(user)
        hints = typing.get_type_hints(user)
        params = list(inspect.signature(user).parameters)
        # The trigger binding's name must be the first parameter, typed as the extension's
        # Request; any other parameter is an output binding the host passes as func.Out.
        extra = HTTP_OUTPUTS.get(fn.get_function_name(), {})
        assert params == [trigger.name, *extra] and trigger.name == "req", fn.get_function_name()
        assert_out_parameters(fn, hints, extra)
        assert issubclass(hints["req"], StarletteRequest)
        assert issubclass(hints["return"], StarletteResponse)
        raw = fn.get_raw_bindings()
        assert any('"type": "httpTrigger"' in b for b in raw)
        assert any('"type": "http"' in b for b in raw)      # the return binding


def test_non_http_functions_follow_the_workers_rules(functions):
    found = {f.get_function_name(): f for f in functions
             if f.get_trigger().get_binding_name() != "httpTrigger"}
    assert set(found) == set(TRIGGERED)
    for name, (trigger_type, expected_outputs) in TRIGGERED.items():
        fn = found[name]
        trigger = fn.get_trigger()
        # Generic bindings (Web PubSub) have no binding name of their own: their type says it.
        assert (trigger.get_binding_name() or trigger.get_dict_repr()["type"]) == trigger_type
        user = fn.get_user_function()
        assert inspect.iscoroutinefunction(user)
        hints = typing.get_type_hints(user)
        assert list(inspect.signature(user).parameters) == [trigger.name, *expected_outputs]
        assert_out_parameters(fn, hints, expected_outputs)


def test_event_hub_trigger_is_a_batch_with_a_retry_policy(functions):
    fn = next(f for f in functions if f.get_function_name() == "process_chat_jobs")
    trigger = json.loads(next(b for b in fn.get_raw_bindings() if "eventHubTrigger" in b))
    assert trigger["cardinality"] == "MANY"
    # The library rejects the built-in list[...]: it must be typing.List[func.EventHubEvent].
    hint = inspect.signature(fn.get_user_function()).parameters["events"].annotation
    assert hint == typing.List[func.EventHubEvent]
    retry = fn.get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff" and int(retry["max_retry_count"]) >= 1
    cosmos = json.loads(next(b for b in fn.get_raw_bindings() if '"cosmosDB"' in b))
    assert cosmos["containerName"] == "job_results"


def test_the_api_reference_table_lists_exactly_the_registered_functions():
    import re
    text = (ROOT / "docs" / "api.md").read_text()
    table = text.split("\n## Functions", 1)[1].split("\n\n", 2)[1]
    names = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, re.M))
    assert names == set(DOCUMENTED) | set(TRIGGERED)


def test_webpubsub_triggers_are_generic_bindings_on_the_realtime_hub(functions):
    found = {}
    for fn in functions:
        trigger = fn.get_trigger()
        spec = trigger.get_dict_repr()
        if spec.get("type") != "webPubSubTrigger":
            continue
        assert spec["hub"] == "realtime"
        assert spec["connection"] == "WebPubSubConnectionString"
        found[fn.get_function_name()] = (spec["eventType"], spec["eventName"])
        user = fn.get_user_function()
        assert inspect.iscoroutinefunction(user)
        # The trigger payload arrives as a JSON string in the binding's parameter.
        assert list(inspect.signature(user).parameters) == [trigger.name] == ["request"]
        assert typing.get_type_hints(user)["request"] is str
    assert found == DOCUMENTED_WEBPUBSUB


def test_function_names_are_unique(functions):
    names = [f.get_function_name() for f in functions]
    assert len(names) == len(set(names))


def test_host_json_has_no_route_prefix():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["version"] == "2.0"


def test_importing_the_app_imports_neither_litellm_nor_opens_a_store():
    # Cold start: each of these is imported by the first call that needs it (a LiteLLM model,
    # the Cosmos store, a webhook delivery), never with the app.
    code = ("import sys, function_app; "
            "assert 'litellm' not in sys.modules, 'litellm imported at load'; "
            "assert 'aiohttp' not in sys.modules, 'aiohttp imported at load'; "
            "assert 'azure.cosmos' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_core_does_not_import_azure_functions():
    import ast
    for path in (ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("azure.functions", "azurefunctions")), path
