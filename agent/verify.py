"""Verify: after acting, wait and check that the symptoms are gone. A check is a PromQL
expression that returns nothing when healthy (an alert rule's expression, an unavailable
Deployment, a NotReady node), evaluated through the tools at the environment's clock."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from opsagent.agent.config import VerifyConfig
from opsagent.tools.registry import ToolRegistry


def expand(expr: str, records: dict[str, str], depth: int = 5) -> str:
    """Replace recording-rule names with their expressions, so a check does not depend on the
    rule evaluator having run at the instant checked (simulated time runs ahead of it)."""
    for _ in range(depth):
        changed = re.sub(r"(?<![\w:])([a-zA-Z_][\w]*:[\w:]+)(?![\w:{(\[])",
                         lambda m: f"({records[m.group(1)]})" if m.group(1) in records else m.group(1), expr)
        if changed == expr:
            break
        expr = changed
    return expr


def _agrees(series: dict[str, str], scopes: list[dict[str, str]]) -> bool:
    return any(all(series[k] == v for k, v in scope.items() if k in series) for scope in scopes)


def check(registry: ToolRegistry, ctx: Any, queries: list[str],
          scope: dict[str, list[dict[str, str]]] | None = None) -> dict[str, str]:
    """The checks that still show a symptom (query -> what it returned). A check scoped to an
    alert's instances counts only its series that agree with them: TargetDown for the job the
    incident is about, not another job's that another fault keeps down."""
    failing = {}
    if registry.call(ctx, "prometheus_query", {"query": "count(up)"}).status != "success":
        return {"count(up)": "no data at the instant checked: cannot tell healthy from silent"}
    for query in queries:
        result = registry.call(ctx, "prometheus_query", {"query": query})
        scopes = (scope or {}).get(query)
        if (result.status == "success" and scopes and isinstance(result.data, list)
                and not any(_agrees(r.get("metric") or {}, scopes) for r in result.data)):
            continue
        if result.status == "success":
            failing[query] = result.text[:300]
        elif result.status == "error":
            failing[query] = f"could not check: {result.error}"
    return failing


def verify(registry: ToolRegistry, ctx: Any, queries: list[str], cfg: VerifyConfig,
           wait: Callable[[float], None],
           scope: dict[str, list[dict[str, str]]] | None = None) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    waited, clear = 0.0, 0
    while waited < cfg.timeout_s:
        wait(cfg.interval_s)
        waited += cfg.interval_s
        failing = check(registry, ctx, queries, scope)
        rounds.append({"after_s": waited, "failing": sorted(failing)})
        clear = 0 if failing else clear + 1
        if clear >= cfg.consecutive:
            return {"cleared": True, "after_s": waited, "checks": queries, "rounds": rounds}
    return {"cleared": False, "after_s": waited, "checks": queries, "rounds": rounds,
            "still_failing": failing}


def alert_rules(registry: ToolRegistry, ctx: Any) -> Callable[[list[str]], dict[str, str]]:
    """name -> expression of the named alert rules, recording rules expanded (read once, when
    first asked): what verification checks once the incident's alerts should have cleared."""

    @functools.cache
    def rules() -> dict[str, str]:
        alerts = registry.call(ctx, "prometheus_rules", {}).data or []
        recorded = registry.call(ctx, "prometheus_rules", {"kind": "record"}).data or []
        records = {r["name"]: r["expr"] for r in recorded}
        return {r["name"]: expand(r["expr"], records) for r in alerts}

    return lambda names: {name: expr for name, expr in rules().items() if name in names}
