"""Kubernetes mutations, each with its risk class, the objects it touches (for the gate), what
it changed, and the calls that roll it back."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from kubernetes.client.rest import ApiException
from pydantic import Field

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext
from opsagent.tools.kubernetes_read import Name
from opsagent.tools.side_effects import mutate

REVISION = "deployment.kubernetes.io/revision"


def done(tool: str, a: Args, changed: str, rollback: list[tuple[str, dict[str, Any]]]) -> ToolResult:
    undo = [{"tool": name, "args": args} for name, args in rollback]
    text = changed + ("\nrollback: " + "; ".join(f"{u['tool']} {u['args']}" for u in undo) if undo
                      else "\nrollback: none (not reversible)")
    return ToolResult(tool=tool, args=a.model_dump(), status="success", text=text,
                      data={"changed": changed}, rollback=undo)


class Workload(Args):
    name: str = Name
    namespace: str = Field(default="shop")


def _deploy_names(ctx: ToolContext, namespace: str):  # type: ignore[no-untyped-def]
    return lambda: [d.metadata.name for d in ctx.apps.list_namespaced_deployment(namespace).items]


class PodArgs(Workload):
    force: bool = Field(default=False, description="grace period 0: remove at once")


def _delete_pod(ctx: ToolContext, a: PodArgs) -> ToolResult:
    def run() -> ToolResult:
        ctx.core.delete_namespaced_pod(a.name, a.namespace, grace_period_seconds=0 if a.force else None)
        return done("k8s_delete_pod", a, f"pod {a.namespace}/{a.name} deleted; its controller "
                     "creates a replacement", [])
    def read_back() -> tuple[bool | None, str]:
        try:
            pod = ctx.core.read_namespaced_pod(a.name, a.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True, f"pod {a.namespace}/{a.name} is gone"
            raise
        if pod.metadata.deletion_timestamp:
            return True, f"pod {a.namespace}/{a.name} is terminating"
        return False, f"pod {a.namespace}/{a.name} is still there"
    names = lambda: [p.metadata.name for p in ctx.core.list_namespaced_pod(a.namespace).items]  # noqa: E731
    return mutate(ctx, "k8s_delete_pod", a, run, names, read_back)


def _restart(ctx: ToolContext, a: Workload) -> ToolResult:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def run() -> ToolResult:
        body = {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": stamp}}}}}
        d = ctx.apps.patch_namespaced_deployment(a.name, a.namespace, body)
        return done("k8s_rollout_restart", a, f"deployment {a.namespace}/{a.name} restarting "
                     f"(revision {d.metadata.annotations.get(REVISION)})",
                     [("k8s_rollout_undo", {"name": a.name, "namespace": a.namespace})])
    def read_back() -> tuple[bool | None, str]:
        d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
        seen = (d.spec.template.metadata.annotations or {}).get("kubectl.kubernetes.io/restartedAt")
        return seen == stamp, f"deployment {a.namespace}/{a.name} restartedAt={seen}"
    return mutate(ctx, "k8s_rollout_restart", a, run, _deploy_names(ctx, a.namespace), read_back)


class ScaleArgs(Workload):
    replicas: int = Field(ge=0, le=50)


def _scale(ctx: ToolContext, a: ScaleArgs) -> ToolResult:
    def run() -> ToolResult:
        before = ctx.apps.read_namespaced_deployment_scale(a.name, a.namespace).spec.replicas
        ctx.apps.patch_namespaced_deployment_scale(a.name, a.namespace, {"spec": {"replicas": a.replicas}})
        return done("k8s_scale", a, f"deployment {a.namespace}/{a.name} replicas {before} -> {a.replicas}",
                     [("k8s_scale", {"name": a.name, "namespace": a.namespace, "replicas": before})])
    def read_back() -> tuple[bool | None, str]:
        now = ctx.apps.read_namespaced_deployment_scale(a.name, a.namespace).spec.replicas
        return now == a.replicas, f"deployment {a.namespace}/{a.name} has {now} replicas"
    return mutate(ctx, "k8s_scale", a, run, _deploy_names(ctx, a.namespace), read_back)


class UndoArgs(Workload):
    to_revision: int | None = Field(default=None, ge=1, description="None: the previous revision")


def _undo(ctx: ToolContext, a: UndoArgs) -> ToolResult:
    sent: dict[str, Any] = {}  # the template sent, once known

    def run() -> ToolResult:
        d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
        current = int(d.metadata.annotations.get(REVISION, 0))
        selector = ",".join(f"{k}={v}" for k, v in d.spec.selector.match_labels.items())
        sets = ctx.apps.list_namespaced_replica_set(a.namespace, label_selector=selector).items
        by_rev = {int(r.metadata.annotations.get(REVISION, 0)): r for r in sets}
        want = a.to_revision or max((r for r in by_rev if r < current), default=None)
        if want is None or want not in by_rev:
            return ToolResult(tool="k8s_rollout_undo", args=a.model_dump(), status="error",
                              error=f"no revision {a.to_revision or 'before ' + str(current)} in the "
                              f"history; revisions: {sorted(by_rev)}")
        template = ctx.kube.sanitize_for_serialization(by_rev[want].spec.template)
        template["metadata"]["labels"].pop("pod-template-hash", None)
        sent.update(template=template, revision=want)
        ctx.apps.patch_namespaced_deployment(a.name, a.namespace,
                                             [{"op": "replace", "path": "/spec/template", "value": template}])
        image = template["spec"]["containers"][0]["image"]
        return done("k8s_rollout_undo", a, f"deployment {a.namespace}/{a.name} rolled back from revision "
                     f"{current} to {want} (image {image})",
                     [("k8s_rollout_undo", {"name": a.name, "namespace": a.namespace,
                                            "to_revision": current})])
    def read_back() -> tuple[bool | None, str]:
        if not sent:
            return False, "the failure came before the rollback was sent"
        d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
        images = [c.image for c in d.spec.template.spec.containers]
        wanted = [c["image"] for c in sent["template"]["spec"]["containers"]]
        revision = d.metadata.annotations.get(REVISION)
        return images == wanted, (f"deployment {a.namespace}/{a.name} runs {images} at revision "
                                  f"{revision} (revision {sent['revision']} had {wanted})")
    return mutate(ctx, "k8s_rollout_undo", a, run, _deploy_names(ctx, a.namespace), read_back)


def pin_undo(ctx: ToolContext, a: UndoArgs) -> UndoArgs:
    """The revision an undo goes back to, fixed when it is proposed: what the gate judged and
    the approver saw is what runs, whatever the deployment's history becomes meanwhile."""
    if a.to_revision is not None:
        return a
    d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
    current = int(d.metadata.annotations.get(REVISION, 0))
    selector = ",".join(f"{k}={v}" for k, v in d.spec.selector.match_labels.items())
    sets = ctx.apps.list_namespaced_replica_set(a.namespace, label_selector=selector).items
    earlier = [r for r in (int(s.metadata.annotations.get(REVISION, 0)) for s in sets) if r < current]
    return a.model_copy(update={"to_revision": max(earlier)}) if earlier else a


