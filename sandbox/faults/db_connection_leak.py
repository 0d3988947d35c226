"""A release leaks database connections until PostgreSQL refuses new clients, which then
hurts every service that uses the database, not only the leaking one."""

from __future__ import annotations

from sandbox.actions import Action, Scale
from sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from sandbox.faults.common import DB_CLIENTS, next_tag, revert, rollout_image, runs_image, settled
from sandbox.world import ImageDefect, World


@register
class DBConnectionLeak(Fault):
    id = "db_connection_leak"
    category = "application"
    level = Level.APPLICATION
    fault_type = FaultType.CODE_DEFECT
    summary = "a new release leaks database connections until the pool is exhausted"
    onset_range = (1300, 1600)

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(DB_CLIENTS)

    def inject(self, world: World) -> None:
        self.state["image"] = rollout_image(
            world, self.target, next_tag(world, self.target, "patch"),
            ImageDefect(conn_leak_per_s=0.06 * self.severity),
        )

    def mitigated(self, world: World) -> bool:
        return (
            not runs_image(world, self.target, str(self.state["image"]))
            and settled(world, self.target)
            and world.db_connections <= world.db_max_connections
        )

    def mitigations(self, world: World) -> list[list[Action]]:
        return revert(world, self.target)

    def harmful(self, world: World) -> list[Action]:
        p = world.profiles[self.target]
        return [Scale(namespace=p.namespace, name=p.name, replicas=p.replicas + 3)]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["Unhealthy"],
            logs=[r"too many clients already"],
            metrics=[MetricCheck(name="pg_stat_activity_count", op=">=", value=100)],
        )
