"""The README's quickstart, as a user runs it: the runner on embedded defaults with no provider
credentials (so it starts its own simulator), a key from the CLI, then the openai SDK."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import ROOT, free_port, running_gateway, start, wait_for


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory, logs_dir):
    data = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "SIMULATOR_"))}
    env["LLMPROXY_DATA_DIR"] = str(data)
    log = logs_dir / "quickstart.log"
    with running_gateway(env, log) as url:
        yield url, env, log


def test_the_runners_own_simulator_stops_with_it(tmp_path, logs_dir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "SIMULATOR_"))}
    env["LLMPROXY_DATA_DIR"] = str(tmp_path)
    port = free_port()
    log = logs_dir / "quickstart-stop.log"
    proc = start(["-m", "runner", "--port", str(port)], env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc, log)
        simulator = re.search(r"simulator at (http://[0-9.]+:[0-9]+)", log.read_text()).group(1)
        assert httpx.get(simulator + "/_sim/health", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(15)
    with pytest.raises(httpx.ConnectError):
        httpx.get(simulator + "/_sim/health", timeout=5)


def manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_quickstart_as_documented(quickstart):
    url, env, log = quickstart
    assert "responses come from the local provider simulator" in log.read_text()
    created = manage(env, "create-key", "demo")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    assert "gpt-4o-mini" in {m.id for m in client.models.list()}
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}])
    assert "Hello!" in reply.choices[0].message.content
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "Stream"}]))
    assert "Stream" in text


def test_quickstart_media_as_documented(quickstart, tmp_path, monkeypatch):
    url, env, _ = quickstart
    monkeypatch.chdir(tmp_path)
    key = manage(env, "create-key", "demo").stdout.strip()
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(vectors.data) == 2
    image = client.images.generate(model="imagen-3.0-generate-002", prompt="a red boat",
                                   response_format="b64_json").data[0].b64_json
    assert image
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="Hello!", response_format="wav") as speech:
        speech.stream_to_file("hello.wav")
    text = client.audio.transcriptions.create(model="whisper-1", file=open("hello.wav", "rb")).text
    assert text.startswith("[simulated] transcript")


def test_cli_manages_keys_and_catalog(quickstart, tmp_path):
    url, env, _ = quickstart
    key = manage(env, "create-key", "cli-project", "--name", "ci").stdout.strip()
    listed = [json.loads(line) for line in manage(env, "list-keys", "cli-project").stdout.splitlines()]
    assert [k["name"] for k in listed] == ["ci"]
    assert manage(env, "revoke-key", listed[0]["key_id"]).returncode == 0
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0).models.list()
    exported = tmp_path / "catalog.json"
    assert manage(env, "export-catalog", str(exported)).returncode == 0
    docs = json.loads(exported.read_text())
    assert "gpt-4o-mini" in {d["id"] for d in docs}
    again = manage(env, "import-catalog", str(exported))          # idempotent round trip
    assert again.returncode == 0 and again.stdout.count("upserted") == len(docs)
    bad = manage(env, "revoke-key", "key_doesnotexist")
    assert bad.returncode == 1 and "No API key" in bad.stderr


def test_switching_to_real_providers_replaces_the_simulator_models(simulator, tmp_path, logs_dir):
    """`make run` once on the simulator, then again with Azure OpenAI configured: the simulator's
    untouched models give way to the example catalog's; what a person made or edited stays."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMPROXY_", "AZURE_OPENAI_", "VERTEX_", "SIMULATOR_"))}
    env["LLMPROXY_DATA_DIR"] = str(tmp_path)
    first = dict(env, LLMPROXY_SIMULATOR_URL=simulator)
    with running_gateway(first, logs_dir / "switch-1.log"):
        pass
    edited = json.loads((ROOT / "catalog" / "simulator.json").read_text())[0]
    mine = {**edited, "id": "my-own", "name": "mine"}
    edited = {**edited, "costs": {**edited["costs"], "cost_input_1Mtokens": 123.0}}
    (tmp_path / "mine.json").write_text(json.dumps([mine, edited]))
    assert manage(first, "import-catalog", str(tmp_path / "mine.json")).returncode == 0
    second = dict(env, AZURE_OPENAI_ENDPOINT="https://example.openai.azure.com",
                  AZURE_OPENAI_API_KEY="not-used-by-this-test")
    log = logs_dir / "switch-2.log"
    with running_gateway(second, log):
        banner = log.read_text()
    assert "replaced and" in banner and "simulator.json had seeded" in banner
    exported = manage(second, "export-catalog")
    models = {d["id"]: d for d in json.loads(exported.stdout)}
    example = {d["id"]: d for d in json.loads((ROOT / "catalog" / "example.json").read_text())}
    assert models["my-own"]["name"] == "mine"                          # created: kept
    assert models[edited["id"]]["costs"]["cost_input_1Mtokens"] == 123.0   # edited: kept
    simulator_only = {d["id"] for d in json.loads((ROOT / "catalog" / "simulator.json")
                                                  .read_text())} - set(example)
    assert simulator_only and not simulator_only & set(models)        # seeded only there: gone
    for model_id in set(example) - {edited["id"]}:
        assert models[model_id]["provider"] == example[model_id]["provider"]
        assert models[model_id].get("parameters") == example[model_id].get("parameters"), model_id


