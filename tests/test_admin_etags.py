"""Admin documents carry versions (issue 20 item 11): `ETag` on read and write, `If-Match`
honoured with a 412 when the document changed, and the CLI's read-merge-write conditional with
retry, so concurrent edits made from one read never silently lose one."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from .conftest import ROOT
from .test_catalog_cli import cli_env  # noqa: F401  (a fixture: each store)
from .test_routing import deployment


def test_a_model_write_from_a_stale_read_is_412(admin):
    model_id = f"etag-{uuid.uuid4().hex[:8]}"
    created = admin.put(f"/v1/organization/models/{model_id}", json=deployment(model_id),
                        headers={"If-Match": '"absent"'})
    assert created.status_code == 200, created.text
    read = admin.get(f"/v1/organization/models/{model_id}")
    tag = read.headers["etag"]
    assert tag == created.headers["etag"] and tag.startswith('"')
    first = {**deployment(model_id), "name": "first edit"}
    second = {**deployment(model_id), "name": "second edit"}
    ok = admin.put(f"/v1/organization/models/{model_id}", json=first, headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.headers["etag"] != tag
    stale = admin.put(f"/v1/organization/models/{model_id}", json=second, headers={"If-Match": tag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert admin.get(f"/v1/organization/models/{model_id}").json()["name"] == "first edit"
    again = admin.put(f"/v1/organization/models/{model_id}", json=first, headers={"If-Match": '"absent"'})
    assert again.status_code == 412                    # create-only: it exists
    assert admin.put(f"/v1/organization/models/{model_id}", json=second).status_code == 200  # no If-Match
    admin.delete(f"/v1/organization/models/{model_id}")


def test_a_limits_write_from_a_stale_read_is_412(admin):
    project = f"etag-{uuid.uuid4().hex[:8]}"
    read = admin.get(f"/v1/organization/projects/{project}/limits")
    assert read.status_code == 200 and read.headers["etag"] == '"absent"'
    one = admin.put(f"/v1/organization/projects/{project}/limits", json={"requests_per_minute": 5},
                    headers={"If-Match": read.headers["etag"]})
    assert one.status_code == 200, one.text
    two = admin.put(f"/v1/organization/projects/{project}/limits", json={"requests_per_minute": 7},
                    headers={"If-Match": read.headers["etag"]})
    assert two.status_code == 412, two.text
    now = admin.get(f"/v1/organization/projects/{project}/limits")
    assert now.json()["requests_per_minute"] == 5 and now.headers["etag"] == one.headers["etag"]
    three = admin.put(f"/v1/organization/projects/{project}/limits", json={"requests_per_minute": 9},
                      headers={"If-Match": now.headers["etag"]})
    assert three.status_code == 200


def test_concurrent_cli_set_limits_for_different_keys_keeps_every_key(cli_env):  # noqa: F811
    keys = [f"key{i}" for i in range(8)]
    # One CLI run first: it creates the Cosmos database and containers (creating them from
    # eight processes at once is a separate race, not this test's).
    subprocess.run([sys.executable, "manage.py", "show-limits", "busy"], cwd=ROOT, env=cli_env,
                   capture_output=True, timeout=120, check=True)
    procs = [subprocess.Popen([sys.executable, "manage.py", "set-limits", "busy", "--key", k,
                               "--rpm", str(10 + i)], cwd=ROOT, env=cli_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, k in enumerate(keys)]
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    shown = subprocess.run([sys.executable, "manage.py", "show-limits", "busy"], cwd=ROOT,
                           env=cli_env, capture_output=True, text=True, timeout=120)
    limits = json.loads(shown.stdout)
    assert {k: v["requests_per_minute"] for k, v in limits["keys"].items()} == \
        {k: 10 + i for i, k in enumerate(keys)}
