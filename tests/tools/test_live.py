"""Every tool against the live sandbox servers through the real clients (no mocks), with the
failure paths: missing objects, bad queries, a backend that is down or too slow."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opsagent.tools.config import ToolsConfig
from opsagent.tools.context import ToolContext
from tests.live import requires_stack

pytestmark = requires_stack


def test_prometheus_tools(registry, ctx):
    errors = 'sum by (service) (rate(http_requests_total{code="503"}[5m]))'
    r = registry.call(ctx, "prometheus_query", {"query": errors})
    assert r.status == "success" and 'service="checkout"' in r.text
    r = registry.call(ctx, "prometheus_query_range", {
        "query": 'sum by (service) (rate(http_requests_total{code="503"}[5m]))', "minutes": 30})
    assert r.status == "success"
    checkout = next(line for line in r.text.splitlines() if 'service="checkout"' in line)
    assert "rising" in checkout and "departs from baseline" in checkout
    names = registry.call(ctx, "prometheus_metric_names", {"contains": "kube_pod_container"})
    assert names.status == "success"
    values = registry.call(ctx, "prometheus_label_values", {"label": "namespace", "metric": "kube_pod_info"})
    assert "shop" in values.text and "kube-system" in values.text
    rules = registry.call(ctx, "prometheus_rules", {"contains": "CrashLooping"})
    assert "KubePodCrashLooping" in rules.text and "for 900s" in rules.text
    none = registry.call(ctx, "prometheus_query", {"query": 'up{job="nope"}'})
    assert none.status == "no_data"


def test_bad_promql_comes_back_as_the_parse_error(registry, ctx):
    r = registry.call(ctx, "prometheus_query", {"query": "sum(rate(http_requests_total[5m]"})
    assert r.status == "error" and "parse error" in r.error


def test_kubernetes_read_tools(registry, ctx, box):
    pods = registry.call(ctx, "k8s_list_pods", {"label_selector": "app.kubernetes.io/name=checkout"})
    assert pods.status == "success" and pods.text.count("shop/checkout-") == 2
    name = pods.data[0]
    described = registry.call(ctx, "k8s_describe_pod", {"name": name})
    assert "image=registry.shop.internal/shop/checkout:2.4.0" in described.text and described.untrusted
    logs = registry.call(ctx, "k8s_pod_logs", {"name": name, "tail_lines": 20})
    assert logs.status == "success" and len(logs.text.splitlines()) >= 20 and logs.untrusted
    history = registry.call(ctx, "k8s_rollout_history", {"name": "checkout"})
    assert "revision 3" in history.text and "2.4.0" in history.text
    deployments = registry.call(ctx, "k8s_list_deployments", {})
    assert "checkout ready=2/2" in deployments.text
    nodes = registry.call(ctx, "k8s_list_nodes", {})
    assert nodes.text.count("ready=True") == 3
    service = registry.call(ctx, "k8s_get_service", {"name": "checkout"})
    assert "8080->8080/TCP" in service.text and "ready endpoints: 10.244." in service.text
    events = registry.call(ctx, "k8s_events", {"warnings_only": False})
    assert events.status == "success" and "ScalingReplicaSet" in events.text


def test_missing_objects_list_close_names(registry, ctx):
    r = registry.call(ctx, "k8s_describe_pod", {"name": "checkout"})
    assert r.status == "error" and "not found" in r.error and "did you mean: checkout-" in r.error
    r = registry.call(ctx, "k8s_rollout_history", {"name": "chekout"})
    assert "did you mean: checkout" in r.error


def test_log_tools_and_their_compression(registry, ctx):
    r = registry.call(ctx, "logs_search", {"service": "checkout", "level": "ERROR", "size": 5})
    assert r.status == "success" and r.untrusted
    assert len(r.text.splitlines()) == 6 and "NullPointerException" not in r.text.splitlines()[0]
    patterns = registry.call(ctx, "logs_patterns", {"minutes": 30})
    assert patterns.status == "success" and patterns.data["patterns"] >= 5
    assert patterns.data["ratio"] >= 20  # thousands of lines into a few hundred tokens
    r = registry.call(ctx, "logs_search", {"text": "no such words anywhere zzqx"})
    assert r.status == "no_data"


def test_knowledge_search_finds_the_runbook(registry, ctx):
    r = registry.call(ctx, "knowledge_search", {"query": "sorry too many clients already postgres"})
    assert r.status == "success" and "roll back the leaking release" in r.text


def test_mutations_change_the_cluster_and_roll_back(registry, ctx, box):
    world = box.scenario.world
    r = registry.call(ctx, "k8s_scale", {"name": "cart", "replicas": 3})
    assert r.status == "success" and world.workloads[("shop", "cart")].replicas == 3
    undo = r.rollback[0]
    assert registry.call(ctx, undo["tool"], undo["args"]).status == "success"
    assert world.workloads[("shop", "cart")].replicas == 2
    r = registry.call(ctx, "k8s_patch_env", {"name": "cart", "set": {"LOG_LEVEL": "debug"}})
    assert world.workloads[("shop", "cart")].template.containers[0].env["LOG_LEVEL"] == "debug"
    registry.call(ctx, r.rollback[0]["tool"], r.rollback[0]["args"])
    assert "LOG_LEVEL" not in world.workloads[("shop", "cart")].template.containers[0].env
    r = registry.call(ctx, "k8s_patch_resources", {"name": "cart", "cpu_limit": "700m"})
    assert world.workloads[("shop", "cart")].template.containers[0].limits.cpu == pytest.approx(0.7)
    registry.call(ctx, r.rollback[0]["tool"], r.rollback[0]["args"])
    assert world.workloads[("shop", "cart")].template.containers[0].limits.cpu == pytest.approx(0.5)
    r = registry.call(ctx, "k8s_rollout_undo", {"name": "checkout"})
    assert r.status == "success" and "2.3.1" in r.text
    assert world.workloads[("shop", "checkout")].template.containers[0].image.endswith(":2.3.1")
    assert registry.call(ctx, "k8s_rollout_restart", {"name": "auth"}).status == "success"
    node = next(iter(world.nodes))
    assert registry.call(ctx, "k8s_cordon", {"node": node}).rollback == [
        {"tool": "k8s_uncordon", "args": {"node": node}}]
    assert world.nodes[node].unschedulable
    registry.call(ctx, "k8s_uncordon", {"node": node})
    pod = next(p.name for p in world.pods.values() if p.service == "recommendation")
    assert registry.call(ctx, "k8s_delete_pod", {"name": pod}).status == "success"
    assert world.pods[("shop", pod)].deleting_at is not None
    image = registry.call(ctx, "k8s_set_image", {
        "name": "cart", "image": "registry.shop.internal/shop/cart:2.7.3"})
    assert image.rollback[0]["args"]["image"].endswith(":2.8.0")


def test_drain_evicts_the_node(registry, ctx, box):
    world = box.scenario.world
    node = next(n for n in world.nodes if not any(
        p.node == n and p.service in ("postgres", "redis") for p in world.pods.values()))
    r = registry.call(ctx, "k8s_drain", {"node": node})
    assert r.status == "success" and "evicted" in r.text
    assert world.nodes[node].unschedulable
    assert not [p for p in world.pods.values() if p.node == node and p.deleting_at is None]
    registry.call(ctx, "k8s_uncordon", {"node": node})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_backend_that_is_down_is_a_tool_error(registry):
    port = _closed_port()
    ctx = ToolContext(ToolsConfig(prometheus_url=f"http://127.0.0.1:{port}",
                                  elasticsearch_url=f"http://127.0.0.1:{port}", retries=1, timeout_s=1))
    for name, args in (("prometheus_query", {"query": "up"}), ("logs_search", {"service": "cart"})):
        r = registry.call(ctx, name, args)
        assert r.status == "error" and ("Connection" in r.error or "after 2 attempts" in r.error), r.error


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(2)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_backend_is_retried_then_reported(registry):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx = ToolContext(ToolsConfig(prometheus_url=f"http://127.0.0.1:{server.server_port}",
                                      retries=1, timeout_s=0.3))
        started = time.monotonic()
        r = registry.call(ctx, "prometheus_query", {"query": "up"})
        assert r.status == "error" and "after 2 attempts" in r.error
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()


def test_usage_and_anomalies(registry, ctx):
    usage = registry.call(ctx, "pod_resource_usage", {"namespace": "shop", "sort_by": "memory"})
    assert usage.status == "success" and "of limit" in usage.text
    first = usage.text.splitlines()[0]
    assert first.startswith("postgres-0") or first.startswith("redis-")  # the big ones first
    anomalies = registry.call(ctx, "metric_anomalies", {
        "query": 'sum by (service) (rate(http_requests_total{code="503"}[5m]))', "minutes": 30})
    assert anomalies.status == "success" and 'service="checkout"' in anomalies.text


def test_configuration_mutations(registry, ctx, box):
    world = box.scenario.world
    r = registry.call(ctx, "k8s_patch_service_port", {"name": "cart", "target_port": 8081})
    assert r.status == "success" and world.services[("shop", "cart")].target_port == 8081
    registry.call(ctx, r.rollback[0]["tool"], r.rollback[0]["args"])
    assert world.services[("shop", "cart")].target_port == 8080
    r = registry.call(ctx, "k8s_patch_hpa", {"name": "frontend", "max_replicas": 12})
    assert world.hpas[("shop", "frontend")].max_replicas == 12
    registry.call(ctx, r.rollback[0]["tool"], r.rollback[0]["args"])
    assert world.hpas[("shop", "frontend")].max_replicas == 6
    r = registry.call(ctx, "k8s_expand_pvc", {"name": "data-postgres-0", "size": "40Gi"})
    assert r.status == "success" and world.pvcs[("shop", "data-postgres-0")].capacity == 40 * 2**30
    shrink = registry.call(ctx, "k8s_expand_pvc", {"name": "data-postgres-0", "size": "10Gi"})
    assert shrink.status == "error" and "422" in shrink.error
    r = registry.call(ctx, "k8s_patch_configmap", {"name": "postgres-config",
                                                   "data": {"max_connections": "150"}})
    assert world.configmaps[("shop", "postgres-config")].data["max_connections"] == "150"
    assert r.rollback[0]["args"]["data"] == {"max_connections": "100"}
    missing = registry.call(ctx, "k8s_patch_hpa", {"name": "fronted", "max_replicas": 9})
    assert "did you mean: frontend" in missing.error


def test_drain_leaves_what_a_disruption_budget_protects_and_says_so(registry, ctx, box):
    """frontend keeps 2 of 3 (its PodDisruptionBudget): with two of its pods on the drained node,
    one goes and the other stays until its replacement is ready; the result names it."""
    world = box.scenario.world
    for _ in range(60):  # the drain above may have left a replacement starting
        if sum(p.ready for p in world.pods.values() if p.workload == "frontend") == 3:
            break
        box.tick()
    with box.cluster.lock:
        a, b = sorted((p for p in world.pods.values() if p.workload == "frontend" and p.ready),
                      key=lambda p: p.name)[:2]
        b.node = a.node  # both on one node, as the scheduler may place them
    r = registry.call(ctx, "k8s_drain", {"node": a.node})
    assert r.status == "success", r.error
    assert f"shop/{a.name}" in r.text.splitlines()[0]
    kept = r.text.splitlines()[1]
    assert "disruption budget allows no disruption now" in kept and f"shop/{b.name}" in kept
    assert world.pods[("shop", b.name)].deleting_at is None
    registry.call(ctx, "k8s_uncordon", {"node": a.node})
