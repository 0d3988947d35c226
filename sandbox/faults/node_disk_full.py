"""A node's root filesystem fills with unused images and unrotated logs: DiskPressure, then the
kubelet evicts pods one after another."""

from __future__ import annotations

from sandbox.actions import Action, Drain, PruneNodeDisk
from sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from sandbox.faults.common import SHOP_DEPLOYMENTS, settled, stateless_nodes
from sandbox.objects import GiB
from sandbox.world import World


@register
class NodeDiskFull(Fault):
    id = "node_disk_full"
    category = "node"
    level = Level.OS
    fault_type = FaultType.NETWORK_STORAGE
    summary = "a node's disk is nearly full; DiskPressure evicts its pods"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return stateless_nodes(world)

    def components(self, world: World) -> list[str]:
        return [f"Node/{self.target}"]

    def inject(self, world: World) -> None:
        node = world.node(self.target)
        node.reclaimable = 30 * GiB
        node.disk_used = node.disk * 0.86
        node.extra_disk_rate = 40e6 * self.severity  # a container logging in a tight loop

    def mitigated(self, world: World) -> bool:
        node = world.nodes[self.target]
        return not node.disk_pressure and node.disk_used < 0.85 * node.disk and all(
            settled(world, s) for s in SHOP_DEPLOYMENTS)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[PruneNodeDisk(node=self.target)]]

    def harmful(self, world: World) -> list[Action]:
        other = next(n for n in world.nodes if n != self.target)
        return [Drain(node=other)]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["EvictionThresholdMet", "Evicted"],
            logs=[r"attempting to reclaim|ephemeral-storage"],
            metrics=[MetricCheck(name="kube_node_status_condition",
                                 labels={"node": self.target, "condition": "DiskPressure",
                                         "status": "true"}, op=">=", value=1),
                     MetricCheck(name="kube_pod_status_reason", labels={"reason": "Evicted"},
                                 op=">=", value=1)],
        )
