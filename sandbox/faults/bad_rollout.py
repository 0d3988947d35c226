"""A release with a bug: its pods are healthy to Kubernetes but answer part of their
requests with 5xx and stack traces. Rolling back cures it; scaling does not."""

from __future__ import annotations

from sandbox.actions import Action
from sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from sandbox.faults.common import (
    SHOP_DEPLOYMENTS,
    next_tag,
    revert,
    rollout_image,
    runs_image,
    settled,
)
from sandbox.world import ImageDefect, World


@register
class BadRollout(Fault):
    id = "bad_rollout"
    category = "application"
    level = Level.APPLICATION
    fault_type = FaultType.CODE_DEFECT
    summary = "a new release raises errors on a share of requests"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return [s for s in SHOP_DEPLOYMENTS if s != "recommendation"]

    def inject(self, world: World) -> None:
        ratio = min(0.9, 0.35 * self.severity)
        self.state["image"] = rollout_image(world, self.target, next_tag(world, self.target),
                                            ImageDefect(error_ratio=ratio))

    def mitigated(self, world: World) -> bool:
        return not runs_image(world, self.target, str(self.state["image"])) and settled(
            world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        return revert(world, self.target)

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["ScalingReplicaSet"],
            logs=[r"NullPointerException|nil pointer dereference|KeyError"],
            metrics=[MetricCheck(name="http_requests_total",
                                 labels={"service": self.target, "code": "503"},
                                 over="increase", per="http_requests_total", op=">", value=0.1)],
        )
