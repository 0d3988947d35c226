"""Redis' memory limit was cut below its working set: it evicts keys constantly, the hit ratio
collapses, and the misses land on PostgreSQL as extra load and latency."""

from __future__ import annotations

from opsagent.sandbox import quantity
from opsagent.sandbox.actions import Action, DeletePod, PatchResources
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods, settled
from opsagent.sandbox.world import World


@register
class RedisEvictionStorm(Fault):
    id = "redis_eviction_storm"
    category = "dependency"
    level = Level.APPLICATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "Redis' memory limit is below its working set; an eviction storm follows"
    alerts = {"RedisEvictionStorm": "redis"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["redis"]

    def inject(self, world: World) -> None:
        p = world.profiles["redis"]
        limit = int(p.mem_limit / (2 * self.severity))
        PatchResources(namespace=p.namespace, name=p.name,
                       requests={"memory": quantity.memory(min(limit, p.mem_request))},
                       limits={"memory": quantity.memory(limit)}).apply(world)

    def mitigated(self, world: World) -> bool:
        return world.cache_hit_ratio >= 0.9 and settled(world, "redis")

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles["redis"]
        return [[PatchResources(namespace=p.namespace, name=p.name,
                                requests={"memory": quantity.memory(p.mem_request)},
                                limits={"memory": quantity.memory(p.mem_limit)})]]

    def harmful(self, world: World) -> list[Action]:
        return [DeletePod(namespace="shop", name=p.name) for p in live_pods(world, "redis")]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"[Cc]ache miss"],
            metrics=[MetricCheck(name="redis_evicted_keys_total", over="increase", op=">",
                                 value=1000)],
        )
