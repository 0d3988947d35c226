"""Aggregations over the matching documents: `terms`, `date_histogram`, `top_hits`, and the
metrics `value_count`, `cardinality`, `min` and `max`; bucket aggregations nest."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from opsagent.sandbox.logtext import iso
from opsagent.sandbox.search.docs import filter_source, source
from opsagent.sandbox.search.errors import ParsingError
from opsagent.sandbox.search.fields import column

POS = {name: i for i, name in enumerate(
    ("id", "idx", "ts", "level", "message", "namespace", "pod", "container", "service", "host"))}
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
CALENDAR = {"second": 1, "1s": 1, "minute": 60, "1m": 60, "hour": 3600, "1h": 3600, "day": 86400,
            "1d": 86400, "week": 604800, "1w": 604800}


def _interval(spec: dict[str, Any]) -> float:
    raw = spec.get("fixed_interval") or spec.get("interval")
    if raw:
        m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", str(raw))
        if not m:
            raise ParsingError(f"failed to parse setting [fixed_interval] with value [{raw}]",
                               "illegal_argument_exception")
        return int(m.group(1)) * UNITS[m.group(2)]
    cal = spec.get("calendar_interval")
    if cal in CALENDAR:
        return CALENDAR[cal]
    raise ParsingError("Invalid interval specified, must be non-null and non-empty",
                       "illegal_argument_exception")


def aggregate(specs: dict[str, Any], rows: list[tuple], now: float) -> dict[str, Any]:
    if not isinstance(specs, dict):
        raise ParsingError("Expected [START_OBJECT] under [aggregations]")
    return {name: _one(name, spec, rows, now) for name, spec in specs.items()}


def _one(name: str, spec: dict[str, Any], rows: list[tuple], now: float) -> dict[str, Any]:
    sub = spec.get("aggs") or spec.get("aggregations") or {}
    kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
    if len(kinds) != 1:
        raise ParsingError(f"Expected exactly one aggregation type for [{name}]")
    kind = kinds[0]
    body = spec[kind]
    if kind == "terms":
        col = POS[column(body["field"])]
        size = int(body.get("size", 10))
        counts = Counter(row[col] for row in rows if row[col] not in (None, ""))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        buckets = []
        for key, n in ranked[:size]:
            bucket: dict[str, Any] = {"key": key, "doc_count": n}
            if sub:
                bucket.update(aggregate(sub, [r for r in rows if r[col] == key], now))
            buckets.append(bucket)
        return {"doc_count_error_upper_bound": 0,
                "sum_other_doc_count": sum(n for _, n in ranked[size:]), "buckets": buckets}
    if kind == "date_histogram":
        if column(body.get("field", "@timestamp")) != "ts":
            raise ParsingError("date_histogram needs a date field", "illegal_argument_exception")
        step = _interval(body)
        by_key: dict[float, list[tuple]] = {}
        for row in rows:
            by_key.setdefault((row[POS["ts"]] // step) * step, []).append(row)
        min_count = int(body.get("min_doc_count", 0))
        keys = sorted(by_key)
        if keys and min_count == 0:
            keys = [keys[0] + i * step for i in range(int((keys[-1] - keys[0]) / step) + 1)]
        buckets = []
        for key in keys:
            members = by_key.get(key, [])
            if len(members) < min_count:
                continue
            bucket = {"key_as_string": iso(key), "key": int(key * 1000), "doc_count": len(members)}
            if sub:
                bucket.update(aggregate(sub, members, now))
            buckets.append(bucket)
        return {"buckets": buckets}
    if kind == "top_hits":
        size = int(body.get("size", 3))
        ordered = rows
        for item in reversed(body.get("sort") or []):
            field, spec_ = next(iter(item.items())) if isinstance(item, dict) else (item, "asc")
            desc = (spec_ if isinstance(spec_, str) else spec_.get("order", "asc")) == "desc"
            pos = POS[column(field)]
            ordered = sorted(ordered, key=lambda r, c=pos: r[c], reverse=desc)
        hits = [{"_index": r[1], "_id": str(r[0]), "_score": r[10],
                 "_source": filter_source(source(r), body.get("_source"))} for r in ordered[:size]]
        return {"hits": {"total": {"value": len(rows), "relation": "eq"},
                         "max_score": max((h["_score"] for h in hits), default=None), "hits": hits}}
    if kind in ("value_count", "cardinality", "min", "max"):
        col = POS[column(body["field"])]
        values = [r[col] for r in rows if r[col] not in (None, "")]
        if kind == "value_count":
            return {"value": len(values)}
        if kind == "cardinality":
            return {"value": len(set(values))}
        if not values:
            return {"value": None}
        value = min(values) if kind == "min" else max(values)
        if col == POS["ts"]:
            return {"value": value * 1000, "value_as_string": iso(value)}
        return {"value": value}
    raise ParsingError(f"Unknown aggregation type [{kind}] did you mean [terms]?",
                       "named_object_not_found_exception")
