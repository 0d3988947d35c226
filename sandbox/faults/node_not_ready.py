"""A node's network interface fails: the kubelet stops reporting, the node goes NotReady, its
pods become unreachable, and after five minutes they are evicted."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, Cordon, Drain
from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, NodeFault, settled
from opsagent.sandbox.world import World


@register
class NodeNotReady(NodeFault):
    id = "node_not_ready"
    category = "node"
    level = Level.HARDWARE
    fault_type = FaultType.NETWORK_STORAGE
    summary = "a node lost its network; it is NotReady and its pods are unreachable"
    alerts = {"KubeNodeNotReady": "{target}", "KubeNodeUnreachable": "{target}"}
    onset_range = (300, 420)


    def inject(self, world: World) -> None:
        node = world.node(self.target)
        node.kubelet_up = False
        node.nic_loss = 1.0

    def mitigated(self, world: World) -> bool:
        node = world.nodes[self.target]
        stranded = [p for p in world.pods.values() if p.node == self.target and p.deleting_at is None]
        return node.unschedulable and not stranded and all(settled(world, s) for s in SHOP_DEPLOYMENTS)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[Drain(node=self.target)], [Cordon(node=self.target), Drain(node=self.target)]]


    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["NodeNotReady"],
            logs=[r"connection reset|timed out|Connection reset|context deadline"],
            metrics=[MetricCheck(name="kube_node_status_condition",
                                 labels={"node": self.target, "condition": "Ready",
                                         "status": "unknown"}, op=">=", value=1)],
        )
