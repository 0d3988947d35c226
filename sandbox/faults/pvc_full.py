"""PostgreSQL's volume fills up (WAL archiving is stuck): writes fail with "No space left on
device" while reads keep working. Expanding the claim cures it."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, DeletePod, ExpandPVC
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.objects import GiB
from opsagent.sandbox.world import World

CLAIM = "data-postgres-0"


@register
class PVCFull(Fault):
    id = "pvc_full"
    category = "resource"
    level = Level.VIRTUALIZATION
    fault_type = FaultType.NETWORK_STORAGE
    summary = "the database volume is full; writes fail"
    alerts = {"KubePersistentVolumeFillingUp": "data-postgres-0"}
    onset_range = (1300, 1600)

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["postgres"]

    def components(self, world: World) -> list[str]:
        return [f"shop/PersistentVolumeClaim/{CLAIM}", "shop/StatefulSet/postgres"]

    def inject(self, world: World) -> None:
        pvc = world.pvc("shop", CLAIM)
        pvc.used = 0.8 * pvc.capacity
        pvc.fill_rate = 0.2 * pvc.capacity / 600 * self.severity

    def tick(self, world: World) -> None:
        pvc = world.pvcs[("shop", CLAIM)]
        pvc.used = min(float(pvc.capacity), pvc.used + pvc.fill_rate * world.dt)

    def mitigated(self, world: World) -> bool:
        pvc = world.pvcs[("shop", CLAIM)]
        return pvc.used < 0.9 * pvc.capacity

    def mitigations(self, world: World) -> list[list[Action]]:
        size = world.pvcs[("shop", CLAIM)].capacity * 2 // GiB
        return [[ExpandPVC(namespace="shop", name=CLAIM, size=f"{size}Gi")]]

    def harmful(self, world: World) -> list[Action]:
        return [DeletePod(namespace="shop", name="postgres-0")]

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"No space left on device"],
            metrics=[MetricCheck(name="kubelet_volume_stats_available_bytes",
                                 labels={"persistentvolumeclaim": CLAIM}, op="<", value=1)],
            no_events_because="a full volume raises no Kubernetes event; only metrics and logs",
        )
