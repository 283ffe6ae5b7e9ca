"""The Files API with the official openai SDK over real sockets, on both storage backends."""
from __future__ import annotations

import io
import os

import httpx
import openai
import pytest

from .batch_support import MAX_FILE, batch_gateway, openai_for  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def alpha(openai_for):
    return openai_for("files-alpha")


@pytest.fixture(scope="module")
def beta(openai_for):
    return openai_for("files-beta")


def test_upload_get_list_download_delete(alpha):
    data = os.urandom(300 * 1024)            # several network reads: the stream is reassembled
    created = alpha.files.create(file=("data.bin", data), purpose="user_data")
    assert created.object == "file" and created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose) == (len(data), "data.bin",
                                                                   "user_data")
    assert created.status == "processed" and created.created_at > 0
    assert alpha.files.retrieve(created.id) == created
    assert alpha.files.content(created.id).content == data
    listed = alpha.files.list(purpose="user_data")
    assert created.id in [f.id for f in listed.data]
    deleted = alpha.files.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "file")
    with pytest.raises(openai.NotFoundError):
        alpha.files.retrieve(created.id)


def test_batch_purpose_and_listing_order_and_paging(alpha):
    ids = [alpha.files.create(file=(f"in{i}.jsonl", b"{}\n"), purpose="batch").id
           for i in range(3)]
    page = alpha.files.list(purpose="batch", limit=2, order="asc")
    assert page.data[0].purpose == "batch"
    # Iterating a page follows `after` to the end, two at a time.
    every = [f.id for f in alpha.files.list(purpose="batch", order="asc", limit=2)]
    assert every[-3:] == ids
    newest_first = [f.id for f in alpha.files.list(purpose="batch")]
    assert newest_first[:3] == ids[::-1]
    assert page.has_more is True


def test_another_projects_file_is_not_found(alpha, beta):
    mine = alpha.files.create(file=("mine.txt", b"secret"), purpose="user_data")
    for call in (beta.files.retrieve, beta.files.content, beta.files.delete):
        with pytest.raises(openai.NotFoundError) as err:
            call(mine.id)
        assert err.value.body["code"] == "file_not_found"
    assert mine.id not in [f.id for f in beta.files.list()]
    assert alpha.files.content(mine.id).content == b"secret"


def test_a_file_over_the_limit_is_a_413_and_nothing_is_kept(alpha):
    before = {f.id for f in alpha.files.list()}
    with pytest.raises(openai.APIStatusError) as err:
        alpha.files.create(file=("big.bin", b"x" * (MAX_FILE + 1)), purpose="user_data")
    assert err.value.status_code == 413
    assert {f.id for f in alpha.files.list()} == before
    at_limit = alpha.files.create(file=("edge.bin", b"x" * MAX_FILE), purpose="user_data")
    assert at_limit.bytes == MAX_FILE


def test_a_stream_without_length_over_the_limit_is_a_413(batch_gateway, alpha):
    """Chunked upload (no Content-Length): the limit is enforced while streaming."""
    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n"
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
        for _ in range(MAX_FILE // 65536 + 2):
            yield b"y" * 65536
        yield b"\r\n--b--\r\n"
    resp = httpx.post(batch_gateway.url + "/v1/files", content=body(),
                      headers={"Authorization": f"Bearer {alpha.api_key}",
                               "Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "request_too_large"


def test_file_before_purpose_is_accepted(batch_gateway, alpha):
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"late.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nfile first\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n--b--\r\n")
    resp = httpx.post(batch_gateway.url + "/v1/files", content=body,
                      headers={"Authorization": f"Bearer {alpha.api_key}",
                               "Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 200, resp.text
    assert alpha.files.content(resp.json()["id"]).content == b"file first"


@pytest.mark.parametrize("fields, param", [
    ({"purpose": "fine-tune"}, "purpose"),
    ({"purpose": "batch_output"}, "purpose"),
    ({}, "purpose"),
    ({"purpose": "user_data", "colour": "blue"}, "colour"),
])
def test_bad_forms_are_400s_naming_the_field(batch_gateway, alpha, fields, param):
    resp = httpx.post(batch_gateway.url + "/v1/files", data=fields,
                      files={"file": ("a.txt", io.BytesIO(b"a"))},
                      headers={"Authorization": f"Bearer {alpha.api_key}"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_missing_file_part_is_a_400(batch_gateway, alpha):
    resp = httpx.post(batch_gateway.url + "/v1/files", files={"purpose": (None, "batch")},
                      headers={"Authorization": f"Bearer {alpha.api_key}"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "file", resp.text