class ContainerArgs(Workload):
    container: str = Field(default="", description="container name; default: the first")


def _container(ctx: ToolContext, a: ContainerArgs) -> Any:
    d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
    containers = d.spec.template.spec.containers
    match = next((c for c in containers if c.name == a.container), None) if a.container else containers[0]
    if match is None:
        raise ValueError(f"no container {a.container!r}; containers: {[c.name for c in containers]}")
    return match


class ImageArgs(ContainerArgs):
    image: str = Field(pattern=r"^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$")


def _set_image(ctx: ToolContext, a: ImageArgs) -> ToolResult:
    def run() -> ToolResult:
        c = _container(ctx, a)
        ctx.apps.patch_namespaced_deployment(a.name, a.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": c.name, "image": a.image}]}}}})
        return done("k8s_set_image", a, f"{a.namespace}/{a.name} container {c.name}: {c.image} -> {a.image}",
                     [("k8s_set_image", {"name": a.name, "namespace": a.namespace, "container": c.name,
                                         "image": c.image})])
    def read_back() -> tuple[bool | None, str]:
        image = _container(ctx, a).image
        return image == a.image, f"{a.namespace}/{a.name} runs {image}"
    return mutate(ctx, "k8s_set_image", a, run, _deploy_names(ctx, a.namespace), read_back)


Quantity = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")


class ResourcesArgs(ContainerArgs):
    cpu_request: str | None = Quantity
    cpu_limit: str | None = Quantity
    memory_request: str | None = Quantity
    memory_limit: str | None = Quantity


def _patch_resources(ctx: ToolContext, a: ResourcesArgs) -> ToolResult:
    sent: dict[str, Any] = {}

    def run() -> ToolResult:
        c = _container(ctx, a)
        before = {"requests": dict(c.resources.requests or {}), "limits": dict(c.resources.limits or {})}
        after = {"requests": dict(before["requests"]), "limits": dict(before["limits"])}
        wanted = ((a.cpu_request, "requests", "cpu"), (a.cpu_limit, "limits", "cpu"),
                  (a.memory_request, "requests", "memory"), (a.memory_limit, "limits", "memory"))
        for value, kind, key in wanted:
            if value is not None:
                after[kind][key] = value
        sent.update(after)
        ctx.apps.patch_namespaced_deployment(a.name, a.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": c.name, "resources": after}]}}}})
        undo = {"name": a.name, "namespace": a.namespace, "container": c.name,
                "cpu_request": before["requests"].get("cpu"), "cpu_limit": before["limits"].get("cpu"),
                "memory_request": before["requests"].get("memory"),
                "memory_limit": before["limits"].get("memory")}
        return done("k8s_patch_resources", a, f"{a.namespace}/{a.name} container {c.name} resources "
                     f"{before} -> {after}", [("k8s_patch_resources", {k: v for k, v in undo.items() if v})])
    def read_back() -> tuple[bool | None, str]:
        if not sent:
            return False, "the failure came before the change was sent"
        r = _container(ctx, a).resources
        now = {"requests": dict(r.requests or {}), "limits": dict(r.limits or {})}
        return now == sent, f"{a.namespace}/{a.name} resources {now}"
    return mutate(ctx, "k8s_patch_resources", a, run, _deploy_names(ctx, a.namespace), read_back)


class EnvArgs(ContainerArgs):
    set: dict[str, str] = Field(default_factory=dict, description="variables to set")
    unset: list[str] = Field(default_factory=list, description="variables to remove")


def _patch_env(ctx: ToolContext, a: EnvArgs) -> ToolResult:
    def run() -> ToolResult:
        if not a.set and not a.unset:
            return ToolResult(tool="k8s_patch_env", args=a.model_dump(), status="error",
                              error="nothing to change: give `set` and/or `unset`")
        c = _container(ctx, a)
        before = {e.name: e.value for e in c.env or []}
        env = [{"name": k, "value": v} for k, v in a.set.items()]
        env += [{"name": k, "$patch": "delete"} for k in a.unset]
        ctx.apps.patch_namespaced_deployment(a.name, a.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": c.name, "env": env}]}}}})
        restore = {k: before[k] for k in [*a.set, *a.unset] if k in before}
        added = [k for k in a.set if k not in before]
        return done("k8s_patch_env", a, f"{a.namespace}/{a.name} container {c.name}: set {a.set}, "
                     f"unset {a.unset} (was {restore or 'unset'})",
                     [("k8s_patch_env", {"name": a.name, "namespace": a.namespace, "container": c.name,
                                         "set": restore, "unset": added})])
    def read_back() -> tuple[bool | None, str]:
        env = {e.name: e.value for e in _container(ctx, a).env or []}
        applied = all(env.get(k) == v for k, v in a.set.items()) and not any(k in env for k in a.unset)
        return applied, f"{a.namespace}/{a.name} env keys {sorted(env)}"
    return mutate(ctx, "k8s_patch_env", a, run, _deploy_names(ctx, a.namespace), read_back)


class NodeArgs(Args):
    node: str = Name


def _node_flag(tool: str, unschedulable: bool) -> Any:
    def call(ctx: ToolContext, a: NodeArgs) -> ToolResult:
        def run() -> ToolResult:
            ctx.core.patch_node(a.node, {"spec": {"unschedulable": unschedulable}})
            other = "k8s_uncordon" if unschedulable else "k8s_cordon"
            verb = "cordoned" if unschedulable else "uncordoned"
            return done(tool, a, f"node {a.node} {verb}", [(other, {"node": a.node})])
        def read_back() -> tuple[bool | None, str]:
            now = bool(ctx.core.read_node(a.node).spec.unschedulable)
            return now == unschedulable, f"node {a.node} unschedulable={now}"
        names = lambda: [n.metadata.name for n in ctx.core.list_node().items]  # noqa: E731
        return mutate(ctx, tool, a, run, names, read_back)
    return call


def _drain(ctx: ToolContext, a: NodeArgs) -> ToolResult:
    def run() -> ToolResult:
        ctx.core.patch_node(a.node, {"spec": {"unschedulable": True}})
        pods = ctx.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={a.node}").items
        evicted, kept = [], []
        for p in pods:
            name = f"{p.metadata.namespace}/{p.metadata.name}"
            try:
                ctx.core.create_namespaced_pod_eviction(p.metadata.name, p.metadata.namespace, {
                    "apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": p.metadata.name, "namespace": p.metadata.namespace}})
            except ApiException as exc:
                if exc.status != 429:  # 429: its disruption budget allows none now; the rest go on
                    raise
                kept.append(name)
                continue
            evicted.append(name)
        text = f"node {a.node} cordoned; evicted {len(evicted)} pods: {', '.join(evicted) or 'none'}"
        if kept:
            text += (f"\nnot evicted, their disruption budget allows no disruption now (try again once "
                     f"replacements are ready): {', '.join(kept)}")
        return done("k8s_drain", a, text, [("k8s_uncordon", {"node": a.node})])
    def read_back() -> tuple[bool | None, str]:
        cordoned = bool(ctx.core.read_node(a.node).spec.unschedulable)
        left = [f"{p.metadata.namespace}/{p.metadata.name}" for p in ctx.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={a.node}").items if not p.metadata.deletion_timestamp]
        now = f"node {a.node} cordoned={cordoned}; pods still on it: {left or 'none'}"
        return (True if cordoned and not left else None), now
    names = lambda: [n.metadata.name for n in ctx.core.list_node().items]  # noqa: E731
    return mutate(ctx, "k8s_drain", a, run, names, read_back)


def _target(kind: str) -> Any:
    return lambda a: [f"{a.namespace}/{kind}/{a.name}"]


REPAIR: tuple[Literal["repair"]] = ("repair",)
TOOLS = [
    Tool("k8s_delete_pod", "Delete a pod; its controller replaces it (a restart of that one pod).",
         PodArgs, Risk.MUTATE_LOW, REPAIR, _delete_pod, _target("Pod")),
    Tool("k8s_rollout_restart", "Restart every pod of a deployment, rolling.", Workload,
         Risk.MUTATE_LOW, REPAIR, _restart, _target("Deployment")),
    Tool("k8s_scale", "Set a deployment's replica count.", ScaleArgs, Risk.MUTATE_HIGH, REPAIR,
         _scale, _target("Deployment")),
    Tool("k8s_rollout_undo", "Roll a deployment back to its previous (or a given) revision.",
         UndoArgs, Risk.MUTATE_HIGH, REPAIR, _undo, _target("Deployment"), pin=pin_undo),
    Tool("k8s_set_image", "Set a container's image.", ImageArgs, Risk.MUTATE_HIGH, REPAIR,
         _set_image, _target("Deployment")),
    Tool("k8s_patch_resources", "Change a container's CPU/memory requests and limits.",
         ResourcesArgs, Risk.MUTATE_HIGH, REPAIR, _patch_resources, _target("Deployment")),
    Tool("k8s_patch_env", "Set or remove a container's environment variables.", EnvArgs,
         Risk.MUTATE_HIGH, REPAIR, _patch_env, _target("Deployment")),
    Tool("k8s_cordon", "Mark a node unschedulable.", NodeArgs, Risk.MUTATE_LOW, REPAIR,
         _node_flag("k8s_cordon", True), lambda a: [f"Node/{a.node}"]),
    Tool("k8s_uncordon", "Mark a node schedulable again.", NodeArgs, Risk.MUTATE_LOW, REPAIR,
         _node_flag("k8s_uncordon", False), lambda a: [f"Node/{a.node}"]),
    Tool("k8s_drain", "Cordon a node and evict every pod on it.", NodeArgs, Risk.DESTRUCTIVE, REPAIR,
         _drain, lambda a: [f"Node/{a.node}"]),
]
