"""A burst of expensive traffic (a scraper hammering server-rendered search pages) drives the
frontend's CPU up; the HPA scales to its maximum and the frontend still saturates."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchHPA, PatchResources
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.world import World

MAX_SEVERITY = 1.5
HEADROOM = 32  # an HPA maximum that absorbs the surge at every severity (16 did up to 1.0)


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
        # Capped: past 1.5 the surge needs more frontend pods than the three nodes hold, so no
        # HPA maximum (the remedy this fault declares) would mitigate it, and the teacher's runs
        # at the training severities 1.5 and 2.0 ended "mitigated" by its checks, not by the truth.
        world.cpu_factor[self.target] = 9.0 * min(self.severity, MAX_SEVERITY)

    def mitigated(self, world: World) -> bool:
        pods = [p for p in live_pods(world, self.target) if p.ready]
        return bool(pods) and all(p.containers[0].cpu_demand <= 1.1 * p.containers[0].cpu
                                  for p in pods)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[PatchHPA(namespace="shop", name=self.target, max_replicas=HEADROOM)]]

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
