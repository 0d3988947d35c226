"""Objects the real cluster serves beside the core ones: the metrics API (what metrics-server
reports for `kubectl top`, from the simulation's CPU and memory) and the shop's Ingress through
ingress-nginx."""

from __future__ import annotations

from typing import Any

from opsagent.sandbox.kube.render import _meta, ts, uid
from opsagent.sandbox.objects import Node, Pod
from opsagent.sandbox.world import World

Json = dict[str, Any]
WINDOW = "15s"  # metrics-server's default resolution
HOST = "shop.example.com"


def _cpu(cores: float) -> str:
    return f"{int(max(0.0, cores) * 1e9)}n"  # metrics-server reports nanocores


def _memory(bytes_: float) -> str:
    return f"{int(max(0.0, bytes_) // 1024)}Ki"


def measured_pods(world: World) -> list[Pod]:
    """metrics-server reports pods whose containers run (not pending, not terminated)."""
    return [p for p in world.pods.values()
            if p.phase == "Running" and any(c.state == "running" for c in p.containers)]


def pod_metrics_json(world: World, p: Pod) -> Json:
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": _meta(p.name, p.namespace, world.now, uid("PodMetrics", p.namespace, p.name, 0),
                              labels=p.labels),
            "timestamp": ts(world.now), "window": WINDOW,
            "containers": [{"name": spec.name, "usage": {"cpu": _cpu(c.cpu), "memory": _memory(c.memory)}}
                           for c, spec in zip(p.containers, p.template.containers, strict=True)
                           if c.state == "running"]}


def node_metrics_json(world: World, n: Node) -> Json:
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": _meta(n.name, None, world.now, uid("NodeMetrics", "", n.name, 0), labels=n.labels),
            "timestamp": ts(world.now), "window": WINDOW,
            "usage": {"cpu": _cpu(n.cpu_used), "memory": _memory(n.memory_used)}}


def measured_nodes(world: World) -> list[Node]:
    return [n for n in world.nodes.values() if n.kubelet_up]


def _created(world: World) -> float:
    return min(w.created_at for w in world.workloads.values())


def ingress_classes(world: World) -> list[str]:
    return ["nginx"] if ("ingress-nginx", "ingress-nginx-controller") in world.workloads else []


def ingress_class_json(world: World, name: str) -> Json:
    created = _created(world)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": _meta(name, None, created, uid("IngressClass", "", name, created),
                              annotations={"ingressclass.kubernetes.io/is-default-class": "true"},
                              labels={"app.kubernetes.io/name": "ingress-nginx"}),
            "spec": {"controller": "k8s.io/ingress-nginx"}}


def ingresses(world: World) -> list[tuple[str, str]]:
    """The shop's storefront: everything under its host goes to the frontend Service."""
    return [("shop", "frontend")] if ("shop", "frontend") in world.services and ingress_classes(world) else []


def ingress_json(world: World, key: tuple[str, str]) -> Json:
    namespace, name = key
    service = world.services[key]
    created = _created(world)
    controller = world.services.get(("ingress-nginx", "ingress-nginx-controller"))
    address = [{"ip": controller.cluster_ip}] if controller else []
    backend = {"service": {"name": service.name, "port": {"number": service.port}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": _meta(name, namespace, created, uid("Ingress", namespace, name, created),
                              labels={"app.kubernetes.io/name": name}),
            "spec": {"ingressClassName": "nginx",
                     "rules": [{"host": HOST, "http": {"paths": [
                         {"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
            "status": {"loadBalancer": {"ingress": address}}}


# The shop's disruption budgets: voluntary evictions (drains) keep this many serving.
BUDGETS = {("shop", "frontend"): {"minAvailable": 2}, ("shop", "checkout"): {"maxUnavailable": 1}}


def budgets(world: World) -> list[tuple[str, str]]:
    return [key for key in BUDGETS if key in world.workloads]


def _budget_status(world: World, key: tuple[str, str]) -> Json:
    namespace, name = key
    pods = [p for p in world.pods.values()
            if p.namespace == namespace and p.workload == name and p.deleting_at is None]
    expected = world.workloads[key].replicas
    healthy = sum(p.ready for p in pods)
    rule = BUDGETS[key]
    desired = rule["minAvailable"] if "minAvailable" in rule else max(0, expected - rule["maxUnavailable"])
    return {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
            "disruptionsAllowed": max(0, healthy - desired)}


def budget_json(world: World, key: tuple[str, str]) -> Json:
    namespace, name = key
    created = world.workloads[key].created_at
    status = _budget_status(world, key)
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(name, namespace, created, uid("PodDisruptionBudget", namespace, name, created)),
            "spec": {**BUDGETS[key], "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"},
            "status": {**status, "observedGeneration": 1, "conditions": [{
                "type": "DisruptionAllowed", "status": "True" if status["disruptionsAllowed"] else "False",
                "reason": "SufficientPods" if status["disruptionsAllowed"] else "InsufficientPods",
                "message": "", "lastTransitionTime": ts(created)}]}}


def eviction_refused(world: World, pod: Pod) -> str | None:
    """Why evicting `pod` would break its disruption budget, if it would. A pod that is not
    ready may always go (unhealthyPodEvictionPolicy: AlwaysAllow)."""
    key = (pod.namespace, pod.workload)
    if key not in budgets(world) or not pod.ready or pod.deleting_at is not None:
        return None
    status = _budget_status(world, key)
    if status["disruptionsAllowed"] > 0:
        return None
    return (f"The disruption budget {pod.workload} needs {status['desiredHealthy']} healthy pods and has "
            f"{status['currentHealthy']} currently")
