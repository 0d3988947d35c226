"""A release changes the readiness probe to a path the application does not serve: new pods
run but never become Ready, and the rollout stalls."""

from __future__ import annotations

from sandbox.actions import Action, RolloutUndo
from sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from sandbox.faults.common import SHOP_DEPLOYMENTS, settled
from sandbox.world import World


@register
class ReadinessProbeMisconfigured(Fault):
    id = "readiness_probe"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "the readiness probe checks a path the application does not serve"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(SHOP_DEPLOYMENTS)

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        wl = world.workload(p.namespace, p.name)

        def mutate(t) -> None:
            probe = t.containers[0].readiness
            probe.path = "/health/ready"

        world.update_template(wl, mutate, f"kubectl apply -f {p.name}.yaml")

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        probe = world.workloads[(p.namespace, p.name)].template.containers[0].readiness
        return probe is not None and probe.path == p.probe_path and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[RolloutUndo(namespace=p.namespace, name=p.name)]]

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["Unhealthy"],
            logs=[r"Readiness probe failed"],
            metrics=[MetricCheck(name="kube_pod_status_ready",
                                 labels={"namespace": ns, "condition": "false"}, op=">=", value=1)],
        )
