"""Turn one run's figures into the Markdown tables, the target checks and the PNG chart."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

TARGETS = ("direct", "gateway", "litellm")
LABELS = {"direct": "direct (simulator)", "gateway": "this gateway", "litellm": "LiteLLM proxy"}


@dataclass(frozen=True)
class Metric:
    label: str
    unit: str
    get: Callable[[dict], float | None]
    digits: int = 2


def _added(phase: str, field: str) -> Callable[[dict], float | None]:
    """Latency over direct's, filled in by `with_added` (needs direct's figure)."""
    return lambda t: t.get("added", {}).get(f"{phase}_{field}")


METRICS = [
    Metric("c=1 latency p50", "ms", lambda t: t["c1"]["p50_ms"]),
    Metric("c=1 latency p99", "ms", lambda t: t["c1"]["p99_ms"]),
    Metric("c=1 added latency p50", "ms", _added("c1", "p50_ms")),
    Metric("c=1 added latency p99", "ms", _added("c1", "p99_ms")),
    Metric("c=32 throughput", "req/s", lambda t: t["c32"]["throughput_rps"], 0),
    Metric("c=32 latency p50", "ms", lambda t: t["c32"]["p50_ms"]),
    Metric("c=32 latency p99", "ms", lambda t: t["c32"]["p99_ms"]),
    Metric("c=128 throughput", "req/s", lambda t: t["c128"]["throughput_rps"], 0),
    Metric("c=128 latency p50", "ms", lambda t: t["c128"]["p50_ms"]),
    Metric("c=128 latency p99", "ms", lambda t: t["c128"]["p99_ms"]),
    Metric("stream 200 chunks: first chunk p50", "ms", lambda t: t["stream"]["ttfc_p50_ms"]),
    Metric("stream 200 chunks: first chunk p99", "ms", lambda t: t["stream"]["ttfc_p99_ms"]),
    Metric("stream 200 chunks: total p50", "ms", lambda t: t["stream"]["total_p50_ms"]),
    Metric("paced stream (20 chunks, 5 ms apart): events", "events",
           lambda t: t["stream_paced"]["events_p50"], 0),
    Metric("paced stream: separate network reads", "reads",
           lambda t: t["stream_paced"]["reads_p50"], 0),
    Metric("paced stream: first chunk p50", "ms", lambda t: t["stream_paced"]["ttfc_p50_ms"]),
    Metric("cold start (process start to first 200)", "s", lambda t: t["cold_start_s"]),
    Metric("RSS idle (after first request)", "MB", lambda t: t["idle_rss_mb"], 0),
    Metric("RSS peak under load", "MB", lambda t: t["peak_rss_mb"], 0),
]


def with_added(results: dict[str, dict]) -> None:
    """Store each target's latency over direct's (c=1 and first stream chunk)."""
    direct = results.get("direct")
    if not direct:
        return
    for target in results.values():
        target["added"] = {
            "c1_p50_ms": target["c1"]["p50_ms"] - direct["c1"]["p50_ms"],
            "c1_p99_ms": target["c1"]["p99_ms"] - direct["c1"]["p99_ms"],
            "stream_ttfc_p50_ms": target["stream"]["ttfc_p50_ms"] - direct["stream"]["ttfc_p50_ms"],
        }


def _value(metric: Metric, results: dict, name: str) -> float | None:
    try:
        return metric.get(results[name])
    except (KeyError, TypeError):
        return None


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x" if a / b < 100 else f"{a / b:,.0f}x"


def markdown_table(results: dict[str, dict]) -> str:
    head = ("| metric | direct | this gateway | LiteLLM proxy | gateway ÷ direct | "
            "gateway ÷ LiteLLM | LiteLLM ÷ direct |\n|---|---:|---:|---:|---:|---:|---:|\n")
    rows = []
    for m in METRICS:
        d, g, l = (_value(m, results, n) for n in TARGETS)
        added = "added" in m.label
        rows.append(f"| {m.label} ({m.unit}) | {_fmt(d, m.digits)} | {_fmt(g, m.digits)} | "
                    f"{_fmt(l, m.digits)} | {'—' if added else _ratio(g, d)} | {_ratio(g, l)} | "
                    f"{'—' if added else _ratio(l, d)} |")
    return head + "\n".join(rows) + "\n"


def target_checks(results: dict[str, dict]) -> list[dict[str, Any]]:
    """The issue's targets for this gateway, each with the figure it was judged on."""
    d, g, l = (results.get(n) for n in TARGETS)
    if not g or not d:
        return []
    checks = [
        ("added latency c=1 p50 <= 1 ms", g["added"]["c1_p50_ms"], lambda v: v <= 1.0),
        ("added latency c=1 p99 <= 3 ms", g["added"]["c1_p99_ms"], lambda v: v <= 3.0),
        ("throughput c=32 >= 0.5x direct",
         g["c32"]["throughput_rps"] / d["c32"]["throughput_rps"], lambda v: v >= 0.5),
        ("first stream chunk within 2 ms of direct (p50)", g["added"]["stream_ttfc_p50_ms"],
         lambda v: v <= 2.0),
        ("paced stream relayed as it arrives (reads per event, direct's is ~1)",
         g["stream_paced"]["reads_p50"] / max(1, g["stream_paced"]["events_p50"]),
         lambda v: v >= 0.9),
        ("cold start <= 1.5 s", g["cold_start_s"], lambda v: v <= 1.5),
        ("idle RSS <= 120 MB", g["idle_rss_mb"], lambda v: v <= 120),
    ]
    if l:
        checks.insert(3, ("throughput c=32 >= 25x LiteLLM proxy",
                          g["c32"]["throughput_rps"] / l["c32"]["throughput_rps"],
                          lambda v: v >= 25))
    return [{"target": name, "value": round(value, 3), "met": bool(ok(value))}
            for name, value, ok in checks]


