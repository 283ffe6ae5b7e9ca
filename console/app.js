// The LLM Proxy console: plain JavaScript, no build step, no third-party code. Every figure comes
// from the management API; charts are drawn as SVG here.
"use strict";

// Management API routes the console calls (one place to change if a route moves).
const API = {
  costs: "/v1/organization/costs",
  completions: "/v1/organization/usage/completions",
  summary: "/v1/organization/usage/summary",
  projectStatus: (p) => `/v1/organization/projects/${enc(p)}/status`,
  models: "/v1/organization/models",
  model: (id) => `/v1/organization/models/${enc(id)}`,
  keys: (p) => `/v1/organization/projects/${enc(p)}/api_keys`,
  key: (p, id) => `/v1/organization/projects/${enc(p)}/api_keys/${enc(id)}`,
  limits: (p) => `/v1/organization/projects/${enc(p)}/limits`,
};
const RANGES = { "24h": [86400, "1h", 25], "7d": [7 * 86400, "1d", 8], "30d": [30 * 86400, "1d", 31] };
const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#65a30d",
                "#db2777", "#4b5563", "#92400e"];
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let adminKey = sessionStorage.getItem("llmproxy-admin-key") || "";
let entra = false;

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (adminKey) headers.Authorization = `Bearer ${adminKey}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { ...options, headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, (data.error && data.error.message) || resp.statusText);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
  }
  return q.toString();
}

const money = (v) => `$${v >= 100 ? v.toFixed(2) : Number(v.toPrecision(6))}`;
const count = (v) => Math.round(v).toLocaleString("en-US");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child));
  return node;
}

function table(id, headers, rows) {
  const t = $(id);
  t.replaceChildren(el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))
      : el("tr", {}, el("td", { colspan: headers.length }, "Nothing yet."))));
}

function showError(err) {
  $("status").textContent = err ? `${err.message}` : "";
  if (err && err.status === 401) signOut();
}

// -- sign-in ----------------------------------------------------------------------------------
async function detectEntra() {
  // With App Service Authentication on, /.auth/me says who is signed in; elsewhere it is a 404.
  try {
    const resp = await fetch("/.auth/me", { credentials: "same-origin" });
    if (!resp.ok) return false;
    const me = await resp.json();
    if (Array.isArray(me) && me.length) {
      $("who").textContent = `Signed in as ${me[0].user_id}`;
      return true;
    }
    $("entra-sign-in").hidden = false;
  } catch (_) { /* not on App Service */ }
  return false;
}

async function start() {
  try {
    await api(`${API.summary}?${query({})}`);          // proves the credential
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      $("sign-in-error").textContent = err.status === 403 ? "That is a project key; the console needs the admin key." : err.message;
      signOut();
      return;
    }
    throw err;
  }
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = entra;
  if (!entra) $("who").textContent = "Signed in with the admin key";
  $("tab-overview").focus();
  await loadOverview();
}

function signOut() {
  adminKey = "";
  sessionStorage.removeItem("llmproxy-admin-key");
  $("app").hidden = true;
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("who").textContent = "";
}

// -- tabs (arrow keys move between them, as the ARIA tabs pattern says) -------------------------
function selectTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  tab.focus();
  const panel = tab.getAttribute("aria-controls");
  if (panel === "catalog") loadCatalog().catch(showError);
  if (panel === "overview") loadOverview().catch(showError);
}

function tabKeys(event) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const i = tabs.indexOf(event.target);
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  selectTab(tabs[(next + tabs.length) % tabs.length]);
}

// -- overview ---------------------------------------------------------------------------------
function stackedBars(figureId, title, buckets, series, format) {
  // buckets: [{start, values: {name: number}}]; one stacked bar per bucket, a legend below.
  const W = 720, H = 220, pad = 40;
  const totals = buckets.map((b) => Object.values(b.values).reduce((a, v) => a + v, 0));
  const max = Math.max(...totals, 0) || 1;
  const total = totals.reduce((a, v) => a + v, 0);
  const bw = (W - pad) / Math.max(buckets.length, 1);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 20}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title}: total ${format(total)}`);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.append(add("text", { x: 0, y: 12, class: "axis" }, format(max)));
  svg.append(add("line", { x1: pad, y1: H, x2: W, y2: H, class: "axis-line" }));
  buckets.forEach((b, i) => {
    let y = H;
    series.forEach((name, s) => {
      const v = b.values[name] || 0;
      if (!v) return;
      const h = (v / max) * (H - 20);
      y -= h;
      const rect = add("rect", { x: pad + i * bw + 1, y, width: Math.max(bw - 2, 1), height: h,
        fill: COLORS[s % COLORS.length] });
      rect.append(add("title", {}, `${new Date(b.start * 1000).toISOString().slice(0, 16)} ${name}: ${format(v)}`));
      svg.append(rect);
    });
  });
  const first = buckets[0], last = buckets[buckets.length - 1];
  if (first) svg.append(add("text", { x: pad, y: H + 15, class: "axis" }, new Date(first.start * 1000).toISOString().slice(0, 10)));
  if (last) svg.append(add("text", { x: W - 80, y: H + 15, class: "axis" }, new Date(last.start * 1000).toISOString().slice(0, 10)));
  const swatch = (s) => {      // colored through the CSSOM: the page's CSP allows no inline styles
    const span = el("span", { class: "swatch" });
    span.style.background = COLORS[s % COLORS.length];
    return span;
  };
  const legend = el("ul", { class: "legend" }, series.map((name, s) => el("li", {}, swatch(s), name)));
  const caption = el("figcaption", {}, `${title}: total ${format(total)}`);
  $(figureId).replaceChildren(svg, legend, caption);
}

