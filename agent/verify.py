"""Verify: after acting, wait and check that the symptoms are gone. A check is a PromQL
expression that returns nothing when healthy (an alert rule's expression, an unavailable
Deployment, a NotReady node), evaluated through the tools at the environment's clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agent.config import VerifyConfig
from tools.registry import Registry


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


def check(registry: Registry, ctx: Any, queries: list[str]) -> dict[str, str]:
    """The checks that still show a symptom (query -> what it returned)."""
    failing = {}
    if registry.call(ctx, "prometheus_query", {"query": "count(up)"}).status != "success":
        return {"count(up)": "no data at the instant checked: cannot tell healthy from silent"}
    for query in queries:
        result = registry.call(ctx, "prometheus_query", {"query": query})
        if result.status == "success":
            failing[query] = result.text[:300]
        elif result.status == "error":
            failing[query] = f"could not check: {result.error}"
    return failing


def verify(registry: Registry, ctx: Any, queries: list[str], cfg: VerifyConfig,
           wait: Callable[[float], None]) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    waited, clear = 0.0, 0
    while waited < cfg.timeout_s:
        wait(cfg.interval_s)
        waited += cfg.interval_s
        failing = check(registry, ctx, queries)
        rounds.append({"after_s": waited, "failing": sorted(failing)})
        clear = 0 if failing else clear + 1
        if clear >= cfg.consecutive:
            return {"cleared": True, "after_s": waited, "checks": queries, "rounds": rounds}
    return {"cleared": False, "after_s": waited, "checks": queries, "rounds": rounds,
            "still_failing": failing}
