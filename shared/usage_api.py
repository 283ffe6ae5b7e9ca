"""The usage and costs API in the shape of OpenAI's Admin API (`GET /v1/organization/usage/{kind}`
and `GET /v1/organization/costs`), so tools written against OpenAI's usage API read ours.

Hour and day buckets are summed from the stores' rollups (`shared/rollups.py`), so a month costs
about (days x groups) small documents, never a scan of the rows; minute buckets (at most 1,440 a
page, as at OpenAI) are summed from the rows themselves. docs/costs.md has the details.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from .errors import InvalidRequest
from . import rollups

WIDTH_SECONDS = {"1m": 60, "1h": 3600, "1d": 86400}
# (default, max) buckets a page, per width: OpenAI's documented values.
_USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
_COSTS_LIMITS = (7, 180)
_MAX_MINUTE_ROWS = 200_000    # rows read for one page of minute buckets, at most
CURRENCY = "usd"

# Usage kinds: the catalog operations each counts, and the sums its result objects show.
OPERATIONS = {
    "completions": ("ChatCompletion", "Responses"),
    "embeddings": ("embeddings",),
    "images": ("images",),
    "audio_speeches": ("audio_tts",),
    "audio_transcriptions": ("audio_stt",),
}
GROUPS = {"project_id": "project", "api_key_id": "key_id", "model": "model"}
# OpenAI group_by values this gateway has no data for: refused by name, never ignored.
_UNSUPPORTED_GROUPS = {"user_id", "batch", "service_tier", "source", "size", "api_source"}


@dataclass(frozen=True)
class Query:
    start: int                   # first bucket's start (epoch seconds)
    end: int                     # exclusive end of the whole range
    width: str
    limit: int
    group_by: tuple[str, ...]
    project_ids: tuple[str, ...]
    api_key_ids: tuple[str, ...]
    models: tuple[str, ...]

    @property
    def seconds(self) -> int:
        return WIDTH_SECONDS[self.width]

    def page_end(self) -> int:
        return min(self.end, self.start + self.limit * self.seconds)


def _values(query: Mapping[str, str], name: str) -> list[str]:
    """A list parameter, as `name=a&name=b` or `name[]=a` (both OpenAI SDK spellings)."""
    getlist = getattr(query, "getlist", None)
    if getlist is not None:
        return [v for n in (name, f"{name}[]") for v in getlist(n)]
    return [query[n] for n in (name, f"{name}[]") if n in query]


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an integer (Unix seconds for times).",
                             param=name) from None


def parse(query: Mapping[str, str], *, costs: bool = False,
          now: Callable[[], float] = time.time) -> Query:
    """The request's parameters, checked; a 400 naming the first bad one."""
    start = _int_param(query, "start_time")
    if start is None:
        raise InvalidRequest("'start_time' is required (Unix seconds, inclusive).",
                             param="start_time")
    end = _int_param(query, "end_time")
    end = int(now()) if end is None else end
    if start < 0 or end <= start:
        raise InvalidRequest("'end_time' must be after 'start_time'.", param="end_time")
    width = query.get("bucket_width") or "1d"
    if width not in WIDTH_SECONDS:
        raise InvalidRequest("'bucket_width' must be one of 1m, 1h, 1d.", param="bucket_width")
    default, most = _COSTS_LIMITS if costs else _USAGE_LIMITS[width]
    limit = _int_param(query, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= most:
        raise InvalidRequest(f"'limit' must be between 1 and {most} for bucket_width {width}.",
                             param="limit")
    allowed = set(GROUPS) | ({"line_item"} if costs else set())
    group_by = tuple(dict.fromkeys(_values(query, "group_by")))
    for name in group_by:
        if name in _UNSUPPORTED_GROUPS:
            raise InvalidRequest(f"group_by '{name}' is not supported by this gateway (it "
                                 f"records no {name}); use {', '.join(sorted(allowed))}.",
                                 param="group_by")
        if name not in allowed:
            raise InvalidRequest(f"group_by '{name}' is not one of "
                                 f"{', '.join(sorted(allowed))}.", param="group_by")
    seconds = WIDTH_SECONDS[width]
    first = start - start % seconds
    page = query.get("page")
    if page:
        first = _decode_page(page, first, end, seconds)
    return Query(first, end, width, limit, group_by, tuple(_values(query, "project_ids")),
                 tuple(_values(query, "api_key_ids")), tuple(_values(query, "models")))


def _decode_page(page: str, first: int, end: int, seconds: int) -> int:
    try:
        value = int(base64.urlsafe_b64decode(page.removeprefix("page_").encode()).decode())
    except (ValueError, UnicodeDecodeError):
        value = -1
    if value < first or value >= end or (value - first) % seconds:
        raise InvalidRequest("'page' is not a cursor this query returned (next_page).",
                             param="page")
    return value


def _encode_page(start: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(start).encode()).decode()


# -- reading the sums -------------------------------------------------------------------------
async def _groups(store: Any, q: Query, operations: Iterable[str] | None
                  ) -> dict[tuple[int, tuple], dict[str, float]]:
    """Sums per (bucket start, group values) over the page's buckets."""
    ops = set(operations) if operations is not None else None
    page_end = q.page_end()
    projects = list(q.project_ids) or None
    if q.width == "1m":
        docs = await _minute_docs(store, q.start, page_end, projects)
    else:
        docs = await store.query_rollups(q.width, q.start, page_end, projects)
    out: dict[tuple[int, tuple], dict[str, float]] = {}
    keys = [GROUPS["model" if g == "line_item" else g] for g in q.group_by]
    for doc in docs:
        if ops is not None and doc["operation"] not in ops:
            continue
        if (q.api_key_ids and doc["key_id"] not in q.api_key_ids) or (
                q.models and doc["model"] not in q.models):
            continue
        bucket = doc["start"] - doc["start"] % q.seconds
        sums = out.setdefault((bucket, tuple(doc[k] for k in keys)),
                              {name: 0 for name in rollups.SUMS})
        for name in rollups.SUMS:
            sums[name] += doc.get(name, 0)
    return out


async def _minute_docs(store: Any, start: int, end: int,
                       projects: list[str] | None) -> list[dict[str, Any]]:
    rows = await store.scan_usage(_iso(start), _iso(end), projects, _MAX_MINUTE_ROWS + 1)
    if len(rows) > _MAX_MINUTE_ROWS:
        raise InvalidRequest(f"More than {_MAX_MINUTE_ROWS} requests in these minute buckets; "
                             "ask for fewer buckets ('limit') or use bucket_width 1h.",
                             param="limit")
    docs = []
    for row in rows:
        at = int(datetime.fromisoformat(row.created_at).timestamp())
        docs.append({"start": at - at % 60, "project": row.project, "model": row.model,
                     "key_id": row.key_id, "operation": row.operation, "requests": 1,
                     "errors": 1 if row.status >= 400 else 0, "latency_ms_sum": row.latency_ms,
                     **{name: getattr(row, name) for name in rollups.SUMS[2:-1]}})
    return docs


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


# -- shaping the answer -----------------------------------------------------------------------
def _completions(s: Mapping[str, float]) -> dict[str, Any]:
    cached, written = int(s["cached_input_tokens"]), int(s["cache_write_input_tokens"])
    audio_in, audio_out = int(s["audio_input_tokens"]), int(s["audio_output_tokens"])
    prompt, completion = int(s["prompt_tokens"]), int(s["completion_tokens"])
    return {"input_tokens": prompt, "input_cached_tokens": cached,
            "input_cache_write_tokens": written,
            "input_uncached_tokens": prompt - cached - written, "output_tokens": completion,
            "input_text_tokens": prompt - cached - written - audio_in,
            "output_text_tokens": completion - audio_out, "input_cached_text_tokens": cached,
            "input_audio_tokens": audio_in, "input_cached_audio_tokens": 0,
            "output_audio_tokens": audio_out, "input_image_tokens": 0,
            "input_cached_image_tokens": 0, "output_image_tokens": 0}


_MEASURES: dict[str, Callable[[Mapping[str, float]], dict[str, Any]]] = {
    "completions": _completions,
    "embeddings": lambda s: {"input_tokens": int(s["prompt_tokens"])},
    "images": lambda s: {"images": int(s["images"])},
    "audio_speeches": lambda s: {"characters": int(s["characters"])},
    "audio_transcriptions": lambda s: {"seconds": int(round(s["audio_seconds"]))},
}
_NULL_GROUPS = {"completions": ("project_id", "user_id", "api_key_id", "model", "batch",
                                "service_tier"),
                "images": ("source", "size", "project_id", "user_id", "api_key_id", "model")}
_DEFAULT_NULLS = ("project_id", "user_id", "api_key_id", "model")


def _page(q: Query, sums: dict[tuple[int, tuple], dict[str, float]],
          result: Callable[[tuple, Mapping[str, float]], dict[str, Any] | None]) -> dict[str, Any]:
    page_end = q.page_end()
    by_bucket: dict[int, list[dict[str, Any]]] = {}
    for (bucket, group), s in sorted(sums.items()):
        made = result(group, s)
        if made is not None:
            by_bucket.setdefault(bucket, []).append(made)
    data = [{"object": "bucket", "start_time": start, "end_time": start + q.seconds,
             "results": by_bucket.get(start, [])}
            for start in range(q.start, page_end, q.seconds)]
    has_more = page_end < q.end
    return {"object": "page", "data": data, "has_more": has_more,
            "next_page": _encode_page(page_end) if has_more else None}


async def usage(store: Any, kind: str, query: Mapping[str, str]) -> dict[str, Any]:
    q = parse(query)
    sums = await _groups(store, q, OPERATIONS[kind])
    measure = _MEASURES[kind]

    def result(group: tuple, s: Mapping[str, float]) -> dict[str, Any] | None:
        served = int(s["requests"] - s["errors"])
        if not served:
            return None
        fields = {name: None for name in _NULL_GROUPS.get(kind, _DEFAULT_NULLS)}
        if kind == "images":
            fields["source"] = "image.generation" if "source" in q.group_by else None
        fields.update(zip(q.group_by, group))
        return {"object": f"organization.usage.{kind}.result", **measure(s),
                "num_model_requests": served, **fields}
    return _page(q, sums, result)


async def costs(store: Any, query: Mapping[str, str]) -> dict[str, Any]:
    q = parse(query, costs=True)
    sums = await _groups(store, q, None)

    def result(group: tuple, s: Mapping[str, float]) -> dict[str, Any] | None:
        if not s["requests"]:
            return None
        fields: dict[str, Any] = {"line_item": None, "project_id": None, "api_key_id": None}
        fields.update(zip(q.group_by, group))
        return {"object": "organization.costs.result",
                "amount": {"value": round(s["cost"], 10), "currency": CURRENCY},
                **fields, "quantity": None, "quantity_unit": None}
    return _page(q, sums, result)