def test_cli_usage_is_a_table_with_totals_for_people(quickstart):
    url, env, _ = quickstart
    key = manage(env, "create-key", "cli-usage").stdout.strip()
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    for model in ("gpt-4o-mini", "gpt-4o-mini", "claude-sonnet-4"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    httpx.get(url + "/health")                      # the gateway writes usage in batches
    rows = httpx.get(f"{url}/v1/organization/projects/cli-usage/usage",
                     headers={"Authorization": "Bearer " + admin_key(env)}).json()["totals"]
    out = manage(env, "usage", "cli-usage")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Usage of project cli-usage:"
    total = next(line for line in lines if "all models" in line).split()
    assert total[:4] == ["all", "days", "all", "models"] and total[4] == "3"
    assert f"{rows['cost']:.6f}" == total[-1]
    per_model = {line.split()[2]: line.split()[3] for line in lines
                 if line.startswith("all days") and "all models" not in line}
    assert per_model == {"claude-sonnet-4": "1", "gpt-4o-mini": "2"}
    assert "Truncated" not in out.stdout
    assert "Truncated: these are the newest 1 requests" in manage(
        env, "usage", "cli-usage", "--limit", "1").stdout
    assert manage(env, "usage", "cli-usage", "--since", "2999-01-01").stdout.strip() == \
        "No usage for project cli-usage from 2999-01-01T00:00:00."
    assert manage(env, "usage", "nobody-here").stdout.strip() == "No usage for project nobody-here."
    bad = manage(env, "usage", "cli-usage", "--since", "yesterday")
    assert bad.returncode == 2 and "not an ISO 8601 date" in bad.stderr


def admin_key(env) -> str:
    secrets = Path(env["LLMPROXY_DATA_DIR"]) / "local-secrets.json"
    return json.loads(secrets.read_text())["LLMPROXY_ADMIN_KEY"]


def test_every_cli_command_and_option_has_help():
    import argparse
    from manage import COMMANDS, build_parser
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(COMMANDS)
    assert all(choice.help for choice in sub._choices_actions)      # listed in --help
    for name, command in sub.choices.items():
        assert command.description == COMMANDS[name]
        for action in command._actions:
            assert action.help, f"{name} {action.dest} has no help text"
    listed = subprocess.run([sys.executable, "manage.py", "--help"], cwd=ROOT,
                            capture_output=True, text=True).stdout
    assert all(name in listed for name in COMMANDS) and "Issue a new API key" in listed
