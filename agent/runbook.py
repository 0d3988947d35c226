"""Repair: turn a Diagnosis into a Runbook (checklist, analysis, actions as concrete tool calls,
verification, rollback). Proposed calls that could never run are set aside with the reason;
actions already refused or carried out are not proposed again."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from opsagent.agent.gate import propose
from opsagent.agent.models import Diagnosis, Runbook, RunbookAction
from opsagent.tools.base import Risk
from opsagent.tools.registry import ToolRegistry

ROLLBACK = {
    "k8s_rollout_undo": "k8s_rollout_undo again returns to the revision running now",
    "k8s_rollout_restart": "none needed: a restart changes no spec",
    "k8s_scale": "k8s_scale back to the current replica count",
    "k8s_delete_pod": "none: the controller recreates the pod",
    "k8s_cordon": "k8s_uncordon the node",
    "k8s_drain": "k8s_uncordon the node; evicted pods are not moved back",
}


STILL_FIRING = {"k8s_drain": ("KubeNode", "Node"), "k8s_cordon": ("KubeNode", "Node"),
                "k8s_patch_hpa": ("KubeHpa",)}


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same call, as run or as the policy proposed it (before its target was pinned)."""
    key = lambda args: json.dumps(args, sort_keys=True)  # noqa: E731
    return a["tool"] == b["tool"] and key(a["args"]) in {key(b["args"]), key(b.get("proposed") or b["args"])}


def instances(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """alertname -> the label sets of its firing instances, without the labels a rule adds."""
    out: dict[str, list[dict[str, str]]] = {}
    for a in alerts:
        labels = dict(a.get("labels") or {})
        name = labels.pop("alertname", None)
        if name and a.get("status", "firing") == "firing":
            labels.pop("severity", None)
            out.setdefault(str(name), []).append({str(k): str(v) for k, v in labels.items()})
    return out


def build(diagnosis: Diagnosis, registry: ToolRegistry, refused: list[dict[str, Any]],
          executed: list[dict[str, Any]], alert_rules: dict[str, str],
          alert_instances: dict[str, list[dict[str, str]]] | None = None) -> Runbook:
    """`alert_rules`: name -> expression of the alerts that opened the incident; they must
    return nothing again once it is mitigated, for the instances that fired
    (`alert_instances`, from `instances`), not for every series the expression covers."""
    actions: list[RunbookAction] = []
    invalid: list[dict[str, Any]] = []
    for step in diagnosis.remediation:
        tool, args = step.get("tool"), step.get("args") or {}
        if not isinstance(tool, str) or tool not in registry.tools:
            invalid.append({"call": step, "reason": f"unknown tool {tool!r}"})
            continue
        try:
            action = propose(registry, tool, args)
        except ValidationError as exc:
            invalid.append({"call": step, "reason": f"invalid arguments: {exc.errors()[0]['msg']}"})
            continue
        if action.risk == Risk.READ:
            invalid.append({"call": step, "reason": "a read-only tool is not a remediation"})
            continue
        candidate = {"tool": action.tool, "args": action.args}
        if any(same(candidate, r) for r in refused) or any(same(candidate, e) for e in executed):
            continue
        actions.append(RunbookAction(tool=action.tool, args=action.args, why=str(step.get("why", "")),
                                     risk=action.risk.value, touches=action.touches))
    # Some remedies mitigate without clearing the alert that named the cause: a drained node
    # stays broken, an HPA given room may sit at its new maximum. Those alerts are not checked;
    # the impact on the workloads is.
    isolated = {a.args["node"] for a in actions if a.tool in ("k8s_drain", "k8s_cordon")}
    lasting = tuple(prefix for a in actions for prefix in STILL_FIRING.get(a.tool, ()))
    checked = {name: expr for name, expr in alert_rules.items() if not (lasting and name.startswith(lasting))}
    verification = list(checked.values())
    scope = {expr: (alert_instances or {})[name] for name, expr in checked.items()
             if (alert_instances or {}).get(name)}
    if isolated:
        verification.append("sum(kube_deployment_status_replicas_unavailable) > 0")
    touched = [t for a in actions for t in a.touches]
    for component in dict.fromkeys([*diagnosis.components, *touched]):
        parts = component.split("/")
        if len(parts) == 3 and parts[1] == "Deployment":
            ns, name = parts[0], parts[2]
            verification.append(f'kube_deployment_status_replicas_unavailable{{namespace="{ns}",'
                                f'deployment="{name}"}} > 0')
            sel = f'namespace="{ns}",service="{name}"'
            verification.append(f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[5m])) / '
                                f'sum(rate(http_requests_total{{{sel}}}[5m])) > 0.02')
            verification.append("histogram_quantile(0.99, sum by (le) (rate("
                                f"http_request_duration_seconds_bucket{{{sel}}}[5m]))) > 0.5")
        if len(parts) == 2 and parts[0] == "Node" and parts[1] not in isolated:
            verification.append(f'kube_node_status_condition{{node="{parts[1]}",condition="Ready",'
                                f'status="true"}} == 0')
    if not verification:
        verification.append("sum(kube_deployment_status_replicas_unavailable) > 0")
    return Runbook(
        checklist=[f"{e.tool}: {e.finding}" for e in diagnosis.evidence] or ["re-read the symptoms"],
        analysis=f"{diagnosis.hypothesis}: {diagnosis.summary} (confidence {diagnosis.confidence:.2f})",
        actions=actions, verification=verification, scope=scope,
        rollback=[f"{a.tool}: {ROLLBACK.get(a.tool, 'restore the previous value (recorded at execution)')}"
                  for a in actions],
        invalid=invalid)
