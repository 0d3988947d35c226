"""The client certificate the payment service presents to its payment gateway expired after
cert-manager failed to renew it; every charge fails the TLS handshake."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, RenewCertificate, RolloutRestart
from opsagent.sandbox.faults.base import Fault, FaultType, Level, Symptoms, register
from opsagent.sandbox.faults.common import error_share, live_pods, settled, shed_frontend
from opsagent.sandbox.world import World

SECRET = "paygate-client-tls"


@register
class TLSCertExpired(Fault):
    id = "tls_cert_expired"
    category = "dependency"
    level = Level.APPLICATION
    fault_type = FaultType.AUTHENTICATION
    summary = "an mTLS client certificate expired; the payment gateway rejects the handshake"
    alerts = {"ShopServiceHighErrorRate": "payment"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["payment"]

    def components(self, world: World) -> list[str]:
        return [f"shop/Certificate/{SECRET}", "shop/Deployment/payment"]

    def inject(self, world: World) -> None:
        world.secret("shop", SECRET).not_after = world.now
        world.emit("Certificate", "shop", SECRET, "Failed",
                   "The certificate request has failed to complete and will be retried: "
                   "issuer paygate-ca is not ready", "Warning", "cert-manager-certificates-issuing")

    def mitigated(self, world: World) -> bool:
        secret = world.secrets[("shop", SECRET)]
        fresh = (secret.not_after or 0) > world.now
        loaded = all(p.secret_versions.get(SECRET) == secret.version
                     for p in live_pods(world, self.target))
        return fresh and loaded and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[RenewCertificate(namespace="shop", name=SECRET),
                 RolloutRestart(namespace="shop", name="payment")]]

    def harmful(self, world: World) -> list[Action]:
        return shed_frontend()

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["Failed"],
            logs=[r"CERTIFICATE_EXPIRED"],
            metrics=[error_share("payment", 0.5)],
        )
