"""A `tc netem` delay left behind in a service's pods after a debugging session: every call to
the service is slow, and its callers time out. New pods get a clean network namespace."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, RolloutRestart
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.world import World


@register
class NetworkDelay(Fault):
    id = "network_delay"
    category = "network"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.OPERATION_ERROR
    summary = "a leftover tc netem rule delays every packet of a service's pods"
    alerts = {"ShopServiceLatencyHigh": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["payment", "catalog", "cart", "auth"]

    def inject(self, world: World) -> None:
        for pod in live_pods(world, self.target):
            pod.netem_delay_ms = 1200 * self.severity

    def mitigated(self, world: World) -> bool:
        return not any(p.netem_delay_ms for p in live_pods(world, self.target))

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[RolloutRestart(namespace=p.namespace, name=p.name)]]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"timed out|context deadline exceeded|Read timed out"],
            metrics=[MetricCheck(name="http_request_duration_seconds_sum",
                                 labels={"service": self.target}, over="increase",
                                 per="http_request_duration_seconds_count", op=">", value=0.5)],
            no_events_because="the pods are healthy to Kubernetes; only the latency shows",
        )
