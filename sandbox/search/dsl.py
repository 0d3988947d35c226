"""The Elasticsearch query DSL compiled to SQL over the log index: `bool`, `term(s)`, `match`,
`match_phrase`, `query_string`, `range` (with date math), `exists`, `prefix`, `wildcard`,
`ids`, `match_all`. Full-text clauses become SQLite FTS5 MATCH expressions."""

from __future__ import annotations

from typing import Any

from opsagent.sandbox.search.errors import ParsingError
from opsagent.sandbox.search.fields import Compiled, column, fts, fts_phrase, fts_terms, parse_time
from opsagent.sandbox.search.querystring import compile_query_string


def _one(query: dict[str, Any], kind: str) -> tuple[str, Any]:
    if not isinstance(query, dict) or len(query) != 1:
        raise ParsingError(f"[{kind}] query malformed, no start_object after query name")
    return next(iter(query.items()))


def _value(spec: Any, key: str) -> Any:
    return spec.get(key) if isinstance(spec, dict) else spec


def compile_query(query: dict[str, Any] | None, now: float) -> Compiled:
    if not query:
        return Compiled("1")
    if not isinstance(query, dict) or len(query) != 1:
        raise ParsingError("[_na] query malformed, must start with start_object")
    kind, spec = next(iter(query.items()))
    if kind == "match_all":
        return Compiled("1")
    if kind == "match_none":
        return Compiled("0")
    if kind == "bool":
        return _bool(spec, now)
    if kind in ("term", "terms"):
        name, value = _one(spec, kind)
        if kind == "terms" and isinstance(spec, dict) and "boost" in spec:
            spec = {k: v for k, v in spec.items() if k != "boost"}
            name, value = _one(spec, kind)
        values = value if kind == "terms" else [_value(value, "value")]
        if not isinstance(values, list):
            raise ParsingError(f"[{kind}] query does not support [{name}] as a single value")
        col = column(name)
        if col == "message":
            return fts(" OR ".join(fts_phrase(str(v)) for v in values if fts_phrase(str(v))))
        if not values:
            return Compiled("0")
        return Compiled(f"{col} IN ({','.join('?' * len(values))})", [str(v) for v in values])
    if kind in ("match", "match_phrase"):
        name, value = _one(spec, kind)
        text = _value(value, "query")
        col = column(name)
        if col == "message":
            if kind == "match_phrase":
                return fts(fts_phrase(str(text)))
            op = value.get("operator", "or") if isinstance(value, dict) else "or"
            return fts(fts_terms(str(text), op))
        return Compiled(f"{col} = ?", [str(text)])
    if kind == "query_string" or kind == "simple_query_string":
        return compile_query_string(spec, now)
    if kind == "range":
        name, bounds = _one(spec, kind)
        col = column(name)
        parts, params = [], []
        for op, sql in (("gte", ">="), ("gt", ">"), ("lte", "<="), ("lt", "<")):
            if op in bounds:
                value = parse_time(bounds[op], now, round_up=op in ("lte", "gt")) if col == "ts" \
                    else bounds[op]
                parts.append(f"{col} {sql} ?")
                params.append(value)
        return Compiled(" AND ".join(parts) or "1", params)
    if kind == "exists":
        col = column(spec.get("field", ""))
        return Compiled(f"({col} IS NOT NULL AND {col} != '')")
    if kind in ("prefix", "wildcard"):
        name, value = _one(spec, kind)
        pattern = str(_value(value, "value"))
        like = pattern.replace("%", r"\%").replace("_", r"\_")
        like = like + "%" if kind == "prefix" else like.replace("*", "%").replace("?", "_")
        return Compiled(f"{column(name)} LIKE ? ESCAPE '\\'", [like])
    if kind == "ids":
        values = spec.get("values", [])
        return Compiled(f"id IN ({','.join('?' * len(values)) or 'NULL'})", [int(v) for v in values])
    raise ParsingError(f"unknown query [{kind}]", "parsing_exception")


def _bool(spec: dict[str, Any], now: float) -> Compiled:
    clauses: dict[str, list[Compiled]] = {}
    for key in ("must", "filter", "should", "must_not"):
        items = spec.get(key, [])
        items = items if isinstance(items, list) else [items]
        clauses[key] = [compile_query(q, now) for q in items]
    unknown = set(spec) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
    if unknown:
        raise ParsingError(f"[bool] query does not support [{sorted(unknown)[0]}]")
    parts, params, scoring = [], [], []
    for c in clauses["must"] + clauses["filter"]:
        parts.append(f"({c.where})")
        params += c.params
    for c in clauses["must"]:
        scoring += c.scoring
    should = clauses["should"]
    if should:
        default = 0 if clauses["must"] or clauses["filter"] else 1
        minimum = int(spec.get("minimum_should_match", default))
        for c in should:
            scoring += c.scoring
        if minimum:
            summed = " + ".join(f"(CASE WHEN ({c.where}) THEN 1 ELSE 0 END)" for c in should)
            parts.append(f"({summed}) >= ?")
            for c in should:
                params += c.params
            params.append(minimum)
    for c in clauses["must_not"]:
        parts.append(f"NOT ({c.where})")
        params += c.params
    return Compiled(" AND ".join(parts) or "1", params, scoring)
