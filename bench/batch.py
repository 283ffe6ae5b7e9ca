"""A batch through the Batch API end to end: `python -m bench.batch [--lines 10000]`.

Starts the provider simulator and this gateway on the local runner (SQLite store, files in the
data folder, the local hub, bench/catalog.json), uploads a JSONL file of chat completion lines
with the official openai SDK, creates a batch, polls it every 0.2 s until it ends, downloads the
output file and checks that every custom_id is in it exactly once. Prints one JSON object:

    upload_s        the upload (POST /v1/files)
    validate_s      created -> first seen in_progress (every line checked)
    run_s           first seen in_progress -> last seen in_progress (the lines ran)
    lines_per_s     lines / run_s
    finalize_s      last seen in_progress -> first seen completed: the last line's event,
                    the check of every line job and the output file (an upper bound: the
                    status is polled every 0.2 s)
    total_s         batch created -> completed
    peak_rss_mb     the gateway process's peak resident memory during the run

With `--upload-mb N` it first uploads an N MB file (purpose user_data) and reports the upload's
MB/s and the gateway's peak memory meanwhile against its idle memory: the upload is streamed to
storage, so the peak should not grow with N.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import openai

from . import servers


def _input(lines: int) -> bytes:
    return b"".join(json.dumps({
        "custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": servers.MODEL, "messages": [
            {"role": "user", "content": f"Batch line {i}, please answer briefly."}]}}
    ).encode() + b"\n" for i in range(lines))


def measure(target: servers.Target, lines: int, patience: float) -> dict:
    client = openai.OpenAI(base_url=target.extra["base"] + "/v1", api_key=target.extra["key"],
                           max_retries=0, timeout=120)
    began = time.perf_counter()
    file_id = client.files.create(file=("bench.jsonl", _input(lines)), purpose="batch").id
    upload_s = time.perf_counter() - began
    created = time.perf_counter()
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    seen: dict[str, float] = {}
    with servers.RssSampler(target) as rss:
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            if time.perf_counter() - created > patience:
                raise RuntimeError(f"batch not done after {patience} s: {batch}")
            time.sleep(0.2)
            batch = client.batches.retrieve(batch.id)
            seen.setdefault(batch.status, time.perf_counter())
            if batch.status == "in_progress":
                seen["last_in_progress"] = time.perf_counter()
    if batch.status != "completed" or batch.request_counts.completed != lines:
        raise RuntimeError(f"the batch ended {batch.status}: {batch.request_counts}")
    output = client.files.content(batch.output_file_id).text.splitlines()
    ids = sorted(json.loads(line)["custom_id"] for line in output)
    if ids != sorted(f"line-{i}" for i in range(lines)):
        raise RuntimeError("the output file does not hold every line exactly once")
    started = seen.get("in_progress", created)
    ran = seen.get("last_in_progress", started)
    return {"lines": lines, "upload_s": round(upload_s, 2),
            "validate_s": round(started - created, 2), "run_s": round(ran - started, 2),
            "lines_per_s": round(lines / max(ran - started, 1e-9), 1),
            "finalize_s": round(seen["completed"] - ran, 2),
            "total_s": round(seen["completed"] - created, 2),
            "peak_rss_mb": round(rss.peak_mb, 1)}


def measure_upload(target: servers.Target, megabytes: int) -> dict:
    client = openai.OpenAI(base_url=target.extra["base"] + "/v1", api_key=target.extra["key"],
                           max_retries=0, timeout=600)
    with tempfile.TemporaryFile() as fh:
        block = bytes(range(256)) * 4096                 # 1 MB
        for _ in range(megabytes):
            fh.write(block)
        fh.seek(0)
        idle = target.rss_mb()
        with servers.RssSampler(target) as rss:
            began = time.perf_counter()
            uploaded = client.files.create(file=("big.bin", fh), purpose="user_data")
            took = time.perf_counter() - began
    if uploaded.bytes != megabytes * 2**20:
        raise RuntimeError(f"uploaded {uploaded.bytes} bytes, sent {megabytes} MB")
    client.files.delete(uploaded.id)
    return {"upload_mb": megabytes, "upload_mb_per_s": round(megabytes / took, 1),
            "idle_rss_mb": round(idle, 1), "upload_peak_rss_mb": round(rss.peak_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--upload-mb", type=int, default=0,
                        help="also upload a file this large and watch the gateway's memory")
    parser.add_argument("--patience", type=float, default=1800.0,
                        help="give up after this many seconds")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "bench-batch")
    args = parser.parse_args()
    started: list[servers.Target] = []
    with tempfile.TemporaryDirectory(prefix="llmproxy-bench-batch-") as data_dir:
        try:
            sim = servers.start_simulator(args.logs)
            started.append(sim)
            key = servers.create_gateway_key(sim.extra["base"], Path(data_dir), args.logs)
            started.append(servers.start_gateway(sim.extra["base"], Path(data_dir), key,
                                                 args.logs))
            figures = measure_upload(started[-1], args.upload_mb) if args.upload_mb else {}
            figures.update(measure(started[-1], args.lines, args.patience))
            print(json.dumps(figures), flush=True)
        finally:
            for target in reversed(started):
                target.stop()


if __name__ == "__main__":
    main()