function byBucket(page, key, measure) {
  const names = new Set();
  const buckets = page.data.map((b) => {
    const values = {};
    for (const r of b.results) {
      const name = r[key] || "(all)";
      names.add(name);
      values[name] = (values[name] || 0) + measure(r);
    }
    return { start: b.start_time, values };
  });
  return { buckets, series: [...names].sort() };
}

async function loadOverview() {
  const [span, width, limit] = RANGES[$("range").value];
  const now = Math.floor(Date.now() / 1000);
  const params = { start_time: now - span, end_time: now + 60, bucket_width: width, limit };
  const by = $("breakdown").value;                          // project_id or model
  const label = by === "model" ? "model" : "project";
  const [costs, usage, summary] = await Promise.all([
    api(`${API.costs}?${query({ ...params, group_by: [by] })}`),
    api(`${API.completions}?${query({ ...params, group_by: [by] })}`),
    api(`${API.summary}?${query({ start_time: now - span, end_time: now + 3600 })}`),
  ]);
  const spend = byBucket(costs, by, (r) => r.amount.value);
  stackedBars("chart-spend", `Spend by ${label}`, spend.buckets, spend.series, money);
  const tokens = byBucket(usage, by, (r) => r.input_tokens + r.output_tokens);
  stackedBars("chart-tokens", `Tokens by ${label}`, tokens.buckets, tokens.series, count);
  const sum = (rows, f) => rows.reduce((a, r) => a + f(r), 0);
  $("total-spend").textContent = money(sum(costs.data, (b) => sum(b.results, (r) => r.amount.value)));
  $("total-requests").textContent = count(sum(summary.projects, (r) => r.requests));
  $("total-input").textContent = count(sum(summary.projects, (r) => r.input_tokens));
  $("total-output").textContent = count(sum(summary.projects, (r) => r.output_tokens));
  table("top-projects", ["Project", "Spend", "Requests", "Tokens"], summary.projects.slice(0, 10)
    .map((r) => [r.project, money(r.cost), count(r.requests), count(r.input_tokens + r.output_tokens)]));
  table("top-models", ["Model", "Spend", "Requests", "Tokens"], summary.models.slice(0, 10)
    .map((r) => [r.model, money(r.cost), count(r.requests), count(r.input_tokens + r.output_tokens)]));
  const ms = (v) => (v === null ? "–" : `≤ ${count(v)} ms`);
  table("model-health", ["Model", "Requests", "Errors", "Error rate", "Latency p50", "Latency p95"],
    summary.models.map((r) => [r.model, count(r.requests), count(r.errors),
      `${(r.error_rate * 100).toFixed(1)}%`, ms(r.latency_p50_ms), ms(r.latency_p95_ms)]));
  $("project-list").replaceChildren(...summary.projects.map((r) => el("option", { value: r.project })));
}

// -- catalog ----------------------------------------------------------------------------------
async function loadCatalog() {
  const models = (await api(API.models)).data;
  table("catalog-table", ["Model", "Provider", "Operations", "Prices (per 1M tokens)", ""],
    models.map((m) => [
      m.id, m.model_type, m.operations.join(", "),
      el("span", {}, Object.entries(m.costs).map(([k, v]) => `${k.replace(/^cost_|_1Mtokens$/g, "")} ${v}`).join(", "),
        m.priced_like_parent.length ? el("span", { class: "flag", title: "No price of their own: billed at the input or output price" },
          ` priced like parent: ${m.priced_like_parent.join(", ")}`) : ""),
      el("button", { type: "button", "aria-label": `Edit ${m.id}`, onclick: () => editModel(m) }, "Edit"),
    ]));
}

function editModel(model) {
  const doc = { ...model };
  delete doc.priced_like_parent;
  delete doc.warnings;
  $("model-json").value = JSON.stringify(doc, null, 2);
  $("model-json").focus();
}

