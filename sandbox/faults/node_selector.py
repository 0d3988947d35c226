"""A release pins pods to a node that no longer exists: the new pods stay Pending with
FailedScheduling, and the rollout stalls."""

from __future__ import annotations

from sandbox.actions import Action, RolloutUndo
from sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from sandbox.faults.common import SHOP_DEPLOYMENTS, settled
from sandbox.world import World


@register
class NodeSelectorPending(Fault):
    id = "node_selector_pending"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "a nodeSelector names a node that does not exist; new pods stay Pending"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(SHOP_DEPLOYMENTS)

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        wl = world.workload(p.namespace, p.name)
        world.update_template(
            wl, lambda t: t.node_selector.update({"kubernetes.io/hostname": "ip-10-0-4-99"}),
            f"kubectl apply -f {p.name}.yaml",
        )

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        selector = world.workloads[(p.namespace, p.name)].template.node_selector
        return "ip-10-0-4-99" not in selector.values() and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[RolloutUndo(namespace=p.namespace, name=p.name)]]

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["FailedScheduling"],
            logs=[r"didn't match Pod's node affinity/selector"],
            metrics=[MetricCheck(name="kube_pod_status_phase",
                                 labels={"namespace": ns, "phase": "Pending"}, op=">=", value=1)],
        )
