"""The cluster facts the gate uses, read through the tools' own Kubernetes client."""

from __future__ import annotations

from kubernetes.client.rest import ApiException

from opsagent.agent.gate import ProposedAction
from opsagent.tools.context import ToolContext


class KubeFacts:
    def __init__(self, ctx: ToolContext):
        self.ctx = ctx

    def owner_kind(self, namespace: str, pod: str) -> str | None:
        try:
            refs = self.ctx.core.read_namespaced_pod(pod, namespace).metadata.owner_references or []
        except ApiException:
            return None
        return refs[0].kind if refs else None

    def schedulable_nodes(self) -> int:
        return sum(1 for n in self.ctx.core.list_node().items if not n.spec.unschedulable)

    def pods_affected(self, action: ProposedAction) -> int:
        """Pods an action restarts, moves or removes."""
        args = action.args
        if action.tool in ("k8s_drain", "k8s_cordon"):
            if action.tool == "k8s_cordon":
                return 0
            pods = self.ctx.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={args['node']}")
            return len(pods.items)
        if action.tool == "k8s_delete_pod":
            return 1
        if "name" in args and action.tool.startswith("k8s_"):
            try:
                current = self.ctx.apps.read_namespaced_deployment(
                    args["name"], args.get("namespace", "shop"))
            except ApiException:
                return 0
            if action.tool == "k8s_scale":
                return abs(current.spec.replicas - args["replicas"])
            return current.spec.replicas or 0
        return 0
