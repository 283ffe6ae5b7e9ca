"""The console in a real browser: Debian's chromium driven by Playwright, against a running
gateway of its own (so its totals are exactly this module's traffic), with traffic made through
the openai SDK. Screenshots go to the test logs folder (console-*.png)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import expect

from .conftest import ADMIN_KEY, ISSUED_KEYS, ROOT, gateway_env, running_gateway
from .jobs_support import Jobs

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium is not installed (make test installs it)")
PROJECTS = {"shop": [("gpt-4o-mini", 3), ("claude-sonnet-4", 1)], "search": [("gpt-4.1", 2)]}


@pytest.fixture(scope="module")
def console_gateway(simulator, tmp_path_factory, logs_dir):
    # A roomier timeout than the suite's 3 s: the first Vertex call imports part of LiteLLM.
    env = {**gateway_env(simulator, tmp_path_factory.mktemp("console-data")),
           "LLMPROXY_REQUEST_TIMEOUT_SECONDS": "30",
           "LLMPROXY_REALTIME_CHAT_MODEL": "gpt-4o-mini"}
    env.pop("WebPubSubConnectionString", None)        # the runner's local Web PubSub
    with running_gateway(env, logs_dir / "gateway-console.log") as url:
        yield url


@pytest.fixture(scope="module")
def org(console_gateway):
    with httpx.Client(base_url=console_gateway, timeout=30,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        yield c


def new_key(org, project: str) -> str:
    resp = org.post(f"/v1/organization/projects/{project}/api_keys", json={"name": "traffic"})
    assert resp.status_code == 201, resp.text
    ISSUED_KEYS.append(resp.json()["value"])
    return resp.json()["value"]


def sdk(gateway: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0)


def chat(client: openai.OpenAI, model: str = "gpt-4o-mini"):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello console [sim:cached=3]"}])


@pytest.fixture(scope="module")
def traffic(console_gateway, org) -> dict:
    """The SDK calls, and the usage rows they left (what the console must add up)."""
    for project, calls in PROJECTS.items():
        client = sdk(console_gateway, new_key(org, project))
        for model, n in calls:
            for _ in range(n):
                chat(client, model)
    rows = [r for p in PROJECTS
            for r in org.get(f"/v1/organization/projects/{p}/usage").json()["data"]]
    return {"rows": rows, "cost": sum(r["cost"] for r in rows),
            "input": sum(r["prompt_tokens"] for r in rows),
            "output": sum(r["completion_tokens"] for r in rows)}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright          # noqa: PLC0415 (only here)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, logs_dir, request):
    context = browser.new_context(viewport={"width": 1200, "height": 1500})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    pg.screenshot(path=str(logs_dir / f"console-{request.node.name}.png"), full_page=True)
    context.close()
    # 401/404 answers the page expects (a wrong key, no /.auth/me locally) log as errors too.
    assert not [e for e in errors if "status of 40" not in e], errors


def sign_in_with_keyboard(page, gateway: str, key: str = ADMIN_KEY) -> None:
    page.goto(gateway + "/console/")
    page.keyboard.press("Tab")                     # the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "admin-key"
    page.keyboard.type(key)
    page.keyboard.press("Enter")


def money(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text))


def test_sign_in_and_the_charts_show_the_traffics_totals(page, console_gateway, traffic,
                                                         logs_dir):
    sign_in_with_keyboard(page, console_gateway)
    spend = page.locator("#total-spend")
    expect(page.locator("#total-spend")).not_to_have_text("–")
    assert money(spend.text_content()) == pytest.approx(traffic["cost"], rel=1e-5)
    assert page.locator("#total-requests").text_content() == str(len(traffic["rows"])) == "6"
    assert page.locator("#total-input").text_content().replace(",", "") == str(traffic["input"])
    assert page.locator("#total-output").text_content().replace(",", "") == str(traffic["output"])
    # The charts: one stacked series per project (spend) and per model (tokens), their totals
    # in the accessible name.
    chart = page.get_by_role("img", name=re.compile("^Spend by project: total"))
    assert money(chart.get_attribute("aria-label").split("total")[1]) == pytest.approx(
        traffic["cost"], rel=1e-5)
    assert page.locator("#chart-spend .legend li").all_text_contents() == ["search", "shop"]
    tokens = page.get_by_role("img", name=re.compile("^Tokens by project: total"))
    assert tokens.get_attribute("aria-label").endswith(
        f"{traffic['input'] + traffic['output']:,}")
    # The same traffic broken down by model instead.
    page.get_by_label("Break down by").select_option("model")
    by_model = page.get_by_role("img", name=re.compile("^Spend by model: total"))
    by_model.wait_for()
    assert money(by_model.get_attribute("aria-label").split("total")[1]) == pytest.approx(
        traffic["cost"], rel=1e-5)
    assert page.locator("#chart-tokens .legend li").all_text_contents() == [
        "claude-sonnet-4", "gpt-4.1", "gpt-4o-mini"]
    assert page.get_by_role("img", name=re.compile("^Tokens by model: total")).get_attribute(
        "aria-label").endswith(f"{traffic['input'] + traffic['output']:,}")
    top = page.locator("#top-projects tbody tr").first.locator("td").all_text_contents()
    assert top[0] in PROJECTS and top[2] in ("4", "2")
    health = {r.locator("td").first.text_content(): r.locator("td").all_text_contents()
              for r in page.locator("#model-health tbody tr").all()}
    assert health["gpt-4o-mini"][1:4] == ["3", "0", "0.0%"]
    assert health["gpt-4o-mini"][4].startswith("≤ ")
    page.screenshot(path=str(logs_dir / "console-overview.png"), full_page=True)
    if os.environ.get("REFRESH_CONSOLE_SCREENSHOT"):       # refresh the one in docs/
        shutil.copy(logs_dir / "console-overview.png", ROOT / "docs" / "console.png")


def test_a_wrong_key_is_refused_with_a_message(page, console_gateway):
    sign_in_with_keyboard(page, console_gateway, "llmp-wrong-key")
    alert = page.get_by_role("alert").filter(has_text="admin key")
    alert.wait_for()
    assert page.locator("#app").is_hidden()


def test_create_and_revoke_a_key_from_the_console(page, console_gateway, traffic):
    sign_in_with_keyboard(page, console_gateway)
    expect(page.locator("#total-spend")).not_to_have_text("–")
    page.get_by_role("tab", name="Overview").press("ArrowRight")       # to Catalog, by keyboard
    page.keyboard.press("ArrowRight")                                  # to Projects
    assert page.get_by_role("tab", name="Projects").get_attribute("aria-selected") == "true"
    page.get_by_label("Project", exact=True).and_(page.get_by_role("combobox")).fill("shop")
    page.get_by_label("Project", exact=True).and_(page.get_by_role("combobox")).press("Enter")
    page.get_by_label("New key name").fill("from the console")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    shown.filter(has_text="shown once").wait_for()
    key = shown.text_content().rsplit(" ", 1)[1]
    ISSUED_KEYS.append(key)
    assert chat(sdk(console_gateway, key)).choices[0].message.content
    row = page.locator("#keys-table tbody tr", has_text="from the console")
    key_id = row.locator("td").first.text_content()
    page.get_by_role("button", name=f"Revoke {key_id}").click()
    page.locator("#new-key", has_text=f"Key {key_id} revoked").wait_for()
    with pytest.raises(openai.AuthenticationError):
        chat(sdk(console_gateway, key))


def test_change_a_limit_and_see_it_enforced(page, console_gateway, org, traffic):
    sign_in_with_keyboard(page, console_gateway)
    page.get_by_role("tab", name="Projects").click()
    page.get_by_label("Project", exact=True).and_(page.get_by_role("combobox")).fill("search")
    page.get_by_role("button", name="Open").click()
    page.get_by_label("Requests per minute").fill("1")
    page.get_by_label("Budget", exact=True).fill("5")
    page.get_by_role("button", name="Save limits").click()
    page.locator("#limits-result", has_text="saved").wait_for()
    saved = org.get("/v1/organization/projects/search/limits").json()
    assert (saved["requests_per_minute"], saved["budget"]) == (1, 5)
    expect(page.locator("#use-budget")).to_have_text(re.compile(r"^\$0 spent this day"))
    client = sdk(console_gateway, new_key(org, "search"))
    chat(client)
    with pytest.raises(openai.RateLimitError):
        chat(client)
    rows = org.get("/v1/organization/projects/search/usage").json()["data"]    # newest first
    assert [r["status"] for r in rows[:2]] == [429, 200]
    spent = rows[1]["cost"]                  # the one call admitted since the limits were set
    page.get_by_role("button", name="Open").click()             # consumption, read again
    # The day's spend (a minute's request count could roll over to the next minute here).
    expect(page.locator("#use-budget")).to_have_text(re.compile(r"^\$0\.0\d* spent this day"))
    assert money(page.locator("#use-budget").text_content().split(" spent")[0]) == \
        pytest.approx(spent, rel=1e-4)
    org.delete("/v1/organization/projects/search/limits")


def test_every_control_has_a_label_and_the_tabs_follow_the_aria_pattern(page, console_gateway):
    sign_in_with_keyboard(page, console_gateway)
    page.locator("#app").wait_for()
    for tab in ("Catalog", "Projects", "Overview"):
        page.get_by_role("tab", name=tab).click()
        unlabeled = page.evaluate("""() => [...document.querySelectorAll(
            'input, select, textarea, button')].filter(e => e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                    && !e.textContent.trim()).map(e => e.outerHTML)""")
        assert unlabeled == [], tab
    tabs = page.get_by_role("tab")
    assert tabs.count() == 3
    assert [t.get_attribute("tabindex") for t in tabs.all()] == ["0", "-1", "-1"]
    page.get_by_role("tab", name="Overview").press("End")
    assert page.evaluate("document.activeElement.textContent") == "Projects"
    assert page.locator("#projects").is_visible() and page.locator("#overview").is_hidden()


def test_catalog_flags_unpriced_classes_and_edits_a_model(page, console_gateway, org):
    sign_in_with_keyboard(page, console_gateway)
    page.get_by_role("tab", name="Catalog").click()
    row = page.locator("#catalog-table tbody tr", has_text="gpt-4o-mini")
    row.locator(".flag").filter(has_text="reasoning_tokens").wait_for()
    page.get_by_role("button", name="Edit gpt-4o-mini").click()
    doc = page.get_by_label("Model document (JSON)").input_value()
    assert '"priced_like_parent"' not in doc
    page.get_by_label("Model document (JSON)").fill(
        doc.replace('"cost_output_1Mtokens": 0.6', '"cost_output_1Mtokens": 0.6, '
                    '"cost_reasoning_1Mtokens": 0.6'))
    page.get_by_role("button", name="Save model").click()
    page.locator("#catalog-result", has_text="gpt-4o-mini saved").wait_for()
    assert "reasoning_tokens" not in org.get("/v1/organization/models/gpt-4o-mini").json()[
        "priced_like_parent"]


def test_jobs_and_live_realtime_sessions_of_a_project(page, console_gateway, org, traffic):
    key = new_key(org, "voice")
    created = httpx.post(console_gateway + "/v1/realtime/sessions", json={},
                         headers={"Authorization": f"Bearer {key}"})
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    jobs_api = Jobs(console_gateway, key)
    job = jobs_api.submit("a job for the console")
    assert job.status_code == 202, job.text
    assert jobs_api.wait(job.json()["execution_id"])["status"] == "completed"
    sign_in_with_keyboard(page, console_gateway)
    page.get_by_role("tab", name="Projects").click()
    page.get_by_label("Project", exact=True).and_(page.get_by_role("combobox")).fill("voice")
    page.get_by_role("button", name="Open").click()
    page.locator("#sessions-table tbody tr", has_text=session_id).wait_for()
    jobs = {r.locator("td").first.text_content(): r.locator("td").nth(1).text_content()
            for r in page.locator("#jobs-table tbody tr").all()}
    assert jobs == {"queued": "0", "processing": "0", "completed": "1", "failed": "0",
                    "cancelled": "0"}


def test_catalog_import_of_a_json_array(page, console_gateway, org):
    doc = org.get("/v1/organization/models/gpt-4o-mini").json()
    doc.pop("priced_like_parent")
    imported = [{**doc, "id": "imported-a"}, {**doc, "id": "imported-b"}]
    sign_in_with_keyboard(page, console_gateway)
    page.get_by_role("tab", name="Catalog").click()
    page.get_by_label("A JSON array of model documents").fill(json.dumps(imported))
    page.get_by_role("button", name="Import").click()
    page.locator("#catalog-result", has_text="Imported 2: imported-a, imported-b").wait_for()
    page.locator("#catalog-table tbody tr", has_text="imported-b").wait_for()
    assert org.get("/v1/organization/models/imported-a").status_code == 200
