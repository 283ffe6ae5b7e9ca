"""File expiry (`expires_after` on upload, `output_expires_after` on a batch) with the official
openai SDK over real sockets, on both storage backends. Expiry is made testable without waiting
an hour by rewriting a file's object through the storage layer with an `expires_at` in the
past, as time would have made it; the gateway's timers run every second here, so its sweep
runs as it would every 5 minutes in Azure."""
from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from shared.files import expiry, files
from shared.files.storage import one_chunk

from .batch_support import (batch_gateway, openai_for, with_objects)  # noqa: F401 (fixtures)
from .jobs_support import eventually
from .test_batches import chat_line, lines_of, wait

GATEWAY_SETTINGS = {"LLMPROXY_LOCAL_TIMER_SECONDS": "1"}
PROJECT = "expiry-alpha"
DAY = 24 * 3600


@pytest.fixture(scope="module")
def alpha(openai_for):
    return openai_for(PROJECT)


def _post_form(gateway, client, parts):
    """A raw multipart upload, the parts in the given order (name, value or (filename, bytes))."""
    boundary = "expiry-test-boundary"
    body = b""
    for name, value in parts:
        if isinstance(value, tuple):
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{value[0]}"\r\n\r\n').encode() + value[1] + b"\r\n"
        else:
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                     f'\r\n\r\n{value}\r\n').encode()
    body += f"--{boundary}--\r\n".encode()
    return httpx.post(gateway.url + "/v1/files", content=body,
                      headers={"Authorization": f"Bearer {client.api_key}",
                               "Content-Type": f"multipart/form-data; boundary={boundary}"})


def make_expired(gateway, file_id: str) -> tuple[str, str]:
    """Rewrite the file's object as time would leave it: `expires_at` passed, its marker due.
    (container, object name)."""
    async def use(storage):
        container, info = await files.find(storage, PROJECT, file_id)
        data = b"".join([c async for c in await storage.read(container, info.name)])
        past = int(time.time()) - 60
        await expiry.schedule(storage, container, info.name, past)
        await storage.write(container, info.name, one_chunk(data),
                            metadata={**info.metadata, "expires_at": str(past)})
        return container, info.name
    return with_objects(gateway, use)


def stored(gateway, container: str, name: str) -> bool:
    async def use(storage):
        return await storage.info(container, name) is not None
    return with_objects(gateway, use)


def test_expires_after_with_the_sdks_parameter_and_with_extra_body(alpha):
    typed = alpha.files.create(file=("a.txt", b"a"), purpose="user_data",
                               expires_after={"anchor": "created_at", "seconds": 3600})
    assert typed.expires_at == typed.created_at + 3600
    assert alpha.files.retrieve(typed.id).expires_at == typed.expires_at
    listed = {f.id: f for f in alpha.files.list(purpose="user_data")}
    assert listed[typed.id].expires_at == typed.expires_at
    # Azure OpenAI's batch quickstart, as AzureOpenAI users copy it.
    azure_style = alpha.files.create(
        file=("in.jsonl", b"{}\n"), purpose="batch",
        extra_body={"expires_after": {"seconds": 1209600, "anchor": "created_at"}})
    assert azure_style.expires_at == azure_style.created_at + 1209600
    assert alpha.files.content(azure_style.id).content == b"{}\n"


