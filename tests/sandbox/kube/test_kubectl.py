"""kubectl (the real binary on the machine) against the sandbox, as an SRE would use it."""

from __future__ import annotations

import os
import subprocess
import threading
import time

from tests.sandbox.kube.conftest import requires_kubectl

pytestmark = requires_kubectl


def test_get_pods_prints_the_real_columns(live):
    out = live.kubectl("get", "pods", "-n", "shop").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    catalog = [line for line in out.splitlines() if line.startswith("catalog-")]
    assert catalog and all("ago)" in line for line in catalog)  # "3 (2m45s ago)"


def test_get_several_kinds_and_wide(live):
    out = live.kubectl("get", "deploy,svc,statefulsets", "-n", "shop").stdout
    assert "deployment.apps/catalog" in out and "service/cart" in out
    assert "statefulset.apps/postgres" in out
    wide = live.kubectl("get", "nodes", "-o", "wide").stdout
    assert wide.splitlines()[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]


def test_describe_pod_shows_state_and_events(live):
    pod = next(p.name for p in live.world.pods.values()
               if p.service == "catalog" and p.containers[0].restarts)
    out = live.kubectl("describe", "pod", pod, "-n", "shop").stdout
    assert "Last State:" in out and "OOMKilled" in out
    assert "Events:" in out


def test_logs_and_events_with_selectors(live):
    pod = next(p.name for p in live.world.pods.values() if p.service == "cart")
    logs = live.kubectl("logs", pod, "-n", "shop", "--tail=4").stdout
    assert len(logs.splitlines()) == 4
    events = live.kubectl("get", "events", "-A", "--field-selector", "reason=OOMKilling").stdout
    assert "OOMKilling" in events and "node/" in events
    out = live.kubectl("get", "pods", "-n", "shop", "-l", "app.kubernetes.io/name=redis",
                       "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert out.startswith("redis-")


def test_sort_by_a_field_of_the_objects(live):
    """Among the commands SREs type most; kubectl sorts on the objects a Table embeds when asked
    (includeObject=Object), and printed "No resources found" when only metadata came."""
    events = live.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp").stdout.splitlines()
    assert events[0].split()[:4] == ["NAMESPACE", "LAST", "SEEN", "TYPE"] and len(events) > 10
    stamps = live.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", "--no-headers",
                          "-o", "custom-columns=T:.lastTimestamp").stdout.split()
    assert stamps == sorted(stamps) and len(stamps) == len(events) - 1
    pods = live.kubectl("get", "pods", "-n", "shop", "--sort-by=.status.startTime", "--no-headers",
                        "-o", "custom-columns=N:.metadata.name,S:.status.startTime").stdout.splitlines()
    started = [line.split()[1] for line in pods]
    assert started == sorted(started)
    assert len(pods) == sum(p.namespace == "shop" for p in live.world.pods.values())


def test_top_reads_the_metrics_api(live):
    pods = live.kubectl("top", "pods", "-n", "shop", "--no-headers").stdout.splitlines()
    running = [p for p in live.world.pods.values() if p.namespace == "shop" and p.phase == "Running"]
    assert len(pods) == len(running) and all(line.split()[1].endswith("m") for line in pods)
    name, cpu, memory = next(line.split() for line in pods if line.startswith("catalog-"))
    used = live.world.pods[("shop", name)].containers[0]  # the simulation's usage, not a constant
    assert cpu == f"{-(-int(used.cpu * 1e9) // 1_000_000)}m"  # kubectl rounds nanocores up
    assert memory == f"{int(used.memory) // 1024 // 1024}Mi"
    nodes = live.kubectl("top", "nodes", "--no-headers").stdout.splitlines()
    assert sorted(line.split()[0] for line in nodes) == sorted(live.world.nodes)
    assert all(line.split()[2].endswith("%") for line in nodes)


