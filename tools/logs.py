"""Log tools over the elasticsearch client: a search whose query the tool builds from typed
filters, and a pattern summary (drain3 templates with counts, first/last seen and a sample)
that fits thousands of lines into a few hundred tokens."""

from __future__ import annotations

import re
from typing import Any

from elastic_transport import ConnectionError as ESConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError
from pydantic import Field

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext
from opsagent.tools.log_templates import LogGrouper

TRANSIENT = (ESConnectionError, ConnectionTimeout)


class LogFilter(Args):
    service: str = Field(default="", description="service.name, e.g. checkout")
    namespace: str = Field(default="", description="kubernetes namespace")
    pod: str = Field(default="", description="pod name")
    level: str = Field(default="", description="levels, comma-separated, e.g. ERROR,FATAL,CRITICAL")
    text: str = Field(default="", description="words that must all appear in the message")
    minutes: int = Field(default=15, ge=1, le=1440, description="how far back from now")


_EXCEPTION = re.compile(r"^[\w.$]+(Exception|Error)\b")


def headline(message: str) -> str:
    """The line that says what happened: a Python traceback says it last; a Java log line
    with a stack trace names the exception on the next line, so both are kept."""
    lines = [line for line in message.splitlines() if line.strip()] or [""]
    if lines[0].startswith("Traceback"):
        return lines[-1]
    cause = next((line for line in lines[1:] if _EXCEPTION.match(line)), None)
    return f"{lines[0]} <- {cause}" if cause else lines[0]


def build_query(f: LogFilter) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": f"now-{f.minutes}m"}}}]
    for field, value in (("service.name", f.service), ("kubernetes.namespace", f.namespace),
                         ("kubernetes.pod.name", f.pod)):
        if value:
            filters.append({"term": {field: value}})
    if f.level:
        filters.append({"terms": {"log.level": [v.strip().upper() for v in f.level.split(",")]}})
    must = [{"match": {"message": {"query": f.text, "operator": "and"}}}] if f.text else []
    return {"bool": {"filter": filters, "must": must}}


def _search(ctx: ToolContext, tool: str, f: LogFilter, size: int, source: list[str]) -> Any:
    try:
        return ctx.retry(lambda: ctx.elasticsearch.search(
            index=ctx.cfg.log_index, query=build_query(f), size=size, sort=[{"@timestamp": "desc"}],
            source=source, track_total_hits=True), TRANSIENT)
    except ApiError as exc:
        return ToolResult(tool=tool, args=f.model_dump(), status="error",
                          error=f"Elasticsearch {exc.meta.status} {exc.error}: {exc.message}")


class Search(LogFilter):
    size: int = Field(default=30, ge=1, le=200, description="newest lines first")


def _logs_search(ctx: ToolContext, a: Search) -> ToolResult:
    fields = ["@timestamp", "message", "log.level", "kubernetes.pod.name", "host.name"]
    response = _search(ctx, "logs_search", a, a.size, fields)
    if isinstance(response, ToolResult):
        return response
    hits = response["hits"]["hits"]
    total = response["hits"]["total"]["value"]
    if not hits:
        return ToolResult(tool="logs_search", args=a.model_dump(), status="no_data",
                          text=f"no log lines match in the last {a.minutes} minutes")
    lines = [f"{total} lines match; newest {len(hits)}:"]
    for h in hits:
        s = h["_source"]
        first = headline(s["message"])
        where = s.get("kubernetes.pod.name") or s.get("host.name", "")
        lines.append(f"{s['@timestamp']} {where} {s['log.level']}: {first}")
    return ToolResult(tool="logs_search", args=a.model_dump(), status="success",
                      text="\n".join(lines), data={"total": total}, untrusted=True)


class Patterns(LogFilter):
    max_lines: int = Field(default=2000, ge=10, le=10000, description="lines to read, newest first")
    top: int = Field(default=15, ge=1, le=100, description="patterns to show")


def _logs_patterns(ctx: ToolContext, a: Patterns) -> ToolResult:
    response = _search(ctx, "logs_patterns", a, a.max_lines, ["@timestamp", "message", "service.name"])
    if isinstance(response, ToolResult):
        return response
    hits = response["hits"]["hits"]
    if not hits:
        return ToolResult(tool="logs_patterns", args=a.model_dump(), status="no_data",
                          text=f"no log lines match in the last {a.minutes} minutes")
    grouper = LogGrouper()
    seen: dict[int, dict[str, Any]] = {}
    raw_chars = 0
    for h in reversed(hits):  # oldest first, so first/last seen read naturally
        s = h["_source"]
        line = headline(s["message"])
        raw_chars += len(s["message"]) + 1
        entry = seen.setdefault(grouper.add(line), {"first": s["@timestamp"], "sample": line,
                                                       "services": set()})
        entry["last"] = s["@timestamp"]
        entry["services"].add(s.get("service.name", ""))
    clusters = grouper.templates()
    lines = [f"{len(hits)} lines (of {response['hits']['total']['value']}) in {len(clusters)} patterns "
             "(drain3); count | first..last | services | template | sample"]
    for cluster_id, size, template in clusters[: a.top]:
        e = seen[cluster_id]
        lines.append(f"{size} | {e['first'][11:19]}..{e['last'][11:19]} | "
                     f"{','.join(sorted(e['services']))} | {template[:200]} | {e['sample'][:160]}")
    if len(clusters) > a.top:
        lines.append(f"... {len(clusters) - a.top} rarer patterns")
    text = "\n".join(lines)
    return ToolResult(tool="logs_patterns", args=a.model_dump(), status="success", text=text,
                      data={"lines": len(hits), "patterns": len(clusters), "raw_chars": raw_chars,
                            "ratio": raw_chars / max(1, len(text))}, untrusted=True)


TOOLS = [
    Tool("logs_search", "Search container logs by service, namespace, pod, level and words, newest "
         "first (the tool builds the Elasticsearch query).", Search, Risk.READ,
         ("monitor", "diagnose"), _logs_search),
    Tool("logs_patterns", "Summarise matching log lines as patterns (drain3): count, first and last "
         "seen, services, template and a sample: thousands of lines in a few hundred tokens.",
         Patterns, Risk.READ, ("monitor", "diagnose"), _logs_patterns, budget_chars=5000),
]
