"""The cluster facts the gate uses, read through the tools' own Kubernetes client. A read
that fails (refused, throttled, erroring, timed out) raises UnknownFact, which the gate counts
against the action; only a 404 is a fact (the object is not there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from opsagent.agent.gate import Evicted, ProposedAction, UnknownFact
from opsagent.tools.context import ToolContext, Transient
from opsagent.tools.kubernetes_read import TRANSIENT

T = TypeVar("T")
MISSING = object()


def _read(ctx: ToolContext, what: str, call: Callable[[], T], missing: object = MISSING) -> T:
    """`call`, retried like the tools' reads; a failure becomes UnknownFact."""
    try:
        return ctx.retry(call, TRANSIENT)
    except ApiException as exc:
        if exc.status == 404 and missing is not MISSING:
            return missing  # type: ignore[return-value]
        raise UnknownFact(f"{what}: the API answered {exc.status} {exc.reason}") from exc
    except (Transient, HTTPError, OSError) as exc:
        raise UnknownFact(f"{what}: {exc}") from exc


def _owner(obj) -> str | None:  # type: ignore[no-untyped-def]
    refs = obj.metadata.owner_references or []
    return refs[0].kind if refs else None


class KubeFacts:
    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def _pod(self, namespace: str, pod: str):  # type: ignore[no-untyped-def]
        return _read(self.ctx, f"pod {namespace}/{pod}",
                     lambda: self.ctx.core.read_namespaced_pod(pod, namespace), None)

    def owner_kind(self, namespace: str, pod: str) -> str | None:
        found = self._pod(namespace, pod)
        return _owner(found) if found else None

    def workload_of(self, namespace: str, pod: str) -> str | None:
        """The Deployment or StatefulSet a pod belongs to (through its ReplicaSet)."""
        found = self._pod(namespace, pod)
        refs = (found.metadata.owner_references or []) if found else []
        if not refs:
            return None
        kind, name = refs[0].kind, refs[0].name
        if kind == "ReplicaSet":
            rs = _read(self.ctx, f"replicaset {namespace}/{name}",
                       lambda: self.ctx.apps.read_namespaced_replica_set(name, namespace), None)
            up = (rs.metadata.owner_references or []) if rs else []
            if up:
                kind, name = up[0].kind, up[0].name
        return f"{namespace}/{kind}/{name}"

    def schedulable_nodes(self) -> set[str]:
        nodes = _read(self.ctx, "the node list", lambda: self.ctx.core.list_node().items)
        return {n.metadata.name for n in nodes if not n.spec.unschedulable}

    def evictions(self, node: str) -> list[Evicted]:
        """The pods a drain of `node` evicts."""
        pods = _read(self.ctx, f"the pods on {node}", lambda: self.ctx.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}").items)
        return [Evicted(namespace=p.metadata.namespace, name=p.metadata.name, owner_kind=_owner(p))
                for p in pods]

    def pods_affected(self, action: ProposedAction) -> int:
        """Pods an action restarts, moves or removes."""
        args = action.args
        if action.tool == "k8s_cordon":
            return 0
        if action.tool == "k8s_drain":
            return len(self.evictions(args["node"]))
        if action.tool == "k8s_delete_pod":
            return 1
        if "name" in args and action.tool.startswith("k8s_"):
            ns = args.get("namespace", "shop")
            current = _read(self.ctx, f"deployment {ns}/{args['name']}",
                            lambda: self.ctx.apps.read_namespaced_deployment(args["name"], ns), None)
            if current is None:
                return 0
            if action.tool == "k8s_scale":
                return abs(current.spec.replicas - args["replicas"])
            return current.spec.replicas or 0
        return 0
