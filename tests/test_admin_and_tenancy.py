"""The admin API's authorization, the catalog through it, private models, key revocation."""
from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import ADMIN_KEY

MSG = [{"role": "user", "content": "hi"}]


def private_model(model_id: str, projects: list[str]) -> dict:
    return {"id": model_id, "name": "private deployment", "code": "private-deployment",
            "provider": "Azure", "model_type": "AzureOpenAI",
            "parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL",
                           "api_key": "$SIMULATOR_AZURE_API_KEY", "api_version": "2024-10-21"},
            "costs": {"cost_input_1Mtokens": 1.0, "cost_output_1Mtokens": 2.0},
            "operations": ["ChatCompletion"], "projects": projects, "private": True}


def test_admin_needs_the_admin_key(gateway, key):
    assert httpx.get(gateway + "/v1/organization/models").status_code == 401
    wrong = httpx.get(gateway + "/v1/organization/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    as_project = httpx.get(gateway + "/v1/organization/models", headers={"Authorization": f"Bearer {key}"})
    assert as_project.status_code == 403
    assert as_project.json()["error"]["type"] == "permission_error"
    ok = httpx.get(gateway + "/v1/organization/models", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert ok.status_code == 200


def test_model_crud(admin):
    doc = private_model("crud-model", ["alpha"])
    put = admin.put("/v1/organization/models/crud-model", json=doc)
    assert put.status_code == 200, put.text
    assert admin.get("/v1/organization/models/crud-model").json()["code"] == "private-deployment"
    assert "crud-model" in {m["id"] for m in admin.get("/v1/organization/models").json()["data"]}
    assert admin.delete("/v1/organization/models/crud-model").status_code == 200
    assert admin.get("/v1/organization/models/crud-model").status_code == 404
    assert admin.delete("/v1/organization/models/crud-model").status_code == 404


@pytest.mark.parametrize("change, param", [
    ({"provider": "Azurre"}, "provider"),
    ({"operations": []}, "operations"),
    ({"operations": ["ChatCompletion", "dancing"]}, "operations.1"),
    ({"model_type": "GoogleVertex"}, None),               # type does not match provider
    ({"costs": {"cost_input_1Mtokens": -1}}, "costs.cost_input_1Mtokens"),
    ({"parameters": {"api_base": "$LLMPROXY_SIMULATOR_URL", "api_vesion": "x"}},
     "parameters.api_vesion"),
    ({"private": True, "projects": []}, None),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_model_documents_are_400(admin, change, param):
    doc = {**private_model("bad-model", ["alpha"]), **change}
    resp = admin.put("/v1/organization/models/bad-model", json=doc)
    assert resp.status_code == 400, resp.text
    if param:
        assert resp.json()["error"]["param"] == param


def test_legacy_per_1k_costs_are_converted(admin):
    doc = private_model("legacy-costs", ["alpha"])
    doc["costs"] = {"input": 0.001, "output": 0.002}
    assert admin.put("/v1/organization/models/legacy-costs", json=doc).status_code == 200
    costs = admin.get("/v1/organization/models/legacy-costs").json()["costs"]
    assert costs["cost_input_1Mtokens"] == 1.0 and costs["cost_output_1Mtokens"] == 2.0
    admin.delete("/v1/organization/models/legacy-costs")


def test_private_model_is_invisible_to_other_projects(gateway, admin, make_key):
    assert admin.put("/v1/organization/models/team-a-only",
                     json=private_model("team-a-only", ["team-a"])).status_code == 200
    a = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("team-a"), max_retries=0)
    b = openai.OpenAI(base_url=gateway + "/v1", api_key=make_key("team-b"), max_retries=0)
    assert "team-a-only" in {m.id for m in a.models.list()}
    assert a.chat.completions.create(model="team-a-only", messages=MSG).choices[0].message.content
    assert "team-a-only" not in {m.id for m in b.models.list()}
    with pytest.raises(openai.NotFoundError) as info:
        b.chat.completions.create(model="team-a-only", messages=MSG)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        b.models.retrieve("team-a-only")
    # Looking it up by its provider code must not work around the check either.
    with pytest.raises(openai.NotFoundError):
        b.chat.completions.create(model="private-deployment", messages=MSG)


def test_revoked_key_stops_working(gateway, admin):
    created = admin.post("/v1/organization/projects/revocable/api_keys", json={"name": "ci"})
    assert created.status_code == 201
    created = created.json()
    assert created["object"] == "organization.project.api_key"
    assert created["project_id"] == "revocable" and created["name"] == "ci"
    assert isinstance(created["created_at"], int) and created["revoked_at"] is None
    c = openai.OpenAI(base_url=gateway + "/v1", api_key=created["value"], max_retries=0)
    assert c.models.list().data
    listed = admin.get("/v1/organization/projects/revocable/api_keys").json()
    assert [k["id"] for k in listed["data"]] == [created["id"]]
    assert listed["first_id"] == listed["last_id"] == created["id"] and not listed["has_more"]
    assert all("hash" not in k and "value" not in k for k in listed["data"])
    path = f"/v1/organization/projects/revocable/api_keys/{created['id']}"
    assert admin.get(path).json()["id"] == created["id"]
    # Another project's path never reaches the key, to read or to revoke.
    other = f"/v1/organization/projects/someone-else/api_keys/{created['id']}"
    assert admin.get(other).status_code == 404
    assert admin.delete(other).status_code == 404
    assert c.models.list().data
    deleted = admin.delete(path)
    assert deleted.status_code == 200
    assert deleted.json() == {"object": "organization.project.api_key.deleted",
                              "id": created["id"], "deleted": True}
    assert admin.get(path).json()["revoked_at"] is not None
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_bad_project_id_is_400(admin):
    resp = admin.post("/v1/organization/projects/bad%20project/api_keys", json={})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "project"


def test_health_names_the_store_the_gateway_runs_on(gateway, store_kind):
    # The API suite runs once per backend: this proves each run really uses its store.
    resp = httpx.get(gateway + "/health")
    assert resp.status_code == 200
    assert resp.json()["store"] == store_kind