def test_azure_openai_batch_quickstart_with_expiry(batch_gateway, alpha):
    """Azure's quickstart as written: `AzureOpenAI` on /openai/files and /openai/batches, both
    policies through `extra_body`, the endpoint in Azure's spelling."""
    az = openai.AzureOpenAI(azure_endpoint=batch_gateway.url, api_key=alpha.api_key,
                            api_version="2025-03-01-preview", max_retries=0, timeout=60)
    line = {**chat_line("task-0", "azure with expiry"), "url": "/chat/completions"}
    uploaded = az.files.create(
        file=("test.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch",
        extra_body={"expires_after": {"seconds": 1209600, "anchor": "created_at"}})
    assert uploaded.expires_at == uploaded.created_at + 1209600
    batch = az.batches.create(
        input_file_id=uploaded.id, endpoint="/chat/completions", completion_window="24h",
        extra_body={"output_expires_after": {"seconds": 1209600, "anchor": "created_at"}})
    done = wait(az, batch.id)
    assert done.status == "completed", done.errors
    output = az.files.retrieve(done.output_file_id)
    assert output.expires_at == output.created_at + 1209600
    assert set(lines_of(az, done.output_file_id)) == {"task-0"}


def test_batch_inputs_expire_after_30_days_by_default_and_other_files_never(alpha):
    batch_input = alpha.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    assert batch_input.expires_at == batch_input.created_at + 30 * DAY
    data = alpha.files.create(file=("d.txt", b"d"), purpose="user_data")
    assert data.expires_at is None and alpha.files.retrieve(data.id).expires_at is None


@pytest.mark.parametrize("order", ["curl", "node"])
def test_expiry_fields_after_the_file_still_apply(batch_gateway, alpha, order):
    """OpenAI's curl example sends `expires_after[...]` after the file; the Node SDK sends the
    fields in the order of the object, `file` usually first."""
    fields = [("expires_after[anchor]", "created_at"), ("expires_after[seconds]", "7200")]
    file_part = ("file", ("late.jsonl", b"late fields\n"))
    parts = ([("purpose", "batch"), file_part] if order == "curl"
             else [file_part, ("purpose", "batch")]) + fields
    resp = _post_form(batch_gateway, alpha, parts)
    assert resp.status_code == 200, resp.text
    created = resp.json()
    assert created["expires_at"] == created["created_at"] + 7200
    assert alpha.files.retrieve(created["id"]).expires_at == created["expires_at"]
    assert alpha.files.content(created["id"]).content == b"late fields\n"


@pytest.mark.parametrize("fields, param", [
    ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"},
     "expires_after[anchor]"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3599"},
     "expires_after[seconds]"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "2592001"},
     "expires_after[seconds]"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "1.5e4"},
     "expires_after[seconds]"),
    ({"expires_after[seconds]": "3600"}, "expires_after[anchor]"),
    ({"expires_after[anchor]": "created_at"}, "expires_after[seconds]"),
    ({"expires_after": '{"anchor": "created_at", "seconds": 3600}'}, "expires_after"),
])
@pytest.mark.parametrize("file_first", [False, True])
def test_bad_expiry_is_a_400_naming_the_field_and_nothing_is_kept(batch_gateway, alpha, fields,
                                                                  param, file_first):
    before = {f.id for f in alpha.files.list()}
    file_part = [("file", ("bad.txt", b"never kept"))]
    form = [("purpose", "user_data"), *fields.items()]
    resp = _post_form(batch_gateway, alpha, file_part + form if file_first else form + file_part)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    assert {f.id for f in alpha.files.list()} == before


def test_an_out_of_range_expiry_through_the_sdk_is_the_gateways_400(alpha):
    """Through the SDK too: an out-of-range value comes back as the gateway's 400."""
    with pytest.raises(openai.BadRequestError) as err:
        alpha.files.create(file=("a.txt", b"a"), purpose="user_data",
                           expires_after={"anchor": "created_at", "seconds": 60})
    assert err.value.body["param"] == "expires_after[seconds]"


def test_an_expired_file_is_gone(batch_gateway, alpha):
    lines = json.dumps(chat_line("x", "never runs")) + "\n"
    doomed = alpha.files.create(file=("in.jsonl", lines.encode()), purpose="batch",
                                expires_after={"anchor": "created_at", "seconds": 3600})
    alive = alpha.files.create(file=("in.jsonl", lines.encode()), purpose="batch")
    make_expired(batch_gateway, doomed.id)
    for call in (alpha.files.retrieve, alpha.files.content, alpha.files.delete):
        with pytest.raises(openai.NotFoundError) as err:
            call(doomed.id)
        assert err.value.body["code"] == "file_not_found"
    for listing in (alpha.files.list(), alpha.files.list(purpose="batch")):
        ids = [f.id for f in listing]
        assert doomed.id not in ids and alive.id in ids
    with pytest.raises(openai.NotFoundError) as err:
        alpha.batches.create(input_file_id=doomed.id, endpoint="/v1/chat/completions",
                             completion_window="24h")
    assert err.value.body["param"] == "input_file_id"
    assert alpha.files.retrieve(alive.id).id == alive.id


