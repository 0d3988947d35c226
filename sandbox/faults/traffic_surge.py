"""A burst of expensive traffic (a scraper hammering server-rendered search pages) drives the
frontend's CPU up; the HPA scales to its maximum and the frontend still saturates."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchHPA, PatchResources
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.world import World


@register
class TrafficSurge(Fault):
    id = "traffic_surge"
    category = "resource"
    level = Level.APPLICATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "a traffic surge pins the frontend HPA at its maximum; pods saturate"
    alerts = {"KubeHpaMaxedOut": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["frontend"]

    def components(self, world: World) -> list[str]:
        return ["shop/HorizontalPodAutoscaler/frontend", "shop/Deployment/frontend"]

    def inject(self, world: World) -> None:
        world.traffic_multiplier = 1.5
        world.cpu_factor[self.target] = 9.0 * self.severity

    def mitigated(self, world: World) -> bool:
        pods = [p for p in live_pods(world, self.target) if p.ready]
        return bool(pods) and all(p.containers[0].cpu_demand <= 1.1 * p.containers[0].cpu
                                  for p in pods)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[PatchHPA(namespace="shop", name=self.target, max_replicas=16)]]

    def harmful(self, world: World) -> list[Action]:
        return [PatchResources(namespace="shop", name=self.target,
                               requests={"cpu": "100m"}, limits={"cpu": "150m"})]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["SuccessfulRescale"],
            logs=[r"context deadline exceeded|request timeout"],
            metrics=[MetricCheck(name="kube_horizontalpodautoscaler_status_current_replicas",
                                 labels={"horizontalpodautoscaler": self.target}, op=">=",
                                 value=world.hpas[("shop", self.target)].max_replicas)],
        )
