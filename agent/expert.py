"""The `expert` policy: a rule-based SRE that sees only tool results (never ground truth), writes
short thoughts, and ends with a Diagnosis. It is the baseline and the teacher whose
trajectories bootstrap training, so it speaks the same message format an LLM does. This module
gathers the evidence (triage, then follow-ups); agent/expert_rules.py decides from it."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from opsagent.agent.expert_escalation import escalate_unrecognised, firing
from opsagent.agent.expert_rules import DB_CLIENTS, decide, pod_lines
from opsagent.agent.models import Diagnosis
from opsagent.agent.react import this_round, tool_results

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


def say(thought: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": thought, "tool_calls": calls}


def task_of(messages: list[dict[str, Any]]) -> str:
    """The task as the model read it: the first user turn."""
    return next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")


def _handled(messages: list[dict[str, Any]]) -> set[tuple[str, tuple[str, ...]]]:
    """(hypothesis, components) of the diagnoses answered in earlier rounds: acted on already, so
    their lingering traces (the last 15 minutes of logs) do not name them again."""
    earlier = messages[:len(messages) - len(this_round(messages))]
    out = set()
    for m in earlier:
        if m.get("role") == "assistant" and not m.get("tool_calls"):
            try:
                d = json.loads(m.get("content") or "")
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict) and d.get("is_incident"):
                out.add((str(d.get("hypothesis")), tuple(d.get("components") or [])))
    return out


class Expert:
    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        seen = tool_results(this_round(messages))  # a new round looks at the cluster afresh
        if not seen:
            calls = [_call("k8s_list_pods", {"namespace": "*", "problems_only": True}),
                     _call("k8s_list_nodes", {}),
                     _call("logs_patterns", {"level": ERROR_LEVELS, "minutes": 15, "top": 25})]
            calls += [_call("prometheus_query", {"query": q}) for q in SIGNALS.values()]
            return say("Triage first: unhealthy pods and nodes, error patterns in the logs, and "
                        "the golden signals and saturation in Prometheus.", calls)
        facts = self._facts(seen)
        follow = self._follow_ups(facts, seen)
        if follow:
            return say(follow[0], follow[1])
        return {"role": "assistant", "content": self._decide(messages, facts, seen).model_dump_json()}

    def _decide(self, messages: list[dict[str, Any]], facts: dict[str, Any], seen: dict) -> Diagnosis:
        """The rules' diagnosis, or a hand-over with the evidence: never "no incident" while
        alerts fire."""
        diagnosis = decide(facts, seen, handled=_handled(messages))
        if not diagnosis.is_incident and firing(task_of(messages)):
            diagnosis = escalate_unrecognised(task_of(messages), facts, seen)
        return diagnosis

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
        pending = [(ns, pod) for ns, pod, line in pod_lines(f["pods"])
                   if "status=Pending" in line or ("status=Running" in line and "ready=0/" in line)]
        if pending and "k8s_describe_pod" not in seen:
            return ("Some pods are not ready without crashing: read their events.",
                    [_call("k8s_describe_pod", {"namespace": ns, "name": name}) for ns, name in pending[:2]])
        if f["node_cpu"] and "pod_resource_usage" not in seen:
            return ("A node's CPU is saturated: which pod is using it?",
                    [_call("pod_resource_usage", {"namespace": ns}) for ns in ("batch", "shop")])
        return None
