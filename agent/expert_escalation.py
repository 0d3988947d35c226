"""What the expert does when its patterns do not match: it never concludes "no incident" while
something fires, but hands over with what it gathered. The localisation reads only generic
Kubernetes signals, not fault names: the objects the alerts are scoped to, every container's
waiting or terminated reason, nodes that are not Ready, scheduler and kubelet events, CPU
throttled against its limit, and error or latency saturation by service, so a fault it was
never written for still gets the right components and a safe escalation."""

from __future__ import annotations

import json
import re

from opsagent.agent.expert_rules import Facts, Seen, labels, pod_lines
from opsagent.agent.models import Diagnosis, Evidence
from opsagent.agent.triage import ROUTINE, workload

_ALERT = re.compile(r"^- (\w+) \((\w+), firing\) labels=(\{.*?\}):", re.M)
_UNHEALTHY = re.compile(r"status=(?!Running\b)(\w+)|ready=0/|last=(\w+)")
_EVENT = re.compile(r"(FailedScheduling|BackOff|Unhealthy|FailedMount|Evicted|FailedCreate|"
                    r"Killing|OOMKilling|FailedAttachVolume|NodeNotReady)[^\n]*")


def firing(task: str) -> bool:
    """Whether the task reports firing alerts (agent.triage.describe's format)."""
    return not task.startswith(ROUTINE) and bool(_ALERT.search(task))


def component_of_pod(namespace: str, pod: str) -> str:
    """namespace/Kind/name of the workload a pod belongs to, from its name's shape."""
    if (deployment := workload(pod)) != pod:
        return f"{namespace}/Deployment/{deployment}"
    parts = pod.split("-")
    if len(parts) > 1 and parts[-1].isdigit():
        return f"{namespace}/StatefulSet/{'-'.join(parts[:-1])}"
    return f"{namespace}/Pod/{pod}"


def alerted(task: str) -> tuple[list[str], list[str]]:
    """(components the firing alerts are scoped to, one line per alert)."""
    found, lines = [], []
    for name, severity, raw in _ALERT.findall(task):
        try:
            lab = json.loads(raw)
        except json.JSONDecodeError:
            continue
        ns = lab.get("namespace", "")
        if lab.get("pod") and ns:
            found.append(component_of_pod(ns, lab["pod"]))
        elif lab.get("deployment") and ns:
            found.append(f"{ns}/Deployment/{lab['deployment']}")
        elif lab.get("statefulset") and ns:
            found.append(f"{ns}/StatefulSet/{lab['statefulset']}")
        elif lab.get("node"):
            found.append(f"Node/{lab['node']}")
        lines.append(f"{name} ({severity}) {json.dumps(lab, sort_keys=True)}")
    return list(dict.fromkeys(found)), lines


def escalate_unrecognised(task: str, f: Facts, seen: Seen) -> Diagnosis:
    """A Diagnosis that hands over: the evidence gathered and the components it points at."""
    scoped, alert_lines = alerted(task)
    evidence: list[tuple[str, str]] = [("alerts", line) for line in alert_lines[:5]]
    unhealthy = []
    for ns, pod, line in pod_lines(f["pods"]):
        if _UNHEALTHY.search(line):
            unhealthy.append(component_of_pod(ns, pod))
            evidence.append(("k8s_list_pods", line))
    for line in f["nodes"].splitlines():
        if "ready=Unknown" in line or "ready=False" in line:
            unhealthy.append(f"Node/{line.split()[0]}")
            evidence.append(("k8s_list_nodes", line))
    for ns, pod in zip(labels(f["throttle"], "namespace"), labels(f["throttle"], "pod"), strict=False):
        unhealthy.append(component_of_pod(ns, pod))
        evidence.append(("prometheus_query", f"{ns}/{pod} CPU-throttled above 25% of its periods"))
    for signal in ("errors", "latency"):
        evidence += [("prometheus_query", f"{svc}: {signal} above its objective")
                     for svc in labels(f[signal], "service")]
    for _args, text in seen.get("k8s_describe_pod", []):
        evidence += [("k8s_describe_pod", m.group(0)[:160]) for m in _EVENT.finditer(text)][:3]
    unhealthy = list(dict.fromkeys(unhealthy))
    # The objects both alerted on and visibly unhealthy; else whichever of the two there is.
    components = [c for c in scoped if c in unhealthy] or scoped or unhealthy
    return Diagnosis(
        is_incident=True, hypothesis="unrecognised failure: handing over", components=components,
        summary="The symptoms match no known pattern; an SRE should look at the evidence gathered. "
                f"Unhealthy: {', '.join(unhealthy) or 'nothing visibly unhealthy'}.",
        confidence=0.3, evidence=[Evidence(tool=t, finding=x[:300]) for t, x in evidence[:12]],
        remediation=[])