def test_the_sweep_deletes_expired_files_nobody_touches(batch_gateway, alpha):
    untouched = alpha.files.create(file=("u.txt", b"u"), purpose="user_data",
                                   expires_after={"anchor": "created_at", "seconds": 3600})
    kept = alpha.files.create(file=("k.txt", b"k"), purpose="user_data",
                              expires_after={"anchor": "created_at", "seconds": 3600})
    container, name = make_expired(batch_gateway, untouched.id)
    eventually(lambda: not stored(batch_gateway, container, name),
               "the timer's sweep to delete the expired file")
    assert stored(batch_gateway, container, f"{PROJECT}/{kept.id}")
    assert alpha.files.retrieve(kept.id).expires_at == kept.expires_at


def test_output_expires_after_sets_the_output_and_error_files_expiry(alpha, sim):
    sim.post("/_sim/faults", json={"match": "claude-sonnet-4", "status": 400, "count": 1})
    lines = [chat_line("good", "fine"), chat_line("refused", "x", model="claude-sonnet-4")]
    data = "".join(json.dumps(l) + "\n" for l in lines).encode()
    batch = alpha.batches.create(
        input_file_id=alpha.files.create(file=("in.jsonl", data), purpose="batch").id,
        endpoint="/v1/chat/completions", completion_window="24h",
        output_expires_after={"anchor": "created_at", "seconds": 7200})
    done = wait(alpha, batch.id)
    assert done.status == "completed" and done.output_file_id and done.error_file_id
    for file_id in (done.output_file_id, done.error_file_id):
        out = alpha.files.retrieve(file_id)
        assert out.purpose == "batch_output" and out.expires_at == out.created_at + 7200
    assert set(lines_of(alpha, done.output_file_id)) == {"good"}
    # Azure's quickstart spelling, on a batch that fails validation: its error file too.
    bad = alpha.batches.create(
        input_file_id=alpha.files.create(file=("bad.jsonl", b"{not json\n"),
                                         purpose="batch").id,
        endpoint="/v1/chat/completions", completion_window="24h",
        extra_body={"output_expires_after": {"seconds": 1209600, "anchor": "created_at"}})
    failed = wait(alpha, bad.id)
    assert failed.status == "failed"
    error_file = alpha.files.retrieve(failed.error_file_id)
    assert error_file.expires_at == error_file.created_at + 1209600


def test_batch_output_files_stay_until_deleted_by_default(alpha):
    data = (json.dumps(chat_line("one", "hi")) + "\n").encode()
    batch = alpha.batches.create(
        input_file_id=alpha.files.create(file=("in.jsonl", data), purpose="batch").id,
        endpoint="/v1/chat/completions", completion_window="24h")
    done = wait(alpha, batch.id)
    assert alpha.files.retrieve(done.output_file_id).expires_at is None


@pytest.mark.parametrize("value, param", [
    ({"anchor": "completed_at", "seconds": 3600}, "output_expires_after.anchor"),
    ({"anchor": "created_at", "seconds": 60}, "output_expires_after.seconds"),
    ({"anchor": "created_at", "seconds": "3600"}, "output_expires_after.seconds"),
    ({"anchor": "created_at"}, "output_expires_after.seconds"),
    ({"anchor": "created_at", "seconds": 3600, "extra": 1}, "output_expires_after"),
    ("14 days", "output_expires_after"),
])
def test_bad_output_expires_after_is_a_400_naming_the_field(batch_gateway, alpha, value, param):
    input_id = alpha.files.create(file=("in.jsonl", b"{}\n"), purpose="batch").id
    resp = httpx.post(batch_gateway.url + "/v1/batches",
                      json={"input_file_id": input_id, "endpoint": "/v1/chat/completions",
                            "completion_window": "24h", "output_expires_after": value},
                      headers={"Authorization": f"Bearer {alpha.api_key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