def test_ingress_disruption_budgets_and_api_resources(live):
    ing = live.kubectl("get", "ingress", "-n", "shop").stdout.splitlines()
    assert ing[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert ing[1].split()[:3] == ["frontend", "nginx", "shop.example.com"]
    assert "k8s.io/ingress-nginx" in live.kubectl("get", "ingressclass").stdout
    described = live.kubectl("describe", "ingress", "frontend", "-n", "shop").stdout
    assert "frontend:8080 (" in described  # backed by the frontend Service's endpoints
    pdb = live.kubectl("get", "pdb", "-n", "shop", "frontend", "--no-headers").stdout.split()
    assert pdb[:4] == ["frontend", "2", "N/A", "1"]
    kinds = live.kubectl("api-resources", "--no-headers").stdout  # failed on an empty policy/v1
    for kind in ("PodDisruptionBudget", "Ingress", "IngressClass", "PodMetrics", "NodeMetrics",
                 "SelfSubjectAccessReview"):
        assert f" {kind}\n" in kinds, kind


def test_auth_can_i_says_what_the_token_may_do(live):
    assert live.kubectl("auth", "can-i", "delete", "pods", "-n", "shop").stdout.strip() == "yes"
    assert live.kubectl("auth", "can-i", "patch", "deployments.apps", "-n", "shop").stdout.strip() == "yes"
    assert live.kubectl("auth", "can-i", "create", "pods", "--subresource=eviction").stdout.strip() == "yes"
    no = live.kubectl("auth", "can-i", "create", "deployments", "-n", "shop", check=False)
    assert no.returncode == 1 and no.stdout.startswith("no - the sandbox serves get, list, watch, patch")
    rules = live.kubectl("auth", "can-i", "--list", "-n", "shop").stdout
    assert "pods/eviction" in rules and "[get list watch patch delete]" in rules


def test_label_and_annotate_a_pod(fresh):
    """Was refused ("PATCH is not supported on pods"); SREs label pods to find them again."""
    pod = next(p.name for p in fresh.world.pods.values() if p.service == "cart")
    fresh.kubectl("label", "pod", pod, "-n", "shop", "debug=true")
    fresh.kubectl("annotate", "pod", pod, "-n", "shop", "owner=erin")
    assert fresh.kubectl("get", "pods", "-n", "shop", "-l", "debug=true", "-o", "name").stdout.split() == \
        [f"pod/{pod}"]
    assert fresh.kubectl("get", "pod", pod, "-n", "shop", "-o",
                         "jsonpath={.metadata.annotations.owner}").stdout == "erin"
    fresh.kubectl("label", "pod", pod, "-n", "shop", "debug-")
    assert "debug" not in fresh.world.pods[("shop", pod)].labels


def _endpoints(live, service: str) -> set[str]:  # type: ignore[no-untyped-def]
    out = live.kubectl("get", "endpoints", service, "-n", "shop", "-o",
                       "jsonpath={.subsets[*].addresses[*].targetRef.name}").stdout
    return set(out.split())


def test_a_pod_relabelled_out_of_its_selector_is_released_and_replaced(fresh):
    """An SRE takes a pod out of rotation to debug it: its ReplicaSet lets it go and starts
    another, the Service stops sending it traffic, and putting the label back re-adopts it
    (and the ReplicaSet, one pod over, removes one)."""
    world = fresh.world
    rs = next(r for r in world.replicasets.values() if r.owner == "cart" and r.replicas)
    pod = next(p for p in world.pods.values() if p.owner_name == rs.name and p.ready)
    assert pod.name in _endpoints(fresh, "cart")
    fresh.kubectl("label", "pod", pod.name, "-n", "shop", "--overwrite", "app.kubernetes.io/name=cart-debug")
    world.advance(60)
    assert pod.deleting_at is None and pod.containers[0].state == "running"
    meta = fresh.core.read_namespaced_pod(pod.name, "shop").metadata
    assert meta.owner_references is None and meta.labels["app.kubernetes.io/name"] == "cart-debug"
    owned = [p for p in world.pods.values() if p.owner_name == rs.name and p.deleting_at is None]
    assert len(owned) == rs.replicas and all(p.ready for p in owned)
    assert pod.name not in _endpoints(fresh, "cart") and len(_endpoints(fresh, "cart")) == rs.replicas
    world.advance(30)
    assert pod.rps == 0 and all(p.rps > 0 for p in owned)
    assert world.stats["cart"].reachable == rs.replicas
    assert fresh.kubectl("get", "deploy", "cart", "-n", "shop", "-o",
                         "jsonpath={.status.readyReplicas}").stdout == str(rs.replicas)

    fresh.kubectl("label", "pod", pod.name, "-n", "shop", "--overwrite", "app.kubernetes.io/name=cart")
    world.advance(60)
    live = [p for p in world.pods.values() if p.owner_name == rs.name and p.deleting_at is None]
    assert len(live) == rs.replicas
    assert pod.owner_name == rs.name or pod.deleting_at is not None


def test_a_statefulset_pod_keeps_its_selector_labels(fresh):
    out = fresh.kubectl("label", "pod", "postgres-0", "-n", "shop", "--overwrite",
                        "app.kubernetes.io/name=x", check=False)
    assert out.returncode == 1 and "keeps the labels of its selector" in out.stderr
    assert fresh.world.pods[("shop", "postgres-0")].labels["app.kubernetes.io/name"] == "postgres"


def test_scale_restart_undo_cordon(fresh):
    fresh.kubectl("scale", "deployment/cart", "-n", "shop", "--replicas=3")
    assert fresh.world.workloads[("shop", "cart")].replicas == 3
    fresh.kubectl("rollout", "restart", "deployment/auth", "-n", "shop")
    auth = fresh.world.workloads[("shop", "auth")]
    assert "kubectl.kubernetes.io/restartedAt" in auth.template.annotations
    fresh.kubectl("rollout", "undo", "deployment/catalog", "-n", "shop")
    assert fresh.world.workloads[("shop", "catalog")].template.containers[0].image.endswith(":5.3.1")
    node = next(iter(fresh.world.nodes))
    fresh.kubectl("cordon", node)
    assert fresh.world.nodes[node].unschedulable
    assert "SchedulingDisabled" in fresh.kubectl("get", "node", node).stdout
    fresh.kubectl("uncordon", node)
    assert not fresh.world.nodes[node].unschedulable
    fresh.scenario.advance(600)
    assert fresh.scenario.mitigated()


def test_drain_evicts_every_pod(fresh):
    node = next(n for n in fresh.world.nodes
                if not any(p.node == n and p.service == "postgres" for p in fresh.world.pods.values()))
    fresh.kubectl("drain", node, "--grace-period=0", "--timeout=30s", "--ignore-daemonsets")
    assert fresh.world.nodes[node].unschedulable
    assert not [p for p in fresh.world.pods.values() if p.node == node and p.deleting_at is None]


def test_errors_reach_the_user(live):
    out = live.kubectl("get", "pod", "nope", "-n", "shop", check=False)
    assert out.returncode == 1 and 'pods "nope" not found' in out.stderr
    out = live.kubectl("scale", "deployment/cart", "-n", "shop", "--replicas=-2", check=False)
    assert out.returncode != 0


def _ticking(cluster, stop: threading.Event) -> threading.Thread:
    """Simulated time for a server without a clock: a tick every 0.2 s until stopped."""
    def run() -> None:
        while not stop.wait(0.2):
            with cluster.server.cluster.lock:
                cluster.world.tick()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_get_watch_prints_changes_as_they_happen(fresh):
    env = {**os.environ, "KUBECONFIG": str(fresh.kubeconfig)}
    watching = subprocess.Popen(["kubectl", "get", "deploy", "cart", "-n", "shop", "-w"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # listed, now watching
        fresh.apps.patch_namespaced_deployment_scale("cart", "shop", {"spec": {"replicas": 4}})
        time.sleep(2)
    finally:
        watching.terminate()
        out, err = watching.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["cart", "2/2"], err  # the list
    assert any(line.split()[:2] == ["cart", "2/4"] for line in lines[2:]), out  # the change, watched


def test_rollout_status_waits_for_the_rollout(fresh):
    """Through the watch now (kubectl's informer also got there by re-listing when watch failed)."""
    fresh.kubectl("rollout", "restart", "deployment/checkout", "-n", "shop")
    stop = threading.Event()
    _ticking(fresh, stop)
    try:
        out = fresh.kubectl("rollout", "status", "deployment/checkout", "-n", "shop", "--timeout=60s")
    finally:
        stop.set()
    assert 'deployment "checkout" successfully rolled out' in out.stdout
    assert "Waiting for" in out.stdout  # it watched the rollout, not just read a finished one


def test_taints_tolerations_startup_probes_and_pull_policy_round_trip(fresh):
    """What kubectl sets on these fields is what the scheduler and kubelet then use, and what
    it reads back; a value the API server refuses is refused with the field named."""
    node = next(iter(fresh.world.nodes))
    fresh.kubectl("taint", "nodes", node, "dedicated=infra:NoSchedule")
    assert fresh.world.nodes[node].user_taints == [("dedicated", "infra", "NoSchedule")]
    out = fresh.kubectl("get", "node", node, "-o", "jsonpath={.spec.taints[*].key}").stdout
    assert out.split() == ["dedicated"]
    patch = ('{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal",'
             '"value":"infra","effect":"NoSchedule"}],"containers":[{"name":"cart",'
             '"imagePullPolicy":"Always","startupProbe":{"httpGet":{"path":"/healthz","port":8080},'
             '"periodSeconds":5,"failureThreshold":30}}]}}}}')
    fresh.kubectl("patch", "deployment", "cart", "-n", "shop", "-p", patch)
    tpl = fresh.world.workloads[("shop", "cart")].template
    assert tpl.tolerations[0].value == "infra" and tpl.containers[0].pull_policy == "Always"
    assert tpl.containers[0].startup is not None and tpl.containers[0].startup.failure_threshold == 30
    got = fresh.kubectl("get", "deploy", "cart", "-n", "shop", "-o", "jsonpath={.spec.template.spec."
                        "containers[0].startupProbe.failureThreshold} {.spec.template.spec.tolerations[0]"
                        ".key}").stdout
    assert got == "30 dedicated"
    bad = fresh.kubectl("patch", "deployment", "cart", "-n", "shop", "-p", '{"spec":{"template":{"spec":'
                        '{"containers":[{"name":"cart","imagePullPolicy":"Sometimes"}]}}}}', check=False)
    assert bad.returncode == 1 and "imagePullPolicy" in bad.stderr and "Unsupported value" in bad.stderr
    fresh.kubectl("taint", "nodes", node, "dedicated-")
    assert fresh.world.nodes[node].user_taints == []
