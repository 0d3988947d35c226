"""A release leaks database connections until PostgreSQL refuses new clients, which then
hurts every service that uses the database, not only the leaking one."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, Scale
from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import DB_CLIENTS, DefectiveRelease
from opsagent.sandbox.world import ImageDefect, World


@register
class DBConnectionLeak(DefectiveRelease):
    id = "db_connection_leak"
    category = "application"
    level = Level.APPLICATION
    fault_type = FaultType.CODE_DEFECT
    summary = "a new release leaks database connections until the pool is exhausted"
    alerts = {"PostgresTooManyConnections": "postgres"}
    # The alert flaps: liveness restarts of the saturated pods reset their leak every ~12 min
    # and it is firing about 70% of the time; 2,250 s after onset falls mid-phase.
    alert_onset_s = 2250
    onset_range = (1300, 1600)
    bump = "patch"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(DB_CLIENTS)

    def defect(self, world: World) -> ImageDefect:
        return ImageDefect(conn_leak_per_s=0.06 * self.severity)

    def mitigated(self, world: World) -> bool:
        return super().mitigated(world) and world.db_connections <= world.db_max_connections

    def harmful(self, world: World) -> list[Action]:
        p = world.profiles[self.target]
        return [Scale(namespace=p.namespace, name=p.name, replicas=p.replicas + 3)]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["Unhealthy"],
            logs=[r"too many clients already"],
            metrics=[MetricCheck(name="pg_stat_activity_count", op=">=", value=100)],
        )
