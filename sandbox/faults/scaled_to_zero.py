"""Someone scaled a Deployment to zero (a wrong context, a half-finished maintenance): the
service has no endpoints and every caller fails."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, Scale
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, settled, shed_frontend
from opsagent.sandbox.world import World


@register
class ScaledToZero(Fault):
    id = "scaled_to_zero"
    category = "operator"
    level = Level.APPLICATION
    fault_type = FaultType.OPERATION_ERROR
    summary = "a Deployment was scaled to zero replicas by mistake"
    alerts = {"ShopServiceHighErrorRate": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return [s for s in SHOP_DEPLOYMENTS if s != "recommendation"]

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        Scale(namespace=p.namespace, name=p.name, replicas=0).apply(world)

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        return world.workloads[(p.namespace, p.name)].replicas >= p.replicas and settled(
            world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[Scale(namespace=p.namespace, name=p.name, replicas=p.replicas)]]

    def harmful(self, world: World) -> list[Action]:
        if self.target == "frontend":
            return [Scale(namespace="ingress-nginx", name="ingress-nginx-controller", replicas=0)]
        return shed_frontend()

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"[Cc]onnection refused|503"],
            metrics=[MetricCheck(name="kube_deployment_spec_replicas",
                                 labels={"deployment": self.target}, op="<", value=1)],
        )
