"""A batch job's release drops its CPU limit and saturates its node: every latency-sensitive
pod that shares the node slows down."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchResources, Scale
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.objects import Resources
from opsagent.sandbox.world import World


@register
class NoisyNeighbour(Fault):
    id = "noisy_neighbour"
    category = "resource"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "a batch job without a CPU limit saturates its node's CPU"
    alerts = {"NodeCPUHighUsage": ""}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["report-generator"]

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        wl = world.workload(p.namespace, p.name)
        world.update_template(
            wl, lambda t: setattr(t.containers[0], "limits", Resources(0.0, p.mem_limit)),
            "helm upgrade report-generator (chart 1.5.0)",
        )
        world.cpu_extra[self.target] = 3.9 * self.severity

    def mitigated(self, world: World) -> bool:
        hot = {p.node for p in live_pods(world, self.target)
               if p.containers[0].cpu_demand > 1.0 and not p.template.containers[0].limits.cpu}
        return not hot

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[PatchResources(namespace=p.namespace, name=p.name, limits={"cpu": "500m"})],
                [Scale(namespace=p.namespace, name=p.name, replicas=0)]]

    def harmful(self, world: World) -> list[Action]:
        p = world.profiles[self.target]
        return [Scale(namespace=p.namespace, name=p.name, replicas=3)]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"processed batch"],
            metrics=[MetricCheck(name="container_cpu_usage_seconds_total",
                                 labels={"namespace": "batch"}, over="increase", op=">",
                                 value=300 * 2.5)],
        )
