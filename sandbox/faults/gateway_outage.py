"""The external payment gateway's primary region is down. Nothing in the cluster is broken;
the cure is to fail over to the gateway's secondary endpoint."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchEnv
from opsagent.sandbox.faults.base import Fault, FaultType, Level, Symptoms, register
from opsagent.sandbox.faults.common import error_share, live_pods, settled, shed_frontend
from opsagent.sandbox.traffic import external_host
from opsagent.sandbox.world import World

PRIMARY = "api.paygate.example"
SECONDARY = "https://eu.api.paygate.example"


@register
class PaymentGatewayOutage(Fault):
    id = "payment_gateway_outage"
    category = "dependency"
    level = Level.APPLICATION
    fault_type = FaultType.DEPENDENCY
    summary = "the external payment gateway is down; payments fail with 502"
    alerts = {"ShopServiceHighErrorRate": "payment"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["payment"]

    def components(self, world: World) -> list[str]:
        return [f"external/API/{PRIMARY}"]

    def inject(self, world: World) -> None:
        world.external_down.add(PRIMARY)

    def mitigated(self, world: World) -> bool:
        pods = live_pods(world, "payment")
        return bool(pods) and settled(world, "payment") and all(
            external_host(p) not in world.external_down for p in pods)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[PatchEnv(namespace="shop", name="payment", set={"PAYGATE_URL": SECONDARY})]]

    def harmful(self, world: World) -> list[Action]:
        return shed_frontend()

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"502 Bad Gateway"],
            metrics=[error_share("payment", 0.5)],
            no_events_because="the failure is outside the cluster; Kubernetes sees healthy pods",
        )
