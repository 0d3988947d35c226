"""An edit to the CoreDNS Corefile forwards to a hostname instead of an IP; after the pods are
recycled CoreDNS refuses to start and every name lookup in the cluster fails."""

from __future__ import annotations

from opsagent.sandbox import controllers
from opsagent.sandbox.actions import Action, Drain, PatchConfigMap, RolloutRestart
from opsagent.sandbox.build import COREFILE
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import busiest_node, live_pods, settled
from opsagent.sandbox.startup import corefile_error
from opsagent.sandbox.world import World


@register
class DNSFailure(Fault):
    id = "dns_failure"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "CoreDNS cannot start: its Corefile forwards to a hostname, not an IP"
    alerts = {"KubePodCrashLooping": "coredns"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["coredns"]

    def components(self, world: World) -> list[str]:
        return ["kube-system/ConfigMap/coredns", "kube-system/Deployment/coredns"]

    def inject(self, world: World) -> None:
        cm = world.configmap("kube-system", "coredns")
        cm.data["Corefile"] = cm.data["Corefile"].replace(
            "forward . /etc/resolv.conf", "forward . dns.corp.internal")
        cm.version += 1
        for pod in live_pods(world, "coredns"):
            controllers.delete_pod(world, pod)

    def mitigated(self, world: World) -> bool:
        cm = world.configmaps[("kube-system", "coredns")]
        return corefile_error(cm.data["Corefile"]) is None and settled(world, "coredns")

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[PatchConfigMap(namespace="kube-system", name="coredns", data={"Corefile": COREFILE}),
                 RolloutRestart(namespace="kube-system", name="coredns")]]

    def harmful(self, world: World) -> list[Action]:
        # Evicted pods come back on other nodes, and cannot resolve their dependencies at start.
        return [Drain(node=busiest_node(world))]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["BackOff"],
            logs=[r"not an IP address or file",
                  r"Temporary failure in name resolution|server misbehaving|UnknownHostException"],
            metrics=[MetricCheck(name="kube_pod_container_status_waiting_reason",
                                 labels={"namespace": "kube-system", "reason": "CrashLoopBackOff"},
                                 op=">=", value=1)],
        )
