"""The log index: ECS documents in SQLite with an FTS5 index on `message`, daily indices named
`logs-<namespace>-<yyyy.mm.dd>`, and `_search` / `_count` over index patterns."""

from __future__ import annotations

import datetime as dt
import fnmatch
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opsagent.sandbox.logstore import LogRecord
from opsagent.sandbox.search.aggs import aggregate
from opsagent.sandbox.search.docs import filter_source, source
from opsagent.sandbox.search.dsl import compile_query
from opsagent.sandbox.search.errors import IndexNotFound, ParsingError
from opsagent.sandbox.search.fields import Compiled, column

SCHEMA = """
CREATE TABLE docs(id INTEGER PRIMARY KEY, idx TEXT, ts REAL, level TEXT, message TEXT,
                  namespace TEXT, pod TEXT, container TEXT, service TEXT, host TEXT);
CREATE INDEX docs_ts ON docs(ts);
CREATE INDEX docs_idx ON docs(idx, ts);
CREATE VIRTUAL TABLE fts USING fts5(message, content='docs', content_rowid='id',
                                    tokenize="unicode61 tokenchars '_'");
"""
FIELDS = ("id", "idx", "ts", "level", "message", "namespace", "pod", "container", "service", "host")
BODY_KEYS = {"query", "size", "from", "sort", "_source", "aggs", "aggregations",
             "track_total_hits", "timeout", "highlight", "search_after", "track_scores"}


def index_name(record: LogRecord) -> str:
    day = dt.datetime.fromtimestamp(record.timestamp, dt.UTC).strftime("%Y.%m.%d")
    return f"logs-{record.namespace or 'node'}-{day}"


