"""The index's fields and the pieces of SQL and FTS5 that queries are built from."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from opsagent.sandbox.search.errors import ParsingError

# ECS field -> column. `message` is analysed text; the rest are keywords.
COLUMNS = {
    "@timestamp": "ts", "message": "message", "log.level": "level",
    "kubernetes.namespace": "namespace", "kubernetes.pod.name": "pod",
    "kubernetes.container.name": "container", "service.name": "service", "host.name": "host",
    "_index": "idx", "_id": "id",
}
TEXT = {"message"}
_TOKEN = re.compile(r"[\w]+", re.UNICODE)


@dataclass
class Compiled:
    """A WHERE clause, its parameters, and the full-text expression that scores hits."""

    where: str
    params: list[Any] = field(default_factory=list)
    scoring: list[str] = field(default_factory=list)


def column(name: str) -> str:
    name = name.removesuffix(".keyword")
    if name not in COLUMNS:
        raise ParsingError(f"unknown field [{name}]", "query_shard_exception")
    return COLUMNS[name]


def fts_terms(text: str, operator: str = "or") -> str:
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    if not tokens:
        return ""
    joiner = " AND " if operator.lower() == "and" else " OR "
    return joiner.join(f'"{t}"' for t in tokens)


def fts_phrase(text: str) -> str:
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    return '"' + " ".join(tokens) + '"' if tokens else ""


def fts(expr: str) -> Compiled:
    if not expr:
        return Compiled("0")
    return Compiled("docs.id IN (SELECT rowid FROM fts WHERE fts MATCH ?)", [expr], [expr])


def parse_time(value: Any, now: float, round_up: bool = False) -> float:
    """Epoch seconds from ES date math (`now-15m`, `now/d`), ISO 8601 or epoch millis."""
    if isinstance(value, int | float):
        return value / 1000.0
    text = str(value).strip()
    if text.startswith("now"):
        t, rest = now, text[3:]
        for sign, amount, unit, rounding in re.findall(r"([+-])(\d+)([smhdwMy])|/([smhdwMy])", rest):
            if rounding:
                size = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(rounding, 86400)
                t = (t // size) * size + (size - 0.001 if round_up else 0)
                continue
            seconds = int(amount) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                                     "M": 2592000, "y": 31536000}[unit]
            t += seconds if sign == "+" else -seconds
        return t
    if text.isdigit():
        return int(text) / 1000.0
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParsingError(f"failed to parse date field [{text}]", "parse_exception") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
