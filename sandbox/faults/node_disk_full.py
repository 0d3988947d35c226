"""A node's root filesystem fills with unused images and unrotated logs: DiskPressure, then the
kubelet evicts pods one after another."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PruneNodeDisk
from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, NodeFault, settled
from opsagent.sandbox.objects import GiB
from opsagent.sandbox.world import World


@register
class NodeDiskFull(NodeFault):
    id = "node_disk_full"
    category = "node"
    level = Level.OS
    fault_type = FaultType.NETWORK_STORAGE
    summary = "a node's disk is nearly full; DiskPressure evicts its pods"
    alerts = {"NodeFilesystemAlmostOutOfSpace": "{target}", "KubeNodePressure": "{target}"}


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
