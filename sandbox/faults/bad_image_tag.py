"""A deploy names an image tag that was never pushed: the new pods sit in ImagePullBackOff and
the rollout stalls with one replica short."""

from __future__ import annotations

from opsagent.sandbox.actions import Action
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, revert, rollout_image, runs_image, settled
from opsagent.sandbox.world import World


@register
class BadImageTag(Fault):
    id = "bad_image_tag"
    category = "operator"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.OPERATION_ERROR
    summary = "a deploy references an image tag that does not exist in the registry"
    alerts = {"KubeContainerWaiting": "{target}", "KubeDeploymentRolloutStuck": "{target}"}
    alert_onset_s = 4200

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(SHOP_DEPLOYMENTS)

    def inject(self, world: World) -> None:
        tag = world.profiles[self.target].versions[1] + "-rc1"
        self.state["image"] = rollout_image(world, self.target, tag, None, register=False)

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        wl = world.workloads[(p.namespace, p.name)]
        return wl.template.containers[0].image in world.images and settled(world, self.target) \
            and not runs_image(world, self.target, str(self.state["image"]))

    def mitigations(self, world: World) -> list[list[Action]]:
        return revert(world, self.target)

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["Failed", "BackOff"],
            logs=[r"ImagePullBackOff|Back-off pulling image"],
            metrics=[MetricCheck(name="kube_pod_container_status_waiting_reason",
                                 labels={"namespace": ns, "container": self.target,
                                         "reason": "ImagePullBackOff"}, op=">=", value=1)],
        )