class LogIndex:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Drop every document (a new scenario is being served)."""
        with self.lock:
            self.db = sqlite3.connect(":memory:", check_same_thread=False)
            self.db.executescript(SCHEMA)
            self.indices: dict[str, int] = {}

    def add(self, records: Iterable[LogRecord]) -> int:
        rows = [(index_name(r), r.timestamp, r.level, r.message, r.namespace, r.pod, r.container,
                 r.service, r.node) for r in records]
        if not rows:
            return 0
        with self.lock:
            cur = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM docs")
            first = cur.fetchone()[0] + 1
            self.db.executemany("INSERT INTO docs(idx, ts, level, message, namespace, pod, container,"
                                " service, host) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("INSERT INTO fts(rowid, message) SELECT id, message FROM docs WHERE id >= ?",
                            (first,))
            self.db.commit()
            for row in rows:
                self.indices[row[0]] = self.indices.get(row[0], 0) + 1
        return len(rows)

    # ---- index patterns --------------------------------------------------------------------
    def resolve(self, pattern: str | None, ignore_unavailable: bool = False) -> list[str]:
        if pattern in (None, "", "_all", "*"):
            return sorted(self.indices)
        found: set[str] = set()
        for part in pattern.split(","):
            part = part.strip()
            if part.startswith("-"):
                found -= {i for i in found if fnmatch.fnmatch(i, part[1:])}
            elif "*" in part or "?" in part:
                found |= {i for i in self.indices if fnmatch.fnmatch(i, part)}
            elif part in self.indices:
                found.add(part)
            elif not ignore_unavailable:
                raise IndexNotFound(part)
        return sorted(found)

    def _where(self, indices: list[str], query: Any) -> Compiled:
        compiled = compile_query(query, self.clock())
        marks = ",".join("?" * len(indices)) or "NULL"
        return Compiled(f"idx IN ({marks}) AND ({compiled.where})", [*indices, *compiled.params],
                        compiled.scoring)

    def count(self, pattern: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
        body = body or {}
        unknown = set(body) - {"query"}
        if unknown:
            raise ParsingError(f"request does not support [{sorted(unknown)[0]}]")
        where = self._where(self.resolve(pattern), body.get("query"))
        with self.lock:
            n = self.db.execute(f"SELECT COUNT(*) FROM docs WHERE {where.where}", where.params).fetchone()[0]
        return {"count": n, "_shards": _shards()}

    def search(self, pattern: str | None, body: dict[str, Any] | None) -> dict[str, Any]:
        started = time.perf_counter()
        body = body or {}
        unknown = set(body) - BODY_KEYS
        if unknown:
            raise ParsingError(f"Unknown key for a START_OBJECT in [{sorted(unknown)[0]}].")
        size, offset = int(body.get("size", 10)), int(body.get("from", 0))
        if size < 0 or offset < 0:
            raise ParsingError("[size] and [from] must be non-negative", "illegal_argument_exception")
        where = self._where(self.resolve(pattern), body.get("query"))
        scored = bool(where.scoring)
        score_sql = "0.0"
        params: list[Any] = []
        join = ""
        if scored:
            join = ("LEFT JOIN (SELECT rowid AS sid, -bm25(fts) AS score FROM fts WHERE fts MATCH ?)"
                    " s ON s.sid = docs.id")
            params.append(" OR ".join(f"({e})" for e in where.scoring))
            score_sql = "COALESCE(s.score, 0.0)"
        elif not body.get("query") or "match_all" in body.get("query", {}):
            score_sql = "1.0"
        order, sort_fields = _order(body.get("sort"), scored)
        cols = ", ".join(f"docs.{f}" for f in FIELDS)
        sql = f"SELECT {cols}, {score_sql} AS score FROM docs {join} WHERE {where.where}"
        with self.lock:
            rows = self.db.execute(f"{sql} ORDER BY {order}", [*params, *where.params]).fetchall()
        page = rows[offset:offset + size]
        hits = []
        for row in page:
            hit: dict[str, Any] = {"_index": row[1], "_id": str(row[0]),
                                   "_score": None if sort_fields else row[10]}
            doc = filter_source(source(row), body.get("_source"))
            if doc is not None:
                hit["_source"] = doc
            if sort_fields:
                hit["sort"] = [int(row[2] * 1000) if f == "ts" else row[FIELDS.index(f)] if f in FIELDS
                               else row[10] for f in sort_fields]
            hits.append(hit)
        total = len(rows)
        cap = body.get("track_total_hits", 10000)
        relation = "eq"
        if cap is not True and isinstance(cap, int) and total > cap:
            total, relation = cap, "gte"
        out: dict[str, Any] = {
            "took": int((time.perf_counter() - started) * 1000), "timed_out": False,
            "_shards": _shards(),
            "hits": {"total": {"value": total, "relation": relation},
                     "max_score": None if sort_fields else max((h["_score"] for h in hits), default=None),
                     "hits": hits},
        }
        aggs = body.get("aggs", body.get("aggregations"))
        if aggs:
            out["aggregations"] = aggregate(aggs, rows, self.clock())
        return out


def _shards() -> dict[str, int]:
    return {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


def _order(sort: Any, scored: bool) -> tuple[str, list[str]]:
    """ORDER BY for an ES `sort`, and the columns whose values each hit reports."""
    if not sort:
        return ("score DESC, docs.id ASC" if scored else "docs.id ASC"), []
    items = sort if isinstance(sort, list) else [sort]
    clauses, fields = [], []
    for item in items:
        if isinstance(item, str):
            name, direction = [*item.split(":"), "asc"][:2]
        elif isinstance(item, dict) and len(item) == 1:
            name, spec = next(iter(item.items()))
            direction = spec if isinstance(spec, str) else spec.get("order", "asc")
        else:
            raise ParsingError(f"malformed sort [{item}]")
        if direction.lower() not in ("asc", "desc"):
            raise ParsingError(f"Unknown SortOrder [{direction}]", "illegal_argument_exception")
        col = "score" if name == "_score" else "docs.id" if name == "_doc" else f"docs.{column(name)}"
        clauses.append(f"{col} {direction.upper()}")
        fields.append("score" if name == "_score" else col.removeprefix("docs."))
    clauses.append("docs.id ASC")
    return ", ".join(clauses), fields