def paired_rounds(results: dict[str, dict], phase: str = "c32") -> list[float]:
    """The gateway's throughput over direct's, round by round: each gateway round ran right
    after that round's direct one, so the pair met the same machine. The best-of-rounds figure
    can pair a fast-phase direct with a slow-phase gateway (or the other way round); these
    show how far the machine's swings move the target figure."""
    direct = (results.get("direct") or {}).get("rounds", {}).get(phase, [])
    gateway = (results.get("gateway") or {}).get("rounds", {}).get(phase, [])
    return [round(g["throughput_rps"] / d["throughput_rps"], 3)
            for d, g in zip(direct, gateway)
            if d.get("throughput_rps") and g.get("throughput_rps") is not None]


def paired_markdown(results: dict[str, dict]) -> str:
    ratios = paired_rounds(results)
    if not ratios:
        return ""
    each = ", ".join(f"{r:.2f}x" for r in ratios)
    return (f"c=32 throughput, gateway ÷ direct round by round (each pair ran back to back): "
            f"{each}; median {statistics.median(ratios):.2f}x.\n")


def checks_markdown(checks: list[dict[str, Any]]) -> str:
    lines = ["| target | figure | met |", "|---|---:|:---:|"]
    lines += [f"| {c['target']} | {c['value']:,} | {'yes' if c['met'] else '**no**'} |"
              for c in checks]
    return "\n".join(lines) + "\n"


def _jobs_rows(f: dict, how: str) -> list[tuple[str, str, float | None, int]]:
    what = f"async jobs, {how} ({f['jobs']:,} jobs)"
    return [
        (f"{what}: end to end, first submit to last completion", "jobs/s", f["jobs_per_s"], 0),
        (f"{what}: submit rate", "jobs/s", f["submit_per_s"], 0),
        (f"{what}: first submit to last completion", "s",
         f["first_submit_to_last_completion_s"], 2),
        (f"{what}: job latency (created to completed) p50", "ms", f["latency_p50_ms"], 0),
        (f"{what}: job latency (created to completed) p99", "ms", f["latency_p99_ms"], 0),
        (f"{what}: first submit to first job started", "ms", f.get("first_start_ms"), 0),
        (f"{what}: processing (started to completed) p50", "ms", f["processing_p50_ms"], 1),
        (f"{what}: not completed (failed, missing or unfinished)", "jobs", f["failed"], 0),
    ]


