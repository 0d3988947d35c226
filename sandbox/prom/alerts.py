"""The scenario's alerts as Alertmanager would deliver them (webhook version 4 `alerts`): the
label sets come from the real rules evaluated by promtool over the scenario's history, the
annotations from the rules' templates."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from functools import cache
from typing import Any

from opsagent.sandbox.prom.promtool import firing_alerts
from opsagent.sandbox.prom.rules import rule_specs
from opsagent.sandbox.scenario import Scenario

_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.(\w+)|\$value[^}]*|printf[^}]*)\s*\}\}")


@cache
def rule_index() -> dict[str, dict[str, Any]]:
    """Alert name -> its rule (expr, labels, annotations), from every rule file Prometheus loads."""
    return {r["alert"]: r for _, spec in rule_specs() for g in spec["groups"]
            for r in g["rules"] if "alert" in r}


def _render(text: str, labels: dict[str, str]) -> str:
    return _TEMPLATE.sub(lambda m: labels.get(m.group(2), "") if m.group(2) else "high", text)


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def scenario_alerts(scenario: Scenario, external_url: str = "http://prometheus:9090") -> list[dict[str, Any]]:
    rules = rule_index()
    world = scenario.world
    out: list[dict[str, Any]] = []
    for fault in scenario.faults:
        names = [n for n in sorted(fault.alerts) if n in rules]
        if not names:
            continue
        fired = firing_alerts(world.frames, names)
        for name in names:
            rule = rules[name]
            for labels in fired.get(name, []):
                labels = {**labels, "alertname": name}
                annotations = {k: _render(v, labels) for k, v in (rule.get("annotations") or {}).items()}
                out.append({"status": "firing", "labels": labels, "annotations": annotations,
                            "startsAt": _stamp(max(fault.onset, world.now - fault.alert_onset_s)),
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": f"{external_url}/graph?g0.expr={rule['expr']}",
                            "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode())
                            .hexdigest()[:16]})
    return out
