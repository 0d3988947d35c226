"""The expert's knowledge as a table: each rule reads the evidence gathered so far (the triage
facts and every tool result) and either names a hypothesis, as a Diagnosis with its evidence
and remediation, or passes. Rules are tried in the table's order; the first that matches wins,
so the more specific signals come first."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsagent.agent.models import Diagnosis, Evidence

# What the team knows about its own architecture (tools/knowledge/architecture.md).
CALLEES = {"ingress-nginx-controller": ["frontend"], "frontend": ["auth", "catalog", "cart", "checkout",
           "recommendation"], "auth": ["postgres", "redis"], "cart": ["redis"],
           "catalog": ["redis", "postgres"], "checkout": ["cart", "catalog", "payment", "postgres"],
           "payment": [], "recommendation": ["catalog"], "redis": [], "postgres": []}
DB_CLIENTS = ("auth", "catalog", "checkout")

Facts = dict[str, Any]
Seen = dict[str, list[tuple[dict[str, Any], str]]]
Remedy = list[tuple[str, dict[str, Any], str]]


@dataclass(frozen=True)
class Rule:
    signal: str  # what in the evidence the rule looks for
    hypothesis: str  # what it concludes
    match: Callable[[Facts, Seen], Diagnosis | None]


def labels(text: str, label: str) -> list[str]:
    return re.findall(rf'{label}="([^"]+)"', text)


def pod_lines(text: str) -> list[tuple[str, str, str]]:
    """(namespace, pod, line) from k8s_list_pods output."""
    return [(*line.split()[0].split("/", 1), line) for line in text.splitlines()
            if " ready=" in line and "/" in line.split()[0]]  # type: ignore[misc]


def deployment_of(pod: str) -> str:
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else parts[0]


def diagnosis(hypothesis: str, components: list[str], level: str, fault_type: str, summary: str,
              evidence: list[tuple[str, str]], remediation: Remedy | None = None,
              confidence: float = 0.8) -> Diagnosis:
    return Diagnosis(is_incident=True, symptom=evidence[0][1] if evidence else None, hypothesis=hypothesis,
                     components=components, level=level, fault_type=fault_type, summary=summary,
                     confidence=confidence,
                     evidence=[Evidence(tool=t, finding=x) for t, x in evidence],
                     remediation=[{"tool": t, "args": a, "why": w} for t, a, w in remediation or []])


def _node_not_ready(f: Facts, seen: Seen) -> Diagnosis | None:
    for line in f["nodes"].splitlines():
        node = line.split()[0]
        if "ready=Unknown" in line or "ready=False" in line:
            return diagnosis("node not ready", [f"Node/{node}"], "Hardware", "Network/Storage Issue",
                             f"{node} stopped reporting; its pods are unreachable.",
                             [("k8s_list_nodes", line)],
                             [("k8s_drain", {"node": node}, "move the workloads to healthy nodes")])
    return None


def _node_disk(f: Facts, seen: Seen) -> Diagnosis | None:
    for instance in labels(f["disk"], "instance"):
        return diagnosis("node disk full", [f"Node/{instance}"], "Operating System", "Network/Storage Issue",
                         f"{instance}'s root filesystem is nearly full; the kubelet evicts pods.",
                         [("prometheus_query", f"{instance} filesystem almost full")], confidence=0.85)
    return None


def _node_nic(f: Facts, seen: Seen) -> Diagnosis | None:
    for instance in labels(f["nic"], "instance"):
        return diagnosis("node NIC packet loss", [f"Node/{instance}"], "Hardware", "Network/Storage Issue",
                         f"{instance}'s network interface drops packets; requests through it are reset.",
                         [("prometheus_query", f"receive errors on {instance}")],
                         [("k8s_drain", {"node": instance}, "move the workloads off the faulty NIC")])
    return None


def _coredns(f: Facts, seen: Seen) -> Diagnosis | None:
    if "not an IP address or file" not in f["logs"]:
        return None
    return diagnosis("CoreDNS misconfigured",
                     ["kube-system/ConfigMap/coredns", "kube-system/Deployment/coredns"],
                     "Virtualization", "Misconfiguration",
                     "CoreDNS cannot start: its Corefile forwards to a hostname; every lookup fails.",
                     [("logs_patterns", "plugin/forward: not an IP address or file")])


def _db_password(f: Facts, seen: Seen) -> Diagnosis | None:
    if "password authentication failed" not in f["logs"]:
        return None
    return diagnosis("database credentials rotated", ["shop/ExternalSecret/postgres-credentials"],
                     "Application", "Authentication Issue",
                     "Database clients present a password PostgreSQL no longer accepts; the app "
                     "Secret was not refreshed after a rotation.",
                     [("logs_patterns", "password authentication failed for user")],
                     [("external_secret_refresh", {"name": "postgres-credentials"},
                       "sync the rotated password from the secret store")]
                     + [("k8s_rollout_restart", {"name": s}, "clients read the Secret at start")
                        for s in DB_CLIENTS])


def _certificate(f: Facts, seen: Seen) -> Diagnosis | None:
    if "CERTIFICATE_EXPIRED" not in f["logs"]:
        return None
    return diagnosis("expired client certificate",
                     ["shop/Certificate/paygate-client-tls", "shop/Deployment/payment"],
                     "Application", "Authentication Issue",
                     "payment's mTLS client certificate expired; the gateway rejects every charge.",
                     [("logs_patterns", "SSLV3_ALERT_CERTIFICATE_EXPIRED")],
                     [("cert_renew", {"name": "paygate-client-tls"}, "re-issue the certificate now"),
                      ("k8s_rollout_restart", {"name": "payment"}, "payment loads its certificate at start")])


def _gateway(f: Facts, seen: Seen) -> Diagnosis | None:
    if "502 Bad Gateway from https://api.paygate.example" not in f["logs"]:
        return None
    return diagnosis("payment gateway outage", ["external/API/api.paygate.example"], "Application",
                     "Dependency Problem", "The external payment gateway answers 502.",
                     [("logs_patterns", "charge failed: 502 Bad Gateway")],
                     [("k8s_patch_env", {"name": "payment",
                                         "set": {"PAYGATE_URL": "https://eu.api.paygate.example"}},
                       "fail over to the gateway's secondary endpoint")])


def _pvc_full(f: Facts, seen: Seen) -> Diagnosis | None:
    for claim in labels(f["pvc"], "persistentvolumeclaim"):
        return diagnosis("database volume full",
                         [f"shop/PersistentVolumeClaim/{claim}", "shop/StatefulSet/postgres"],
                         "Virtualization", "Network/Storage Issue", f"{claim} is almost full; writes fail.",
                         [("prometheus_query", f"{claim} below 10% free")],
                         [("k8s_expand_pvc", {"name": claim, "size": "40Gi"}, "grow the volume online")])
    return None


def _connection_leak(f: Facts, seen: Seen) -> Diagnosis | None:
    for args, text in seen.get("k8s_rollout_history", []):
        if re.search(r"created \d+m ago", text):
            svc = args["name"]
            return diagnosis("connection leak in a release", [f"shop/Deployment/{svc}"], "Application",
                             "Code Defect", f"PostgreSQL ran out of connections after {svc}'s recent "
                             "release; the release leaks connections.",
                             [("prometheus_query", "connections above 90% of max_connections"),
                              ("k8s_rollout_history", f"{svc}: new revision minutes ago")],
                             [("k8s_rollout_undo", {"name": svc}, "roll the leaking release back")])
    return None


def _crashing_pods(f: Facts, seen: Seen) -> Diagnosis | None:
    for ns, pod, line in pod_lines(f["pods"]):
        deploy = deployment_of(pod) if not re.match(r".*-\d+$", pod) else pod.rsplit("-", 1)[0]
        component = [f"{ns}/Deployment/{deploy}"]
        if "ImagePullBackOff" in line or "ErrImagePull" in line:
            return diagnosis("image tag missing", component, "Virtualization", "Operation Error",
                             f"{deploy}'s new pods cannot pull their image.", [("k8s_list_pods", line)],
                             [("k8s_rollout_undo", {"name": deploy, "namespace": ns},
                               "back to the last good image")])
        if "last=OOMKilled" in line and "coredns" not in pod:
            return diagnosis("memory leak in a release", component, "Application", "Code Defect",
                             f"{deploy} is OOMKilled over and over.", [("k8s_list_pods", line)],
                             [("k8s_rollout_undo", {"name": deploy, "namespace": ns},
                               "roll the leaking release back")])
    return None


def _unresolvable_host(f: Facts, seen: Seen) -> Diagnosis | None:
    if "no such host" not in f["logs"]:
        return None
    crashing = [(ns, pod) for ns, pod, line in pod_lines(f["pods"]) if "CrashLoopBackOff" in line]
    if not crashing:
        return None
    ns, pod = crashing[0]
    deploy = deployment_of(pod)
    return diagnosis("bad configuration", [f"{ns}/Deployment/{deploy}"], "Application", "Misconfiguration",
                     f"{deploy}'s new pods exit at start: a variable names a host that does not resolve.",
                     [("logs_patterns", "lookup ...: no such host")],
                     [("k8s_rollout_undo", {"name": deploy, "namespace": ns}, "undo the config change")])


def _pod_events(f: Facts, seen: Seen) -> Diagnosis | None:
    for args, text in seen.get("k8s_describe_pod", []):
        deploy = deployment_of(args["name"])
        if "node affinity/selector" in text:
            return diagnosis("pods pinned to a missing node", [f"shop/Deployment/{deploy}"], "Virtualization",
                             "Misconfiguration", f"{deploy}'s new pods cannot be scheduled.",
                             [("k8s_describe_pod", "FailedScheduling: didn't match node selector")],
                             [("k8s_rollout_undo", {"name": deploy}, "undo the nodeSelector change")])
        if "Readiness probe failed" in text:
            return diagnosis("readiness probe misconfigured", [f"shop/Deployment/{deploy}"], "Virtualization",
                             "Misconfiguration", f"{deploy}'s new pods never pass their readiness probe.",
                             [("k8s_describe_pod", "Readiness probe failed: 404")],
                             [("k8s_rollout_undo", {"name": deploy}, "undo the probe change")])
    return None


def _defect(f: Facts, seen: Seen) -> Diagnosis | None:
    defect = re.search(r"^\d+ \| [\d:.]+ \| ([a-z-]+) \|[^\n]*(NullPointerException|nil pointer|KeyError)",
                       f["logs"], re.M)
    if not defect:
        return None
    svc = defect.group(1)
    return diagnosis("defective release", [f"shop/Deployment/{svc}"], "Application", "Code Defect",
                     f"{svc} raises {defect.group(2)} on a share of requests.",
                     [("logs_patterns", defect.group(0)[:120])],
                     [("k8s_rollout_undo", {"name": svc}, "roll the release back")])


def _service(f: Facts, seen: Seen) -> Diagnosis | None:
    for args, text in seen.get("k8s_get_service", []):
        svc = args["name"]
        m = re.search(r"ports \d+->(\d+)/\w+.*?pods listen on \[(\d+)", text, re.S)
        if re.search(r"^ready endpoints: none", text, re.M):
            before = [t for a, t in seen.get("prometheus_query", [])
                      if f'deployment="{svc}"' in a["query"] and "=>" in t]
            replicas = int(float(re.findall(r"=> ([\d.]+)", before[0])[0])) if before else 2
            return diagnosis("scaled to zero", [f"shop/Deployment/{svc}"], "Application", "Operation Error",
                             f"{svc} has no pods: it was scaled to zero.",
                             [("k8s_get_service", "no endpoints")],
                             [("k8s_scale", {"name": svc, "replicas": max(1, replicas)},
                               "restore the replicas")])
        if m and m.group(1) != m.group(2):
            return diagnosis("service targetPort mismatch", [f"shop/Service/{svc}"], "Virtualization",
                             "Misconfiguration", f"{svc}'s Service forwards to {m.group(1)}; pods listen on "
                             f"{m.group(2)}.",
                             [("k8s_get_service", f"targetPort {m.group(1)} vs {m.group(2)}")],
                             [("k8s_patch_service_port", {"name": svc, "target_port": int(m.group(2))},
                               "point the Service at the port the pods listen on")])
    return None


def _hpa_at_max(f: Facts, seen: Seen) -> Diagnosis | None:
    for hpa in labels(f["hpa"], "horizontalpodautoscaler"):
        return diagnosis("traffic surge, HPA at max",
                         [f"shop/HorizontalPodAutoscaler/{hpa}", f"shop/Deployment/{hpa}"],
                         "Application", "Misconfiguration",
                         f"{hpa}'s HPA is at its maximum and pods saturate.",
                         [("prometheus_query", "current replicas == max replicas")],
                         [("k8s_patch_hpa", {"name": hpa, "max_replicas": 32}, "let the HPA add capacity")])
    return None


def _redis_evictions(f: Facts, seen: Seen) -> Diagnosis | None:
    if not f["redis"]:
        return None
    return diagnosis("redis eviction storm", ["shop/Deployment/redis"], "Application", "Misconfiguration",
                     "Redis evicts keys continuously: its memory limit is below the working set.",
                     [("prometheus_query", "redis_evicted_keys_total rising")],
                     [("k8s_patch_resources",
                       {"name": "redis", "memory_limit": "1Gi", "memory_request": "512Mi"},
                       "give the cache its working set back")])


def _noisy_neighbour(f: Facts, seen: Seen) -> Diagnosis | None:
    for args, text in seen.get("pod_resource_usage", []):
        if args["namespace"] == "batch" and text.strip():
            deploy = deployment_of(text.split()[0])
            return diagnosis("noisy neighbour", [f"batch/Deployment/{deploy}"], "Virtualization",
                             "Misconfiguration",
                             f"{deploy} in batch has no CPU limit and saturates its node.",
                             [("pod_resource_usage", text.splitlines()[0])],
                             [("k8s_patch_resources",
                               {"name": deploy, "namespace": "batch", "cpu_limit": "500m"},
                               "cap the batch job's CPU")])
    return None


def _throttled(f: Facts, seen: Seen) -> Diagnosis | None:
    throttled = [p for ns, p in zip(labels(f["throttle"], "namespace"), labels(f["throttle"], "pod"),
                                    strict=False) if ns == "shop"]
    if not throttled:
        return None
    deploy = deployment_of(throttled[0])
    return diagnosis("CPU limit too low", [f"shop/Deployment/{deploy}"], "Virtualization",
                     "Misconfiguration", f"{deploy} is CPU-throttled far above normal.",
                     [("prometheus_query", "throttling > 25%")],
                     [("k8s_patch_resources", {"name": deploy, "cpu_limit": "1", "cpu_request": "250m"},
                       "restore a CPU limit that covers the demand")])


def _slow_leaf(f: Facts, seen: Seen) -> Diagnosis | None:
    slow = set(labels(f["latency"], "service"))
    leaves = [s for s in slow if s in CALLEES and not set(CALLEES[s]) & slow]
    if not leaves:
        return None
    svc = sorted(leaves)[0]
    return diagnosis("network delay", [f"shop/Deployment/{svc}"], "Virtualization", "Operation Error",
                     f"{svc} is slow with healthy pods and CPU: its network path adds delay.",
                     [("prometheus_query", f"p99 above 500 ms starting at {svc}")],
                     [("k8s_rollout_restart", {"name": svc}, "fresh pods get a clean network namespace")],
                     confidence=0.6)


RULES: tuple[Rule, ...] = (
    Rule("a node reports ready=Unknown or False", "node not ready", _node_not_ready),
    Rule("a node filesystem below 12% free", "node disk full", _node_disk),
    Rule("NIC receive errors on a node", "node NIC packet loss", _node_nic),
    Rule("CoreDNS logs 'not an IP address or file'", "CoreDNS misconfigured", _coredns),
    Rule("logs: password authentication failed", "database credentials rotated", _db_password),
    Rule("logs: CERTIFICATE_EXPIRED", "expired client certificate", _certificate),
    Rule("logs: 502 from the payment gateway", "payment gateway outage", _gateway),
    Rule("a PVC below 10% free", "database volume full", _pvc_full),
    Rule("a database client released minutes ago", "connection leak in a release", _connection_leak),
    Rule("pods in ImagePullBackOff, or OOMKilled", "image tag missing / memory leak", _crashing_pods),
    Rule("logs: no such host, pods in CrashLoopBackOff", "bad configuration", _unresolvable_host),
    Rule("pod events: FailedScheduling, readiness probe failed", "pinned pods / probe misconfigured",
         _pod_events),
    Rule("logs: NullPointerException, nil pointer, KeyError", "defective release", _defect),
    Rule("a Service with no endpoints, or a targetPort no pod listens on", "scaled to zero / port mismatch",
         _service),
    Rule("an HPA at its maximum replicas", "traffic surge, HPA at max", _hpa_at_max),
    Rule("Redis evicting keys", "redis eviction storm", _redis_evictions),
    Rule("a batch pod using a saturated node's CPU", "noisy neighbour", _noisy_neighbour),
    Rule("a shop pod CPU-throttled over 25%", "CPU limit too low", _throttled),
    Rule("p99 latency high at a service whose callees are fast", "network delay", _slow_leaf),
)

NO_INCIDENT = Diagnosis(is_incident=False, hypothesis="no incident", components=[], confidence=0.7,
                        summary="No error, saturation or unhealthy object beyond normal noise.")


def decide(f: Facts, seen: Seen, handled: set[tuple[str, tuple[str, ...]]] | None = None) -> Diagnosis:
    """The first rule that matches, else no incident. `handled`: (hypothesis, components) already
    diagnosed and acted on in this incident; a rule that names one again passes."""
    for rule in RULES:
        found = rule.match(f, seen)
        if found is not None and (found.hypothesis, tuple(found.components)) not in (handled or set()):
            return found
    return NO_INCIDENT
