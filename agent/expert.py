"""The `expert` policy: a rule-based SRE that sees only tool results (never ground truth), writes
short thoughts, and ends with a Diagnosis. It is the baseline and the teacher whose
trajectories bootstrap training, so it speaks the same message format an LLM does."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from agent.models import Diagnosis, Evidence
from agent.react import tool_results

# What the team knows about its own architecture (tools/knowledge/architecture.md).
CALLEES = {"ingress-nginx-controller": ["frontend"], "frontend": ["auth", "catalog", "cart", "checkout",
           "recommendation"], "auth": ["postgres", "redis"], "cart": ["redis"],
           "catalog": ["redis", "postgres"], "checkout": ["cart", "catalog", "payment", "postgres"],
           "payment": [], "recommendation": ["catalog"], "redis": [], "postgres": []}
DB_CLIENTS = ("auth", "catalog", "checkout")

SIGNALS = {
    "errors": 'sum by (service) (rate(http_requests_total{code="503"}[5m])) / '
              "sum by (service) (rate(http_requests_total[5m])) > 0.02",
    "latency": "histogram_quantile(0.99, sum by (service, le) "
               "(rate(http_request_duration_seconds_bucket[5m]))) > 0.5",
    "nic": "rate(node_network_receive_errs_total[5m]) > 1",
    "disk": "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.12",
    "node_cpu": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.85',
    "pvc": "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.1",
    "pg": "max(max_over_time(pg_stat_activity_count[5m])) / max(pg_settings_max_connections) > 0.9",
    "redis": "rate(redis_evicted_keys_total[5m]) > 10",
    "hpa": "kube_horizontalpodautoscaler_status_current_replicas "
           ">= kube_horizontalpodautoscaler_spec_max_replicas",
    "throttle": "sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total[5m])) / "
                "sum by (namespace, pod) (rate(container_cpu_cfs_periods_total[5m])) > 0.25",
}
ERROR_LEVELS = "ERROR,FATAL,CRITICAL,PANIC"
_ids = itertools.count(1)


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"call_{next(_ids)}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def _say(thought: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": thought, "tool_calls": calls}


def _labels(text: str, label: str) -> list[str]:
    return re.findall(rf'{label}="([^"]+)"', text)


def _pod_lines(text: str) -> list[tuple[str, str, str]]:
    """(namespace, pod, line) from k8s_list_pods output."""
    return [(*line.split()[0].split("/", 1), line) for line in text.splitlines()
            if " ready=" in line and "/" in line.split()[0]]  # type: ignore[misc]


def _deployment_of(pod: str) -> str:
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else parts[0]


class Expert:
    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        seen = tool_results(messages)
        if not seen:
            calls = [_call("k8s_list_pods", {"namespace": "*", "problems_only": True}),
                     _call("k8s_list_nodes", {}),
                     _call("logs_patterns", {"level": ERROR_LEVELS, "minutes": 15, "top": 25})]
            calls += [_call("prometheus_query", {"query": q}) for q in SIGNALS.values()]
            return _say("Triage first: unhealthy pods and nodes, error patterns in the logs, and "
                        "the golden signals and saturation in Prometheus.", calls)
        facts = self._facts(seen)
        follow = self._follow_ups(facts, seen)
        if follow:
            return _say(follow[0], follow[1])
        diagnosis = self._diagnose(facts, seen)
        return {"role": "assistant", "content": diagnosis.model_dump_json()}

    # ---- reading the triage ------------------------------------------------------------------
    def _facts(self, seen: dict[str, list[tuple[dict, str]]]) -> dict[str, Any]:
        queries = {a["query"]: text for a, text in seen.get("prometheus_query", [])}
        # A signal counts only when its query returned series ("name{...} => value" lines).
        signal = {name: queries.get(q, "") if "=>" in queries.get(q, "") else ""
                  for name, q in SIGNALS.items()}
        return {
            "pods": seen.get("k8s_list_pods", [({}, "")])[0][1],
            "nodes": seen.get("k8s_list_nodes", [({}, "")])[0][1],
            "logs": seen.get("logs_patterns", [({}, "")])[0][1],
            **signal,
        }

    def _follow_ups(self, f: dict[str, Any], seen: dict) -> tuple[str, list[dict]] | None:
        logs = f["logs"]
        if ("too many clients" in logs or f["pg"]) \
                and "k8s_rollout_history" not in seen:
            return ("PostgreSQL is out of connections: which database client changed recently?",
                    [_call("k8s_rollout_history", {"name": s}) for s in DB_CLIENTS])
        refused = re.findall(r'"upstream":"([a-z-]+)","error":"Get[^\n|]*?connection refused', logs)
        refused += re.findall(r'request for \\?"http://([a-z-]+):[^\n]*?Connection refused', logs)
        refused += re.findall(r"host='([a-z-]+)'[^\n]*?Connection refused", logs)
        refused += re.findall(r'"GET /api/([a-z-]+) HTTP/1.1" 503', logs)  # ingress: no endpoints
        targets = sorted(set(refused))
        if targets and "k8s_get_service" not in seen:
            return (f"Calls to {', '.join(targets)} are refused: compare the Service with its pods.",
                    [_call("k8s_get_service", {"name": t}) for t in targets] +
                    [_call("prometheus_query", {"query": "max_over_time(kube_deployment_spec_replicas"
                                                         f'{{deployment="{t}"}}[30m])'}) for t in targets])
        pending = [(ns, pod) for ns, pod, line in _pod_lines(f["pods"])
                   if "status=Pending" in line or ("status=Running" in line and "ready=0/" in line)]
        if pending and "k8s_describe_pod" not in seen:
            return ("Some pods are not ready without crashing: read their events.",
                    [_call("k8s_describe_pod", {"namespace": ns, "name": name}) for ns, name in pending[:2]])
        if f["node_cpu"] and "pod_resource_usage" not in seen:
            return ("A node's CPU is saturated: which pod is using it?",
                    [_call("pod_resource_usage", {"namespace": ns}) for ns in ("batch", "shop")])
        return None

    # ---- deciding ------------------------------------------------------------------------------
    def _diagnose(self, f: dict[str, Any], seen: dict) -> Diagnosis:
        logs, pods, nodes = f["logs"], f["pods"], f["nodes"]

        def d(hypothesis: str, components: list[str], level: str, fault_type: str, summary: str,
              evidence: list[tuple[str, str]], remediation: list[tuple[str, dict, str]] | None = None,
              confidence: float = 0.8) -> Diagnosis:
            return Diagnosis(is_incident=True, hypothesis=hypothesis, components=components, level=level,
                             fault_type=fault_type, summary=summary, confidence=confidence,
                             evidence=[Evidence(tool=t, finding=x) for t, x in evidence],
                             remediation=[{"tool": t, "args": a, "why": w} for t, a, w in remediation or []])

        for line in nodes.splitlines():
            node = line.split()[0]
            if "ready=Unknown" in line or "ready=False" in line:
                return d("node not ready", [f"Node/{node}"], "Hardware", "Network/Storage Issue",
                         f"{node} stopped reporting; its pods are unreachable.", [("k8s_list_nodes", line)],
                         [("k8s_drain", {"node": node}, "move the workloads to healthy nodes")])
        for instance in _labels(f["disk"], "instance"):
            return d("node disk full", [f"Node/{instance}"], "Operating System", "Network/Storage Issue",
                     f"{instance}'s root filesystem is nearly full; the kubelet evicts pods.",
                     [("prometheus_query", f"{instance} filesystem almost full")], confidence=0.85)
        for instance in _labels(f["nic"], "instance"):
            return d("node NIC packet loss", [f"Node/{instance}"], "Hardware", "Network/Storage Issue",
                     f"{instance}'s network interface drops packets; requests through it are reset.",
                     [("prometheus_query", f"receive errors on {instance}")],
                     [("k8s_drain", {"node": instance}, "move the workloads off the faulty NIC")])
        if "not an IP address or file" in logs:
            return d("CoreDNS misconfigured",
                     ["kube-system/ConfigMap/coredns", "kube-system/Deployment/coredns"],
                     "Virtualization", "Misconfiguration",
                     "CoreDNS cannot start: its Corefile forwards to a hostname; every lookup fails.",
                     [("logs_patterns", "plugin/forward: not an IP address or file")])
        if "password authentication failed" in logs:
            return d("database credentials rotated", ["shop/ExternalSecret/postgres-credentials"],
                     "Application", "Authentication Issue",
                     "Database clients present a password PostgreSQL no longer accepts; the app "
                     "Secret was not refreshed after a rotation.",
                     [("logs_patterns", "password authentication failed for user")],
                     [("external_secret_refresh", {"name": "postgres-credentials"},
                       "sync the rotated password from the secret store")]
                     + [("k8s_rollout_restart", {"name": s}, "clients read the Secret at start")
                        for s in DB_CLIENTS])
        if "CERTIFICATE_EXPIRED" in logs:
            return d("expired client certificate", ["shop/Certificate/paygate-client-tls",
                                                    "shop/Deployment/payment"],
                     "Application", "Authentication Issue",
                     "payment's mTLS client certificate expired; the gateway rejects every charge.",
                     [("logs_patterns", "SSLV3_ALERT_CERTIFICATE_EXPIRED")],
                     [("cert_renew", {"name": "paygate-client-tls"}, "re-issue the certificate now"),
                      ("k8s_rollout_restart", {"name": "payment"}, "payment loads its certificate at start")])
        if "502 Bad Gateway from https://api.paygate.example" in logs:
            return d("payment gateway outage", ["external/API/api.paygate.example"], "Application",
                     "Dependency Problem", "The external payment gateway answers 502.",
                     [("logs_patterns", "charge failed: 502 Bad Gateway")],
                     [("k8s_patch_env", {"name": "payment", "set": {"PAYGATE_URL": "https://eu.api.paygate.example"}},
                       "fail over to the gateway's secondary endpoint")])
        for claim in _labels(f["pvc"], "persistentvolumeclaim"):
            return d("database volume full",
                     [f"shop/PersistentVolumeClaim/{claim}", "shop/StatefulSet/postgres"],
                     "Virtualization", "Network/Storage Issue", f"{claim} is almost full; writes fail.",
                     [("prometheus_query", f"{claim} below 10% free")],
                     [("k8s_expand_pvc", {"name": claim, "size": "40Gi"}, "grow the volume online")])
        if "k8s_rollout_history" in seen:
            for args, text in seen["k8s_rollout_history"]:
                if re.search(r"created \d+m ago", text):
                    svc = args["name"]
                    return d("connection leak in a release", [f"shop/Deployment/{svc}"], "Application",
                             "Code Defect", f"PostgreSQL ran out of connections after {svc}'s recent "
                             "release; the release leaks connections.",
                             [("prometheus_query", "connections above 90% of max_connections"),
                              ("k8s_rollout_history", f"{svc}: new revision minutes ago")],
                             [("k8s_rollout_undo", {"name": svc}, "roll the leaking release back")])
        for ns, pod, line in _pod_lines(pods):
            deploy = _deployment_of(pod) if not re.match(r".*-\d+$", pod) else pod.rsplit("-", 1)[0]
            component = [f"{ns}/Deployment/{deploy}"]
            if "ImagePullBackOff" in line or "ErrImagePull" in line:
                return d("image tag missing", component, "Virtualization", "Operation Error",
                         f"{deploy}'s new pods cannot pull their image.", [("k8s_list_pods", line)],
                         [("k8s_rollout_undo", {"name": deploy, "namespace": ns},
                           "back to the last good image")])
            if "last=OOMKilled" in line and "coredns" not in pod:
                return d("memory leak in a release", component, "Application", "Code Defect",
                         f"{deploy} is OOMKilled over and over.", [("k8s_list_pods", line)],
                         [("k8s_rollout_undo", {"name": deploy, "namespace": ns},
                           "roll the leaking release back")])
        if "no such host" in logs:
            crashing = [(ns, pod) for ns, pod, line in _pod_lines(pods) if "CrashLoopBackOff" in line]
            if crashing:
                ns, pod = crashing[0]
                deploy = _deployment_of(pod)
                return d("bad configuration", [f"{ns}/Deployment/{deploy}"], "Application",
                         "Misconfiguration",
                         f"{deploy}'s new pods exit at start: a variable names a host that does not resolve.",
                         [("logs_patterns", "lookup ...: no such host")],
                         [("k8s_rollout_undo", {"name": deploy, "namespace": ns}, "undo the config change")])
        for args, text in seen.get("k8s_describe_pod", []):
            deploy = _deployment_of(args["name"])
            if "node affinity/selector" in text:
                return d("pods pinned to a missing node", [f"shop/Deployment/{deploy}"], "Virtualization",
                         "Misconfiguration", f"{deploy}'s new pods cannot be scheduled.",
                         [("k8s_describe_pod", "FailedScheduling: didn't match node selector")],
                         [("k8s_rollout_undo", {"name": deploy}, "undo the nodeSelector change")])
            if "Readiness probe failed" in text:
                return d("readiness probe misconfigured", [f"shop/Deployment/{deploy}"], "Virtualization",
                         "Misconfiguration", f"{deploy}'s new pods never pass their readiness probe.",
                         [("k8s_describe_pod", "Readiness probe failed: 404")],
                         [("k8s_rollout_undo", {"name": deploy}, "undo the probe change")])
        defect = re.search(r"^\d+ \| [\d:.]+ \| ([a-z-]+) \|[^\n]*"
                           r"(NullPointerException|nil pointer|KeyError)", logs, re.M)
        if defect:
            svc = defect.group(1)
            return d("defective release", [f"shop/Deployment/{svc}"], "Application", "Code Defect",
                     f"{svc} raises {defect.group(2)} on a share of requests.",
                     [("logs_patterns", defect.group(0)[:120])],
                     [("k8s_rollout_undo", {"name": svc}, "roll the release back")])
        for args, text in seen.get("k8s_get_service", []):
            svc = args["name"]
            m = re.search(r"ports \d+->(\d+)/\w+.*?pods listen on \[(\d+)", text, re.S)
            if re.search(r"^ready endpoints: none", text, re.M):
                before = [t for a, t in seen.get("prometheus_query", [])
                          if f'deployment="{svc}"' in a["query"] and "=>" in t]
                replicas = int(float(re.findall(r"=> ([\d.]+)", before[0])[0])) if before else 2
                return d("scaled to zero", [f"shop/Deployment/{svc}"], "Application", "Operation Error",
                         f"{svc} has no pods: it was scaled to zero.", [("k8s_get_service", "no endpoints")],
                         [("k8s_scale", {"name": svc, "replicas": max(1, replicas)}, "restore the replicas")])
            if m and m.group(1) != m.group(2):
                return d("service targetPort mismatch", [f"shop/Service/{svc}"], "Virtualization",
                         "Misconfiguration", f"{svc}'s Service forwards to {m.group(1)}; pods listen on "
                         f"{m.group(2)}.", [("k8s_get_service", f"targetPort {m.group(1)} vs {m.group(2)}")],
                         [("k8s_patch_service_port", {"name": svc, "target_port": int(m.group(2))},
                           "point the Service at the port the pods listen on")])
        for hpa in _labels(f["hpa"], "horizontalpodautoscaler"):
            return d("traffic surge, HPA at max",
                     [f"shop/HorizontalPodAutoscaler/{hpa}", f"shop/Deployment/{hpa}"],
                     "Application", "Misconfiguration", f"{hpa}'s HPA is at its maximum and pods saturate.",
                     [("prometheus_query", "current replicas == max replicas")],
                     [("k8s_patch_hpa", {"name": hpa, "max_replicas": 16}, "let the HPA add capacity")])
        if f["redis"]:
            return d("redis eviction storm", ["shop/Deployment/redis"], "Application", "Misconfiguration",
                     "Redis evicts keys continuously: its memory limit is below the working set.",
                     [("prometheus_query", "redis_evicted_keys_total rising")],
                     [("k8s_patch_resources",
                       {"name": "redis", "memory_limit": "1Gi", "memory_request": "512Mi"},
                       "give the cache its working set back")])
        for args, text in seen.get("pod_resource_usage", []):
            if args["namespace"] == "batch" and text.strip():
                pod = text.split()[0]
                deploy = _deployment_of(pod)
                return d("noisy neighbour", [f"batch/Deployment/{deploy}"], "Virtualization",
                         "Misconfiguration",
                         f"{deploy} in batch has no CPU limit and saturates its node.",
                         [("pod_resource_usage", text.splitlines()[0])],
                         [("k8s_patch_resources", {"name": deploy, "namespace": "batch", "cpu_limit": "500m"},
                           "cap the batch job's CPU")])
        throttled = [p for ns, p in zip(_labels(f["throttle"], "namespace"), _labels(f["throttle"], "pod"),
                                        strict=False) if ns == "shop"]
        if throttled:
            deploy = _deployment_of(throttled[0])
            return d("CPU limit too low", [f"shop/Deployment/{deploy}"], "Virtualization",
                     "Misconfiguration", f"{deploy} is CPU-throttled far above normal.",
                     [("prometheus_query", "throttling > 25%")],
                     [("k8s_patch_resources", {"name": deploy, "cpu_limit": "1", "cpu_request": "250m"},
                       "restore a CPU limit that covers the demand")])
        slow = set(_labels(f["latency"], "service"))
        leaves = [s for s in slow if s in CALLEES and not set(CALLEES[s]) & slow]
        if leaves:
            svc = sorted(leaves)[0]
            return d("network delay", [f"shop/Deployment/{svc}"], "Virtualization", "Operation Error",
                     f"{svc} is slow with healthy pods and CPU: its network path adds delay.",
                     [("prometheus_query", f"p99 above 500 ms starting at {svc}")],
                     [("k8s_rollout_restart", {"name": svc}, "fresh pods get a clean network namespace")],
                     confidence=0.6)
        return Diagnosis(is_incident=False, hypothesis="no incident", components=[], summary="No "
                         "error, saturation or unhealthy object beyond normal noise.", confidence=0.7)
