"""A Service's targetPort no longer matches the container port: endpoints look fine, but
every connection is refused and callers fail."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchService
from opsagent.sandbox.faults.base import Fault, FaultType, Level, Symptoms, register
from opsagent.sandbox.faults.common import error_share, shed_frontend
from opsagent.sandbox.world import World


@register
class ServiceTargetPort(Fault):
    id = "service_target_port"
    category = "configuration"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "a Service's targetPort does not match the port the pods listen on"
    alerts = {"ShopServiceHighErrorRate": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["auth", "cart", "catalog", "checkout", "payment"]

    def components(self, world: World) -> list[str]:
        return [f"{world.profiles[self.target].namespace}/Service/{self.target}"]

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        PatchService(namespace=p.namespace, name=p.name, target_port=p.port + 1).apply(world)

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        return world.services[(p.namespace, p.name)].target_port == p.port

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[PatchService(namespace=p.namespace, name=p.name, target_port=p.port)]]

    def harmful(self, world: World) -> list[Action]:
        return shed_frontend()

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"[Cc]onnection refused"],
            metrics=[error_share(self.target, 0.9)],
            no_events_because="Kubernetes sees nothing wrong: pods are Ready and endpoints exist",
        )
