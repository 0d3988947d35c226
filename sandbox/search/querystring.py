"""Lucene query syntax for `query_string`: terms and "phrases", `field:value`, `AND` / `OR` /
`NOT` (and `&&`, `||`, `!`, `+`, `-`), parentheses, trailing wildcards and `[a TO b]` ranges."""

from __future__ import annotations

import re
from typing import Any

from opsagent.sandbox.search.errors import ParsingError
from opsagent.sandbox.search.fields import Compiled, column, fts, fts_phrase, fts_terms, parse_time

_LEX = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|([\[{][^\]}]*[\]}])|(&&|\|\||!|\+|-(?=\S))|'
                  r'([^\s()"\[\]{}]+))')


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _LEX.match(text, pos)
        if not m or m.end() == pos:
            raise ParsingError(f"Failed to parse query [{text}]", "query_shard_exception")
        out.append(m.group(0).strip())
        pos = m.end()
    return [t for t in out if t]


class _Parser:
    def __init__(self, text: str, default_field: str, default_and: bool, now: float):
        self.toks, self.i = _tokens(text), 0
        self.default_field, self.default_and, self.now, self.text = default_field, default_and, now, text

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParsingError(f"Failed to parse query [{self.text}]: unexpected end",
                               "query_shard_exception")
        self.i += 1
        return tok

    def parse(self) -> Compiled:
        node = self.or_expr()
        if self.peek() is not None:
            raise ParsingError(f"Failed to parse query [{self.text}] near [{self.peek()}]",
                               "query_shard_exception")
        return node

    def or_expr(self) -> Compiled:
        parts = [self.and_expr()]
        while self.peek() in ("OR", "||"):
            self.take()
            parts.append(self.and_expr())
        return _join(parts, "OR")

    def and_expr(self) -> Compiled:
        parts = [self.not_expr()]
        while self.peek() not in (None, ")", "OR", "||"):
            explicit = self.peek() in ("AND", "&&")
            if explicit:
                self.take()
            right = self.not_expr()
            if explicit or self.default_and:
                parts.append(right)
            else:  # implicit OR between bare terms, as Lucene's default operator
                parts = [_join([_join(parts, "AND"), right], "OR")]
        return _join(parts, "AND")

    def not_expr(self) -> Compiled:
        tok = self.peek()
        if tok in ("NOT", "!", "-"):
            self.take()
            inner = self.not_expr()
            return Compiled(f"NOT ({inner.where})", inner.params)
        if tok == "+":
            self.take()
        return self.atom()

    def atom(self, field: str | None = None) -> Compiled:
        tok = self.take()
        if tok == "(":
            node = self.or_expr() if field is None else self._group(field)
            if self.take() != ")":
                raise ParsingError(f"Failed to parse query [{self.text}]: missing )", "query_shard_exception")
            return node
        if field is None and ":" in tok and not tok.startswith('"'):
            name, _, rest = tok.partition(":")
            if rest:
                return self.term(name, rest)
            return self.atom(name)  # field:(...) or field:"phrase" or field:[range]
        return self.term(field or self.default_field, tok)

    def _group(self, field: str) -> Compiled:
        parts = [self.term(field, self.take())]
        while self.peek() not in (None, ")"):
            op = self.take() if self.peek() in ("OR", "AND", "||", "&&") else "OR"
            parts = [_join([*parts, self.term(field, self.take())], "AND" if op in ("AND", "&&") else "OR")]
        return _join(parts, "OR")

    def term(self, field: str, value: str) -> Compiled:
        if field in ("*", ""):
            field = "message"
        col = column(field)
        if value[:1] in "[{":
            low, _, high = value[1:-1].partition(" TO ")
            parts, params = [], []
            for bound, op, up in ((low, ">=" if value[0] == "[" else ">", False),
                                  (high, "<=" if value[-1] == "]" else "<", True)):
                bound = bound.strip()
                if bound and bound != "*":
                    parts.append(f"{col} {op} ?")
                    params.append(parse_time(bound, self.now, up) if col == "ts" else bound)
            return Compiled(" AND ".join(parts) or "1", params)
        quoted = value.startswith('"')
        text = value[1:-1].replace('\\"', '"') if quoted else value
        if col == "message":
            if quoted:
                return fts(fts_phrase(text))
            if text.endswith("*") and len(text) > 1:
                stem = fts_terms(text[:-1])
                return fts(f"{stem}*" if stem else "")
            return fts(fts_terms(text, "and"))
        if "*" in text or "?" in text:
            like = text.replace("%", r"\%").replace("_", r"\_").replace("*", "%").replace("?", "_")
            return Compiled(f"{col} LIKE ? ESCAPE '\\'", [like])
        return Compiled(f"{col} = ?", [text])


def _join(parts: list[Compiled], op: str) -> Compiled:
    if len(parts) == 1:
        return parts[0]
    params: list[Any] = []
    scoring: list[str] = []
    for p in parts:
        params += p.params
        scoring += p.scoring
    return Compiled(f" {op} ".join(f"({p.where})" for p in parts), params, scoring)


def compile_query_string(spec: dict[str, Any], now: float) -> Compiled:
    if not isinstance(spec, dict) or "query" not in spec:
        raise ParsingError("[query_string] requires 'query' field")
    fields = spec.get("fields") or []
    default_field = spec.get("default_field") or (fields[0] if len(fields) == 1 else "message")
    default_and = str(spec.get("default_operator", "or")).lower() == "and"
    compiled = _Parser(str(spec["query"]), default_field.split("^")[0], default_and, now).parse()
    return compiled