async function saveModel(text) {
  const doc = JSON.parse(text);
  const saved = await api(API.model(doc.id), { method: "PUT", body: doc });
  return `${saved.id} saved${saved.warnings && saved.warnings.length ? ` (${saved.warnings.join("; ")})` : ""}`;
}

// -- projects ---------------------------------------------------------------------------------
let currentProject = "";

async function loadProject(project) {
  currentProject = project;
  const [keys, status] = await Promise.all([api(API.keys(project)), api(API.projectStatus(project))]);
  $("project-detail").hidden = false;
  const when = (unix) => (unix ? new Date(unix * 1000).toISOString().slice(0, 19) : "");
  table("keys-table", ["Key id", "Name", "Created", "Revoked", ""], keys.data.map((k) => [
    k.id, k.name, when(k.created_at), when(k.revoked_at),
    k.revoked_at ? "" : el("button", { type: "button", "aria-label": `Revoke ${k.id}`,
      onclick: () => revokeKey(k.id).catch(showError) }, "Revoke"),
  ]));
  const lim = status.limits, use = status.consumption;
  $("lim-rpm").value = lim.requests_per_minute ?? "";
  $("lim-tpm").value = lim.tokens_per_minute ?? "";
  $("lim-conc").value = lim.concurrent_requests ?? "";
  $("lim-budget").value = lim.budget ?? "";
  $("lim-period").value = lim.budget_period;
  $("use-rpm").textContent = `${count(use.requests_this_minute)} this minute`;
  $("use-tpm").textContent = `${count(use.tokens_this_minute)} this minute`;
  $("use-conc").textContent = `${count(use.concurrent_requests)} in flight`;
  $("use-budget").textContent = `${money(use.budget_spent)} spent this ${lim.budget_period} (since ${use.budget_period.slice(0, 16)})`;
  table("jobs-table", ["Status", "Jobs"], Object.entries(status.jobs).map(([s, n]) => [s, count(n)]));
  table("sessions-table", ["Session", "Status", "Created", "Models"], status.realtime_sessions.map((s) =>
    [s.id, s.status, s.created_at.slice(0, 19), Object.values(s.models).join(", ")]));
  $("limits-form").dataset.keys = JSON.stringify(lim.keys || {});
}

async function revokeKey(keyId) {
  await api(API.key(currentProject, keyId), { method: "DELETE" });
  $("new-key").textContent = `Key ${keyId} revoked.`;
  await loadProject(currentProject);
}

const numberOrNull = (id) => ($(id).value === "" ? null : Number($(id).value));

async function saveLimits() {
  const doc = { requests_per_minute: numberOrNull("lim-rpm"), tokens_per_minute: numberOrNull("lim-tpm"),
    concurrent_requests: numberOrNull("lim-conc"), budget: numberOrNull("lim-budget"),
    budget_period: $("lim-period").value, keys: JSON.parse($("limits-form").dataset.keys || "{}") };
  await api(API.limits(currentProject), { method: "PUT", body: doc });
  $("limits-result").textContent = `Limits of ${currentProject} saved.`;
  await loadProject(currentProject);
}

// -- wiring -----------------------------------------------------------------------------------
function onSubmit(id, action) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    showError(null);
    action().catch(showError);
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", tabKeys);
  }
  onSubmit("sign-in-form", async () => {
    adminKey = $("admin-key").value.trim();
    sessionStorage.setItem("llmproxy-admin-key", adminKey);
    $("admin-key").value = "";
    $("sign-in-error").textContent = "";
    await start();
  });
  $("sign-out").addEventListener("click", signOut);
  onSubmit("range-form", loadOverview);
  for (const id of ["range", "breakdown"]) $(id).addEventListener("change", () => loadOverview().catch(showError));
  onSubmit("model-form", async () => {
    $("catalog-result").textContent = await saveModel($("model-json").value);
    await loadCatalog();
  });
  onSubmit("import-form", async () => {
    const file = $("import-file").files[0];
    const text = file ? await file.text() : $("import-json").value;
    const docs = JSON.parse(text);
    const done = [];
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      await api(API.model(doc.id), { method: "PUT", body: doc });
      done.push(doc.id);
    }
    $("catalog-result").textContent = `Imported ${done.length}: ${done.join(", ")}`;
    await loadCatalog();
  });
  onSubmit("project-form", () => loadProject($("project").value.trim()));
  onSubmit("key-form", async () => {
    const made = await api(API.keys(currentProject), { method: "POST", body: { name: $("key-name").value } });
    $("new-key").textContent = `New key (shown once): ${made.value}`;
    $("key-name").value = "";
    await loadProject(currentProject);
  });
  onSubmit("limits-form", saveLimits);
  entra = await detectEntra();
  if (entra || adminKey) await start().catch(showError);
});
