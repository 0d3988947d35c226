"""The database password was rotated in the secret store, but the ExternalSecret stopped
syncing: pods keep presenting the old password and are refused; new pods cannot start."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, RefreshSecret, RolloutRestart
from opsagent.sandbox.faults.base import Fault, FaultType, Level, Symptoms, register
from opsagent.sandbox.faults.common import DB_CLIENTS, error_share, live_pods, settled
from opsagent.sandbox.startup import db_credentials_ok
from opsagent.sandbox.world import World

SECRET = "postgres-credentials"


@register
class DBCredentialsRevoked(Fault):
    id = "db_credentials_revoked"
    category = "dependency"
    level = Level.APPLICATION
    fault_type = FaultType.AUTHENTICATION
    summary = "the database password was rotated but the app Secret was not refreshed"
    alerts = {"KubePodCrashLooping": "catalog", "ShopServiceHighErrorRate": "auth"}
    onset_range = (300, 600)

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return [SECRET]

    def components(self, world: World) -> list[str]:
        return [f"shop/ExternalSecret/{SECRET}"]

    def inject(self, world: World) -> None:
        secret = world.secret("shop", SECRET)
        secret.source_version += 1
        secret.source_changed_at = world.now
        world.emit("ExternalSecret", "shop", SECRET, "UpdateFailed",
                   "error processing spec.data[0] (key: shop/postgres), err: "
                   "AccessDeniedException: not authorized to read secret", "Warning",
                   "external-secrets")

    def mitigated(self, world: World) -> bool:
        secret = world.secrets[("shop", SECRET)]
        if secret.version != secret.source_version:
            return False
        return all(settled(world, s) and all(db_credentials_ok(world, p) for p in live_pods(world, s))
                   for s in DB_CLIENTS)

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[RefreshSecret(namespace="shop", name=SECRET),
                 *(RolloutRestart(namespace="shop", name=s) for s in DB_CLIENTS)]]

    def harmful(self, world: World) -> list[Action]:
        return [RolloutRestart(namespace="shop", name="postgres", kind="StatefulSet")]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["UpdateFailed"],
            logs=[r"password authentication failed"],
            metrics=[error_share("auth", 0.1)],
        )
