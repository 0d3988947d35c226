"""A node's NIC drops packets: it stays Ready, but requests through its pods are reset or time
out. Moving the pods off the node cures it."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, Drain
from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import NodeFault
from opsagent.sandbox.world import World


@register
class NodePacketLoss(NodeFault):
    id = "node_packet_loss"
    category = "network"
    level = Level.HARDWARE
    fault_type = FaultType.NETWORK_STORAGE
    summary = "a node's network interface drops packets"
    alerts = {"NodeNetworkReceiveErrs": "{target}"}
    alert_onset_s = 4200


    def inject(self, world: World) -> None:
        world.node(self.target).nic_loss = min(0.6, 0.12 * self.severity)

    def mitigated(self, world: World) -> bool:
        node = world.nodes[self.target]
        serving = [p for p in world.pods.values()
                   if p.node == self.target and p.ready and world.profiles[p.service].latency_ms]
        return node.unschedulable and not serving

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[Drain(node=self.target)]]


    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["Unhealthy"],
            logs=[r"connection reset by peer|Connection reset|upstream timed out"],
            metrics=[MetricCheck(name="node_network_receive_errs_total",
                                 labels={"instance": self.target}, over="increase", op=">",
                                 value=100)],
        )