def _realtime_rows(f: dict) -> list[tuple[str, str, float | None, int]]:
    what = f"realtime ({f['turns']} turns, {f['audio_ms']} ms of audio each)"
    return [
        (f"{what}: commit to first audio delta p50", "ms", f["gateway_p50_ms"], 1),
        (f"{what}: commit to first audio delta p99", "ms", f["gateway_p99_ms"], 1),
        (f"{what}: providers' own time p50", "ms", f["provider_p50_ms"], 1),
        (f"{what}: providers' own time p99", "ms", f["provider_p99_ms"], 1),
        (f"{what}: added by the gateway p50", "ms", f["added_p50_ms"], 1),
        (f"{what}: added by the gateway p99", "ms", f["added_p99_ms"], 1),
        (f"{what}: turns that failed", "turns", f["errors"], 0),
    ]


def _responses_rows(f: dict) -> list[tuple[str, str, float | None, int]]:
    rows = []
    for name, what, figure in (("native", "native pass-through, c=1", "p50_ms"),
                               ("translated", "translated through chat, c=1", "p50_ms"),
                               ("stream", "translated stream, first event", "ttfc_p50_ms")):
        pair = f[name]
        rows += [(f"/v1/responses {what}: chat p50", "ms", pair["chat"].get(figure), 2),
                 (f"/v1/responses {what}: Responses p50", "ms", pair["responses"].get(figure), 2),
                 (f"/v1/responses {what}: added p50", "ms", pair["added_p50_ms"], 2)]
    return rows + [("/v1/responses requests that failed", "requests", f["errors"], 0)]


def gateway_markdown(gateway: dict[str, Any]) -> str:
    """The gateway-only figures (async jobs, realtime) as `| figure | value |` rows; empty when
    those phases did not run."""
    rows: list[tuple[str, str, float | None, int]] = []
    if gateway.get("jobs_api"):
        rows += _jobs_rows(gateway["jobs_api"], "submitted over HTTP")
    if gateway.get("jobs_hub"):
        rows += _jobs_rows(gateway["jobs_hub"], "direct producer into the local hub")
    if gateway.get("realtime"):
        rows += _realtime_rows(gateway["realtime"])
    if gateway.get("responses"):
        rows += _responses_rows(gateway["responses"])
    if not rows:
        return ""
    lines = ["", "| figure (this gateway only) | value |", "|---|---:|"]
    lines += [f"| {label} ({unit}) | {_fmt(value, digits)} |" for label, unit, value, digits in rows]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in TARGETS if n in results]
    colors = {"direct": "#8c8c8c", "gateway": "#2b7bba", "litellm": "#d9822b"}
    latency = [("c=1 p50", lambda t: t["c1"]["p50_ms"]), ("c=1 p99", lambda t: t["c1"]["p99_ms"]),
               ("c=32 p50", lambda t: t["c32"]["p50_ms"]),
               ("stream 1st chunk", lambda t: t["stream"]["ttfc_p50_ms"])]
    panels = [
        ("Latency (ms, log scale)", True, latency),
        ("Throughput (req/s, log scale)", True, [("c=32", lambda t: t["c32"]["throughput_rps"]),
                                                 ("c=128", lambda t: t["c128"]["throughput_rps"])]),
        ("Cold start (s)", False, [("start to first 200", lambda t: t["cold_start_s"])]),
        ("Memory (MB RSS)", False, [("idle", lambda t: t["idle_rss_mb"]),
                                    ("peak under load", lambda t: t["peak_rss_mb"])]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, (title, log, groups) in zip(axes.flat, panels):
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            values = [get(results[name]) or 0 for _, get in groups]
            xs = [g + i * width for g in range(len(groups))]
            bars = ax.bar(xs, values, width, label=LABELS[name], color=colors[name])
            ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values],
                         fontsize=7)
        ax.set_xticks([g + width * (len(names) - 1) / 2 for g in range(len(groups))],
                      [label for label, _ in groups])
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
    axes.flat[0].legend()
    fig.suptitle("LLM Proxy vs LiteLLM proxy vs direct (same simulator, same session)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
