"""A release changes the readiness probe to a path the application does not serve: new pods
run but never become Ready, and the rollout stalls."""

from __future__ import annotations

from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import BadTemplateChange
from opsagent.sandbox.objects import PodTemplate
from opsagent.sandbox.world import World


@register
class ReadinessProbeMisconfigured(BadTemplateChange):
    id = "readiness_probe"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "the readiness probe checks a path the application does not serve"
    alerts = {"KubePodNotReady": "{target}", "KubeDeploymentRolloutStuck": "{target}"}

    def mutate(self, template: PodTemplate) -> None:
        probe = template.containers[0].readiness
        if probe is not None:
            probe.path = "/health/ready"

    def fixed(self, world: World, template: PodTemplate) -> bool:
        probe = template.containers[0].readiness
        return probe is None or probe.path == world.profiles[self.target].probe_path

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["Unhealthy"],
            logs=[r"Readiness probe failed"],
            metrics=[MetricCheck(name="kube_pod_status_ready",
                                 labels={"namespace": ns, "condition": "false"}, op=">=", value=1)],
        )
