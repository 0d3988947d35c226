"""Mutations of configuration objects: a Service's target port, an HPA's bounds, a PVC's size,
a ConfigMap's keys. Each returns what changed and how to roll it back."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from pydantic import Field

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext
from opsagent.tools.kubernetes_read import Name
from opsagent.tools.kubernetes_write import done
from opsagent.tools.side_effects import mutate


class Ref(Args):
    name: str = Name
    namespace: str = Field(default="shop")


class ServicePort(Ref):
    target_port: int = Field(ge=1, le=65535, description="the port the pods listen on")


def _service_port(ctx: ToolContext, a: ServicePort) -> ToolResult:
    def run() -> ToolResult:
        svc = ctx.core.read_namespaced_service(a.name, a.namespace)
        port = svc.spec.ports[0]
        before = port.target_port
        ctx.core.patch_namespaced_service(a.name, a.namespace, {"spec": {"ports": [
            {"port": port.port, "protocol": port.protocol, "name": port.name, "targetPort": a.target_port}]}})
        undo = {"name": a.name, "namespace": a.namespace, "target_port": int(before)}
        return done("k8s_patch_service_port", a, f"service {a.namespace}/{a.name} targetPort "
                    f"{before} -> {a.target_port}", [("k8s_patch_service_port", undo)])
    def read_back() -> tuple[bool | None, str]:
        port = ctx.core.read_namespaced_service(a.name, a.namespace).spec.ports[0]
        shown = f"service {a.namespace}/{a.name} targetPort {port.target_port}"
        return port.target_port == a.target_port, shown
    names = lambda: [s.metadata.name for s in ctx.core.list_namespaced_service(a.namespace).items]  # noqa: E731
    return mutate(ctx, "k8s_patch_service_port", a, run, names, read_back)


class HPABounds(Ref):
    min_replicas: int | None = Field(default=None, ge=1, le=100)
    max_replicas: int | None = Field(default=None, ge=1, le=100)


def _hpa(ctx: ToolContext, a: HPABounds) -> ToolResult:
    api = client.AutoscalingV2Api(ctx.kube)

    def run() -> ToolResult:
        hpa = api.read_namespaced_horizontal_pod_autoscaler(a.name, a.namespace)
        before = {"min_replicas": hpa.spec.min_replicas, "max_replicas": hpa.spec.max_replicas}
        spec: dict[str, Any] = {}
        if a.min_replicas is not None:
            spec["minReplicas"] = a.min_replicas
        if a.max_replicas is not None:
            spec["maxReplicas"] = a.max_replicas
        if not spec:
            return ToolResult(tool="k8s_patch_hpa", args=a.model_dump(), status="error",
                              error="nothing to change: give min_replicas and/or max_replicas")
        api.patch_namespaced_horizontal_pod_autoscaler(a.name, a.namespace, {"spec": spec})
        return done("k8s_patch_hpa", a, f"hpa {a.namespace}/{a.name} {before} -> {spec}",
                     [("k8s_patch_hpa", {"name": a.name, "namespace": a.namespace, **before})])
    def read_back() -> tuple[bool | None, str]:
        spec = api.read_namespaced_horizontal_pod_autoscaler(a.name, a.namespace).spec
        applied = a.min_replicas in (None, spec.min_replicas) and a.max_replicas in (None, spec.max_replicas)
        return applied, f"hpa {a.namespace}/{a.name} min {spec.min_replicas} max {spec.max_replicas}"
    names = lambda: [h.metadata.name for h in api.list_namespaced_horizontal_pod_autoscaler(  # noqa: E731
        a.namespace).items]
    return mutate(ctx, "k8s_patch_hpa", a, run, names, read_back)


class PVCSize(Ref):
    size: str = Field(pattern=r"^[0-9]+(Gi|Ti|G|T)$", description="new size, larger than today's")


def _expand(ctx: ToolContext, a: PVCSize) -> ToolResult:
    def run() -> ToolResult:
        pvc = ctx.core.read_namespaced_persistent_volume_claim(a.name, a.namespace)
        before = pvc.spec.resources.requests["storage"]
        ctx.core.patch_namespaced_persistent_volume_claim(a.name, a.namespace, {
            "spec": {"resources": {"requests": {"storage": a.size}}}})
        return done("k8s_expand_pvc", a, f"pvc {a.namespace}/{a.name} {before} -> {a.size} "
                     "(volumes cannot shrink)", [])
    def read_back() -> tuple[bool | None, str]:
        size = ctx.core.read_namespaced_persistent_volume_claim(a.name, a.namespace).spec.resources.requests
        return size.get("storage") == a.size, f"pvc {a.namespace}/{a.name} requests {size.get('storage')}"
    names = lambda: [p.metadata.name for p in ctx.core.list_namespaced_persistent_volume_claim(  # noqa: E731
        a.namespace).items]
    return mutate(ctx, "k8s_expand_pvc", a, run, names, read_back)


class ConfigMapKeys(Ref):
    data: dict[str, str] = Field(min_length=1, description="keys to set (whole values)")


def _configmap(ctx: ToolContext, a: ConfigMapKeys) -> ToolResult:
    def run() -> ToolResult:
        cm = ctx.core.read_namespaced_config_map(a.name, a.namespace)
        before = {k: (cm.data or {}).get(k) for k in a.data}
        ctx.core.patch_namespaced_config_map(a.name, a.namespace, {"data": a.data})
        restore = {k: v for k, v in before.items() if v is not None}
        return done("k8s_patch_configmap", a, f"configmap {a.namespace}/{a.name}: set {sorted(a.data)}; "
                     "pods read it at start (restart them to apply)",
                     [("k8s_patch_configmap", {"name": a.name, "namespace": a.namespace, "data": restore})]
                     if restore else [])
    def read_back() -> tuple[bool | None, str]:
        data = ctx.core.read_namespaced_config_map(a.name, a.namespace).data or {}
        differ = sorted(k for k, v in a.data.items() if data.get(k) != v)
        return not differ, f"configmap {a.namespace}/{a.name}: " + (
            f"keys not as requested: {differ}" if differ else f"{sorted(a.data)} as requested")
    names = lambda: [c.metadata.name for c in ctx.core.list_namespaced_config_map(a.namespace).items]  # noqa: E731
    return mutate(ctx, "k8s_patch_configmap", a, run, names, read_back)


def _target(kind: str) -> Any:
    return lambda a: [f"{a.namespace}/{kind}/{a.name}"]


TOOLS = [
    Tool("k8s_patch_service_port", "Set the port a Service forwards to on its pods (targetPort).",
         ServicePort, Risk.MUTATE_HIGH, ("repair",), _service_port, _target("Service")),
    Tool("k8s_patch_hpa", "Change a HorizontalPodAutoscaler's min/max replicas.", HPABounds,
         Risk.MUTATE_HIGH, ("repair",), _hpa, _target("HorizontalPodAutoscaler")),
    Tool("k8s_expand_pvc", "Grow a PersistentVolumeClaim (online expansion; it cannot shrink).",
         PVCSize, Risk.MUTATE_HIGH, ("repair",), _expand, _target("PersistentVolumeClaim")),
    Tool("k8s_patch_configmap", "Set keys of a ConfigMap (pods read it at start).", ConfigMapKeys,
         Risk.MUTATE_HIGH, ("repair",), _configmap, _target("ConfigMap")),
]
