"""The official kubernetes Python client, unchanged, against the sandbox's API server."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def test_pods_with_full_status(live):
    pods = live.core.list_namespaced_pod("shop").items
    assert len(pods) >= 17
    catalog = [p for p in pods if p.metadata.labels["app.kubernetes.io/name"] == "catalog"]
    assert catalog
    status = catalog[0].status.container_statuses[0]
    assert status.restart_count >= 1
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.exit_code == 137
    assert catalog[0].spec.containers[0].resources.limits["memory"] == "768Mi"
    assert catalog[0].metadata.owner_references[0].kind == "ReplicaSet"
    assert {c.type for c in catalog[0].status.conditions} >= {"Ready", "PodScheduled"}


def test_label_and_field_selectors(live):
    by_label = live.core.list_namespaced_pod("shop", label_selector="app.kubernetes.io/name in (cart,auth)")
    assert {p.metadata.labels["app.kubernetes.io/name"] for p in by_label.items} == {"cart", "auth"}
    node = live.core.list_node().items[0].metadata.name
    on_node = live.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert on_node and all(p.spec.node_name == node for p in on_node)
    pod = by_label.items[0].metadata.name
    live.world.emit("Pod", "shop", pod, "Unhealthy", "Readiness probe failed: timeout", "Warning")
    events = live.core.list_namespaced_event("shop", field_selector=f"involvedObject.name={pod},type=Warning")
    assert [e.reason for e in events.items] == ["Unhealthy"]


def test_paging_with_limit_and_continue(live):
    first = live.core.list_namespaced_pod("shop", limit=5)
    assert len(first.items) == 5 and first.metadata._continue
    rest = live.core.list_namespaced_pod("shop", _continue=first.metadata._continue)
    names = [p.metadata.name for p in first.items + rest.items]
    assert len(names) == len(set(names)) == len(live.core.list_namespaced_pod("shop").items)


def test_logs_tail_and_previous(live):
    pod = next(p for p in live.world.pods.values()
               if p.service == "catalog" and p.containers[0].last_reason == "OOMKilled")
    tail = live.core.read_namespaced_pod_log(pod.name, "shop", tail_lines=3)
    assert len(tail.splitlines()) == 3
    previous = live.core.read_namespaced_pod_log(pod.name, "shop", previous=True, timestamps=True)
    assert "GC overhead" in previous or "OutOfMemoryError" in previous
    assert previous.splitlines()[0][:4] == "2026"


def test_workloads_nodes_and_more(live):
    deploy = live.apps.read_namespaced_deployment("catalog", "shop")
    assert deploy.spec.template.spec.containers[0].image.endswith(":5.4.0")
    assert deploy.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    rs = live.apps.list_namespaced_replica_set("shop", label_selector="app.kubernetes.io/name=catalog")
    assert len(rs.items) == 3
    assert live.apps.read_namespaced_stateful_set("postgres", "shop").status.ready_replicas == 1
    nodes = live.core.list_node().items
    assert len(nodes) == 3 and all(n.status.conditions[-1].type == "Ready" for n in nodes)
    endpoints = live.core.read_namespaced_endpoints("cart", "shop")
    assert len(endpoints.subsets[0].addresses) == 2
    assert live.core.read_namespaced_config_map("coredns", "kube-system").data["Corefile"]
    assert client.AutoscalingV2Api(live.api).read_namespaced_horizontal_pod_autoscaler(
        "frontend", "shop").spec.max_replicas == 6


def test_errors_have_the_real_shape(live, tmp_path):
    with pytest.raises(ApiException) as exc:
        live.core.read_namespaced_pod("no-such-pod", "shop")
    assert exc.value.status == 404
    assert '"reason":"NotFound"' in exc.value.body.replace(" ", "")
    with pytest.raises(ApiException) as exc:
        live.core.list_namespaced_pod("shop", label_selector="app in (x")
    assert exc.value.status == 400
    with pytest.raises(ApiException) as exc:
        live.core.list_namespaced_pod("shop", field_selector="spec.bogus=1")
    assert exc.value.status == 400
    with pytest.raises(ApiException) as exc:
        live.apps.patch_namespaced_deployment_scale("cart", "shop", {"spec": {"replicas": -1}})
    assert exc.value.status == 422 and "replicas" in exc.value.body


def test_wrong_credentials_get_401(live):
    cfg = client.Configuration()
    cfg.host = live.server.url
    cfg.ssl_ca_cert = str(live.server.ca)
    cfg.api_key = {"authorization": "Bearer wrong-token"}
    with client.ApiClient(cfg) as bad, pytest.raises(ApiException) as exc:
        client.CoreV1Api(bad).list_namespaced_pod("shop")
    assert exc.value.status == 401


def test_mutations_change_the_world(fresh):
    fresh.apps.patch_namespaced_deployment_scale("cart", "shop", {"spec": {"replicas": 3}})
    assert fresh.world.workloads[("shop", "cart")].replicas == 3
    fresh.apps.patch_namespaced_deployment("catalog", "shop", {"spec": {"template": {"spec": {
        "containers": [{"name": "catalog", "image": "registry.shop.internal/shop/catalog:5.3.1"}]}}}})
    wl = fresh.world.workloads[("shop", "catalog")]
    assert wl.template.containers[0].image.endswith(":5.3.1") and wl.revision == 4
    assert wl.template.containers[0].env == fresh.world.profiles["catalog"].env  # merged, not replaced
    node = next(iter(fresh.world.nodes))
    fresh.core.patch_node(node, {"spec": {"unschedulable": True}})
    assert fresh.world.nodes[node].unschedulable
    pod = next(p for p in fresh.world.pods.values() if p.service == "auth")
    fresh.core.delete_namespaced_pod(pod.name, "shop")
    assert fresh.world.pods[("shop", pod.name)].deleting_at is not None
    fresh.scenario.advance(120)
    assert sum(1 for p in fresh.world.pods.values() if p.service == "auth" and p.ready) == 2
    assert fresh.scenario.mitigated()  # the image change rolled catalog back to a good release


def test_a_stale_write_is_a_conflict(fresh):
    deploy = fresh.apps.read_namespaced_deployment("cart", "shop")
    fresh.scenario.advance(15)
    stale = {"metadata": {"resourceVersion": deploy.metadata.resource_version},
             "spec": {"replicas": 3}}
    with pytest.raises(ApiException) as exc:
        fresh.apps.patch_namespaced_deployment("cart", "shop", stale)
    assert exc.value.status == 409 and "Conflict" in exc.value.body
    assert fresh.world.workloads[("shop", "cart")].replicas == 2
    current = fresh.apps.read_namespaced_deployment("cart", "shop").metadata.resource_version
    fresh.apps.patch_namespaced_deployment("cart", "shop", {
        "metadata": {"resourceVersion": current}, "spec": {"replicas": 3}})
    assert fresh.world.workloads[("shop", "cart")].replicas == 3


def test_evictions_respect_the_disruption_budget(fresh):
    """frontend keeps 2 of its 3 pods (minAvailable 2): one may go, the next waits, as on a real
    cluster (kubectl drain retries on 429); a pod that is not ready may always go."""
    pods = sorted(p.name for p in fresh.world.pods.values() if p.workload == "frontend")
    body = {"apiVersion": "policy/v1", "kind": "Eviction"}
    fresh.core.create_namespaced_pod_eviction(pods[0], "shop", {**body, "metadata": {"name": pods[0]}})
    with pytest.raises(ApiException) as refused:
        fresh.core.create_namespaced_pod_eviction(pods[1], "shop", {**body, "metadata": {"name": pods[1]}})
    assert refused.value.status == 429
    assert "needs 2 healthy pods and has 2" in refused.value.body
    budget = client.PolicyV1Api(fresh.api).read_namespaced_pod_disruption_budget("frontend", "shop")
    assert budget.status.disruptions_allowed == 0 and budget.status.current_healthy == 2
    fresh.world.pods[("shop", pods[2])].phase = "Failed"  # not ready: not protected
    fresh.core.create_namespaced_pod_eviction(pods[2], "shop", {**body, "metadata": {"name": pods[2]}})


def test_watch_streams_what_changes_after_the_list(fresh):
    """The client's list-then-watch: from the list's resourceVersion only changes come (a pod
    deleted, one scaled up), and the stream ends at timeoutSeconds."""
    listed = fresh.core.list_namespaced_pod("shop")
    pod = next(p.metadata.name for p in listed.items if p.metadata.name.startswith("cart-"))
    seen: list[tuple[str, str]] = []

    def change() -> None:
        time.sleep(1)
        fresh.core.delete_namespaced_pod(pod, "shop", grace_period_seconds=0)

    threading.Thread(target=change, daemon=True).start()
    started = time.monotonic()
    for event in watch.Watch().stream(fresh.core.list_namespaced_pod, "shop", timeout_seconds=4,
                                      resource_version=listed.metadata.resource_version):
        seen.append((event["type"], event["object"].metadata.name))
    assert ("DELETED", pod) in seen
    assert not [e for e in seen if e[0] == "ADDED" and e[1] != pod and not e[1].startswith("cart-")]
    assert 3.5 < time.monotonic() - started < 10


def test_a_watch_without_a_version_starts_with_the_current_state(fresh):
    events = list(watch.Watch().stream(client.AppsV1Api(fresh.api).list_namespaced_deployment, "shop",
                                       timeout_seconds=1))
    names = {e["object"].metadata.name for e in events if e["type"] == "ADDED"}
    assert {"cart", "catalog", "checkout", "frontend"} <= names
