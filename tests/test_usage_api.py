"""The usage and costs API in OpenAI's Admin API shape, read with the openai SDK's own admin
client (`client.admin.organization.usage`), after traffic made with the SDK."""
from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY

DAY = 86400


@pytest.fixture(scope="module")
def org(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key="unused", admin_api_key=ADMIN_KEY,
                         max_retries=0)


@pytest.fixture(scope="module")
def traffic(gateway, make_key, admin):
    """Two projects' calls: chat (one streamed, with cached tokens), embeddings, an image,
    speech; the usage rows they left, by project."""
    made = {}
    for project in ("usage-api-a", "usage-api-b"):
        key = make_key(project)
        c = openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0)
        c.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "count these words [sim:cached=40]"}])
        list(c.chat.completions.create(model="claude-sonnet-4", stream=True, messages=[
            {"role": "user", "content": "and these [sim:cached=7] [sim:cache_write=5]"}]))
        c.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
        c.images.generate(model="dall-e-3", prompt="a square", size="1024x1024")
        c.audio.speech.create(model="tts-1", voice="alloy", input="hello there").read()
        rows = admin.get(f"/v1/organization/projects/{project}/usage").json()["data"]
        made[project] = {"rows": rows, "key_id": rows[0]["key_id"]}
    return made


def results(page) -> list:
    return [r for bucket in page.data for r in bucket.results]


def start_of_today() -> int:
    now = int(time.time())
    return now - now % DAY


def test_completions_usage_per_project_and_model(org, traffic):
    page = org.admin.organization.usage.completions(
        start_time=start_of_today() - DAY, group_by=["project_id", "model"],
        project_ids=list(traffic))
    assert page.object == "page" and page.has_more is False and page.next_page is None
    assert [b.object for b in page.data] == ["bucket", "bucket"]
    assert page.data[1].start_time - page.data[0].start_time == DAY
    got = {(r.project_id, r.model): r for r in results(page)}
    for project, made in traffic.items():
        for model in ("gpt-4o-mini", "claude-sonnet-4"):
            rows = [r for r in made["rows"] if r["model"] == model]
            r = got[(project, model)]
            assert r.object == "organization.usage.completions.result"
            assert r.num_model_requests == len(rows) == 1
            assert r.input_tokens == sum(x["prompt_tokens"] for x in rows)
            assert r.output_tokens == sum(x["completion_tokens"] for x in rows)
            assert r.input_cached_tokens == sum(x["cached_input_tokens"] for x in rows)
            assert r.api_key_id is None and r.user_id is None
    assert got[("usage-api-a", "gpt-4o-mini")].input_cached_tokens == 40
    claude = got[("usage-api-a", "claude-sonnet-4")]
    assert (claude.input_cached_tokens, claude.input_cache_write_tokens) == (7, 5)
    assert claude.input_uncached_tokens == claude.input_tokens - 12


def test_other_kinds_count_their_own_units(org, traffic):
    u = org.admin.organization.usage
    kw = {"start_time": start_of_today(), "project_ids": ["usage-api-a"],
          "group_by": ["api_key_id"]}
    key_id = traffic["usage-api-a"]["key_id"]
    (emb,) = results(u.embeddings(**kw))
    assert (emb.object, emb.api_key_id, emb.num_model_requests) == (
        "organization.usage.embeddings.result", key_id, 1)
    assert emb.input_tokens == next(r["prompt_tokens"] for r in traffic["usage-api-a"]["rows"]
                                    if r["operation"] == "embeddings") > 0
    (img,) = results(u.images(**kw))
    assert (img.object, img.images, img.num_model_requests) == (
        "organization.usage.images.result", 1, 1)
    (tts,) = results(u.audio_speeches(**kw))
    assert (tts.object, tts.characters) == ("organization.usage.audio_speeches.result",
                                           len("hello there"))
    assert results(u.audio_transcriptions(**kw)) == []


@pytest.mark.parametrize("width", ["1d", "1h", "1m"])
def test_costs_sum_the_rows_at_every_bucket_width(org, traffic, width):
    now = int(time.time())
    start = now - {"1d": DAY, "1h": 3 * 3600, "1m": 50 * 60}[width]
    page = org.admin.organization.usage.costs(
        start_time=start, end_time=now + 60, bucket_width=width, group_by=["project_id"],
        project_ids=list(traffic), limit=180)
    assert not page.has_more
    totals: dict[str, float] = {}
    for r in results(page):
        assert r.object == "organization.costs.result" and r.amount.currency == "usd"
        totals[r.project_id] = totals.get(r.project_id, 0) + r.amount.value
    for project, made in traffic.items():
        assert totals[project] == pytest.approx(sum(r["cost"] for r in made["rows"]))
        assert totals[project] > 0


def test_pages_walk_every_bucket_once(org, traffic):
    start = start_of_today() - 4 * DAY
    seen, page_token, pages = [], None, 0
    while True:
        page = org.admin.organization.usage.completions(
            start_time=start, limit=2, project_ids=["usage-api-a"],
            **({"page": page_token} if page_token else {}))
        pages += 1
        seen += [b.start_time for b in page.data]
        if not page.has_more:
            break
        page_token = page.next_page
    assert seen == [start + i * DAY for i in range(5)] and pages == 3
    (today,) = results(page)
    assert today.num_model_requests == 2 and today.project_id is None


def test_key_and_model_filters(org, traffic):
    key_b = traffic["usage-api-b"]["key_id"]
    page = org.admin.organization.usage.completions(
        start_time=start_of_today(), api_key_ids=[key_b], models=["gpt-4o-mini"],
        group_by=["project_id"])
    assert [(r.project_id, r.num_model_requests) for r in results(page)] == [("usage-api-b", 1)]


@pytest.mark.parametrize("params, param", [
    ({}, "start_time"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"start_time": 100, "end_time": 50}, "end_time"),
    ({"start_time": 100, "bucket_width": "2h"}, "bucket_width"),
    ({"start_time": 100, "limit": 32}, "limit"),
    ({"start_time": 100, "bucket_width": "1m", "limit": 1441}, "limit"),
    ({"start_time": 100, "group_by": "user_id"}, "group_by"),
    ({"start_time": 100, "group_by": "colour"}, "group_by"),
    ({"start_time": 100, "page": "page_bm90LWEtY3Vyc29y"}, "page"),
])
def test_bad_parameters_are_400s_naming_them(admin, params, param):
    resp = admin.get("/v1/organization/usage/completions", params=params)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_only_the_admin_key_reads_usage(gateway, key):
    url = gateway + "/v1/organization/costs?start_time=0"
    assert httpx.get(url).status_code == 401
    resp = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 403 and resp.json()["error"]["type"]
