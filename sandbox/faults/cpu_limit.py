"""A resources change sets a CPU limit far below what the service needs under load: CFS
throttling, rising latency, then timeouts."""

from __future__ import annotations

from opsagent.sandbox import quantity
from opsagent.sandbox.actions import Action, PatchResources
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods, settled
from opsagent.sandbox.world import World


@register
class CPULimitTooLow(Fault):
    id = "cpu_limit_too_low"
    category = "resource"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "the CPU limit is far below the service's demand; it is throttled"
    alerts = {"CPUThrottlingHigh": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["catalog", "checkout", "recommendation"]  # frontend: its HPA compensates

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        pods = live_pods(world, self.target)
        demand = sum(c.cpu_demand for pod in pods for c in pod.containers) / max(1, len(pods))
        limit = max(0.01, round(demand * 0.35 / self.severity, 2))
        PatchResources(namespace=p.namespace, name=p.name,
                       requests={"cpu": quantity.cpu(limit)},
                       limits={"cpu": quantity.cpu(limit)}).apply(world)

    def mitigated(self, world: World) -> bool:
        pods = live_pods(world, self.target)
        throttled = any(c.cpu_demand > 1.2 * c.cpu > 0 for p in pods for c in p.containers)
        return not throttled and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[PatchResources(namespace=p.namespace, name=p.name,
                                requests={"cpu": quantity.cpu(p.cpu_request)},
                                limits={"cpu": quantity.cpu(p.cpu_limit)})]]

    def harmful(self, world: World) -> list[Action]:
        p = world.profiles[self.target]
        return [PatchResources(namespace=p.namespace, name=p.name,
                               requests={"cpu": "10m"}, limits={"cpu": "10m"})]

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"Thread pool exhausted|context deadline exceeded|WORKER TIMEOUT|timed out"],
            metrics=[MetricCheck(name="container_cpu_cfs_throttled_periods_total",
                                 labels={"namespace": ns, "container": self.target},
                                 over="increase", per="container_cpu_cfs_periods_total",
                                 op=">", value=0.25)],
        )
