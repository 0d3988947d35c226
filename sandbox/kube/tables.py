"""Server-side printing: the `meta.k8s.io/v1 Table` that `kubectl get` asks for, with the
columns the real API server prints for each resource."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]


def _epoch(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def age(seconds: float) -> str:
    """Kubernetes' HumanDuration: 45s, 3m12s, 25m, 5h3m, 3d4h, 45d."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    return f"{d}d{h % 24}h" if d < 8 and h % 24 else f"{d}d"


def _pod_status(o: Json) -> str:
    meta, status = o["metadata"], o["status"]
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if status.get("reason"):
        return status["reason"]
    reason = status["phase"]
    for cs in status.get("containerStatuses", []):
        state = cs["state"]
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or reason
    return reason


def _restarts(o: Json, now: float) -> str:
    statuses = o["status"].get("containerStatuses", [])
    count = sum(cs["restartCount"] for cs in statuses)
    last = [cs["lastState"]["terminated"]["finishedAt"] for cs in statuses
            if cs.get("lastState", {}).get("terminated")]
    if count and last:
        return f"{count} ({age(now - _epoch(max(last)))} ago)"
    return str(count)


def _ready(o: Json) -> str:
    statuses = o["status"].get("containerStatuses", [])
    return f"{sum(1 for cs in statuses if cs['ready'])}/{len(o['spec']['containers'])}"


def _node_status(o: Json) -> str:
    ready = next(c for c in o["status"]["conditions"] if c["type"] == "Ready")
    text = "Ready" if ready["status"] == "True" else "NotReady"
    return text + (",SchedulingDisabled" if o["spec"].get("unschedulable") else "")


def _ports(o: Json) -> str:
    return ",".join(f"{p['port']}/{p['protocol']}" for p in o["spec"]["ports"])


