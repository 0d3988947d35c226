"""A release with a bug: its pods are healthy to Kubernetes but answer part of their
requests with 5xx and stack traces. Rolling back cures it; scaling does not."""

from __future__ import annotations

from opsagent.sandbox.faults.base import FaultType, Level, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, DefectiveRelease, error_share
from opsagent.sandbox.world import ImageDefect, World


@register
class BadRollout(DefectiveRelease):
    id = "bad_rollout"
    category = "application"
    level = Level.APPLICATION
    fault_type = FaultType.CODE_DEFECT
    summary = "a new release raises errors on a share of requests"
    alerts = {"ShopServiceHighErrorRate": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return [s for s in SHOP_DEPLOYMENTS if s != "recommendation"]

    def defect(self, world: World) -> ImageDefect:
        return ImageDefect(error_ratio=min(0.9, 0.35 * self.severity))

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"NullPointerException|nil pointer dereference|KeyError"],
            metrics=[error_share(self.target, 0.1)],
        )
