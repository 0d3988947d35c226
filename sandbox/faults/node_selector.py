"""A release pins pods to a node that no longer exists: the new pods stay Pending with
FailedScheduling, and the rollout stalls."""

from __future__ import annotations

from opsagent.sandbox.faults.base import FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import BadTemplateChange
from opsagent.sandbox.objects import PodTemplate
from opsagent.sandbox.world import World

GONE = "ip-10-0-4-99"  # a node that was decommissioned


@register
class NodeSelectorPending(BadTemplateChange):
    id = "node_selector_pending"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "a nodeSelector names a node that does not exist; new pods stay Pending"
    alerts = {"KubePodNotReady": "{target}", "KubeDeploymentRolloutStuck": "{target}"}

    def mutate(self, template: PodTemplate) -> None:
        template.node_selector["kubernetes.io/hostname"] = GONE

    def fixed(self, world: World, template: PodTemplate) -> bool:
        return GONE not in template.node_selector.values()

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["FailedScheduling"],
            logs=[r"didn't match Pod's node affinity/selector"],
            metrics=[MetricCheck(name="kube_pod_status_phase",
                                 labels={"namespace": ns, "phase": "Pending"}, op=">=", value=1)],
        )