def _endpoints(o: Json) -> str:
    addrs = [f"{a['ip']}:{s['ports'][0]['port']}" for s in o["subsets"] for a in s.get("addresses", [])]
    if not addrs:
        return "<none>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _hpa_targets(o: Json) -> str:
    cur = o["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
    want = o["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
    return f"cpu: {cur}%/{want}%"


Column = tuple[str, str, int, Callable[[Json, float], Any]]  # name, type, priority, cell

COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Ready", "string", 0, lambda o, now: _ready(o)),
        ("Status", "string", 0, lambda o, now: _pod_status(o)),
        ("Restarts", "string", 0, _restarts),
        ("IP", "string", 1, lambda o, now: o["status"].get("podIP", "<none>")),
        ("Node", "string", 1, lambda o, now: o["spec"].get("nodeName", "<none>")),
    ],
    "nodes": [
        ("Status", "string", 0, lambda o, now: _node_status(o)),
        ("Roles", "string", 0, lambda o, now: "<none>"),
        ("Age", "string", 0, lambda o, now: age(now - _epoch(o["metadata"]["creationTimestamp"]))),
        ("Version", "string", 0, lambda o, now: o["status"]["nodeInfo"]["kubeletVersion"]),
        ("Internal-IP", "string", 1, lambda o, now: o["status"]["addresses"][0]["address"]),
    ],
    "deployments": [
        ("Ready", "string", 0, lambda o, now:
         f"{o['status'].get('readyReplicas', 0)}/{o['spec']['replicas']}"),
        ("Up-to-date", "integer", 0, lambda o, now: o["status"].get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o, now: o["status"].get("availableReplicas", 0)),
        ("Images", "string", 1, lambda o, now:
         ",".join(c["image"] for c in o["spec"]["template"]["spec"]["containers"])),
    ],
    "replicasets": [
        ("Desired", "integer", 0, lambda o, now: o["spec"]["replicas"]),
        ("Current", "integer", 0, lambda o, now: o["status"]["replicas"]),
        ("Ready", "integer", 0, lambda o, now: o["status"].get("readyReplicas", 0)),
    ],
    "statefulsets": [
        ("Ready", "string", 0, lambda o, now:
         f"{o['status'].get('readyReplicas', 0)}/{o['spec']['replicas']}"),
    ],
    "services": [
        ("Type", "string", 0, lambda o, now: o["spec"]["type"]),
        ("Cluster-IP", "string", 0, lambda o, now: o["spec"]["clusterIP"]),
        ("External-IP", "string", 0, lambda o, now: "<none>"),
        ("Port(s)", "string", 0, lambda o, now: _ports(o)),
    ],
    "endpoints": [("Endpoints", "string", 0, lambda o, now: _endpoints(o))],
    "configmaps": [("Data", "integer", 0, lambda o, now: len(o.get("data", {})))],
    "secrets": [
        ("Type", "string", 0, lambda o, now: o["type"]),
        ("Data", "integer", 0, lambda o, now: len(o.get("data", {}))),
    ],
    "horizontalpodautoscalers": [
        ("Reference", "string", 0, lambda o, now: f"Deployment/{o['spec']['scaleTargetRef']['name']}"),
        ("Targets", "string", 0, lambda o, now: _hpa_targets(o)),
        ("MinPods", "integer", 0, lambda o, now: o["spec"]["minReplicas"]),
        ("MaxPods", "integer", 0, lambda o, now: o["spec"]["maxReplicas"]),
        ("Replicas", "integer", 0, lambda o, now: o["status"]["currentReplicas"]),
    ],
    "persistentvolumeclaims": [
        ("Status", "string", 0, lambda o, now: o["status"]["phase"]),
        ("Volume", "string", 0, lambda o, now: o["spec"]["volumeName"]),
        ("Capacity", "string", 0, lambda o, now: o["status"]["capacity"]["storage"]),
        ("Access Modes", "string", 0, lambda o, now: "RWO"),
        ("StorageClass", "string", 0, lambda o, now: o["spec"]["storageClassName"]),
    ],
    "namespaces": [("Status", "string", 0, lambda o, now: "Active")],
    "ingresses": [
        ("Class", "string", 0, lambda o, now: o["spec"].get("ingressClassName", "<none>")),
        ("Hosts", "string", 0, lambda o, now: ",".join(r.get("host", "*") for r in o["spec"]["rules"])),
        ("Address", "string", 0, lambda o, now:
         ",".join(i["ip"] for i in o["status"]["loadBalancer"].get("ingress", []))),
        ("Ports", "string", 0, lambda o, now: "80, 443" if o["spec"].get("tls") else "80"),
    ],
    "poddisruptionbudgets": [
        ("Min Available", "string", 0, lambda o, now: str(o["spec"].get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", 0, lambda o, now: str(o["spec"].get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o, now: o["status"]["disruptionsAllowed"]),
    ],
    "ingressclasses": [
        ("Controller", "string", 0, lambda o, now: o["spec"]["controller"]),
        ("Parameters", "string", 0, lambda o, now: "<none>"),
    ],
}

EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", 0, lambda o, now: age(now - _epoch(o["lastTimestamp"]))),
    ("Type", "string", 0, lambda o, now: o["type"]),
    ("Reason", "string", 0, lambda o, now: o["reason"]),
    ("Object", "string", 0, lambda o, now:
     f"{o['involvedObject']['kind'].lower()}/{o['involvedObject']['name']}"),
    ("Message", "string", 0, lambda o, now: o["message"]),
]


def table(resource: str, objects: list[Json], now: float, resource_version: str,
          include: str | None = None) -> Json:
    """A server-side Table. `include` is the request's includeObject: Metadata (the default),
    Object (the whole object: kubectl asks for it to --sort-by a field) or None."""
    if resource == "events":
        columns = EVENT_COLUMNS
    else:
        columns = [("Name", "string", 0, lambda o, now: o["metadata"]["name"]),
                   *COLUMNS.get(resource, [])]
        if not any(c[0] == "Age" for c in columns):
            columns.append(("Age", "string", 0, lambda o, now:
                            age(now - _epoch(o["metadata"]["creationTimestamp"]))))
        # kubectl shows wide-only (priority 1) columns after Age
        columns = [c for c in columns if c[2] == 0] + [c for c in columns if c[2] == 1]
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": typ, "format": "name" if name == "Name" else "",
             "description": "", "priority": prio}
            for name, typ, prio, _ in columns
        ],
        "rows": [{"cells": [cell(o, now) for _, _, _, cell in columns], **_embedded(o, include)}
                 for o in objects],
    }


def _embedded(o: Json, include: str | None) -> Json:
    if include == "None":
        return {}
    if include == "Object":
        return {"object": o}
    return {"object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": o["metadata"]}}
