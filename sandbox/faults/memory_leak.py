"""A release leaks memory: working set climbs to the limit, the container is OOMKilled, and
the pod ends in CrashLoopBackOff. A restart only buys time; rolling back cures it."""

from __future__ import annotations

from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, DefectiveRelease
from opsagent.sandbox.world import ImageDefect, World


@register
class MemoryLeak(DefectiveRelease):
    id = "memory_leak"
    category = "application"
    level = Level.APPLICATION
    fault_type = FaultType.CODE_DEFECT
    summary = "a new release leaks memory until the container is OOMKilled"
    alerts = {"KubePodCrashLooping": "{target}"}
    onset_range = (1500, 1700)

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(SHOP_DEPLOYMENTS)

    def defect(self, world: World) -> ImageDefect:
        p = world.profiles[self.target]
        return ImageDefect(leak_bytes_per_s=(p.mem_limit - p.base_memory) / (200 / self.severity))

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["OOMKilling", "BackOff"],
            logs=[r"GC overhead high|high memory usage|approaching limit|OutOfMemoryError"],
            metrics=[MetricCheck(name="kube_pod_container_status_last_terminated_reason",
                                 labels={"namespace": ns, "container": self.target,
                                         "reason": "OOMKilled"}, op=">=", value=1),
                     MetricCheck(name="kube_pod_container_status_restarts_total",
                                 labels={"namespace": ns, "container": self.target},
                                 over="increase", op=">=", value=1, window_s=1200)],
        )
