"""Actions on nodes, services, config, autoscalers, volumes, secrets and certificates."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from opsagent.sandbox import controllers, quantity
from opsagent.sandbox.actions.base import Action, ActionResult, Name
from opsagent.sandbox.errors import InvalidError
from opsagent.sandbox.objects import GiB
from opsagent.sandbox.world import World


class Cordon(Action):
    action: Literal["cordon"] = "cordon"
    node: Name
    target_kind: ClassVar[str] = "Node"

    def apply(self, world: World) -> ActionResult:
        world.node(self.node).unschedulable = True
        return self._result([f"node {self.node} cordoned"], [Uncordon(node=self.node)])


class Uncordon(Action):
    action: Literal["uncordon"] = "uncordon"
    node: Name
    target_kind: ClassVar[str] = "Node"

    def apply(self, world: World) -> ActionResult:
        world.node(self.node).unschedulable = False
        return self._result([f"node {self.node} uncordoned"], [Cordon(node=self.node)])


class Drain(Action):
    """Cordon, then evict every pod on the node; their controllers place them elsewhere."""

    action: Literal["drain"] = "drain"
    node: Name
    target_kind: ClassVar[str] = "Node"

    def apply(self, world: World) -> ActionResult:
        node = world.node(self.node)
        node.unschedulable = True
        evicted = []
        for pod in list(world.pods.values()):
            if pod.node == node.name and pod.deleting_at is None:
                controllers.delete_pod(world, pod, reason="Killing")
                world.emit("Pod", pod.namespace, pod.name, "Evicted", "Evicted by drain",
                           source="kubectl")
                evicted.append(f"{pod.namespace}/{pod.name}")
        return self._result([f"node {self.node} cordoned", f"evicted {len(evicted)} pods: "
                             + ", ".join(evicted)], [Uncordon(node=self.node)])


class PruneNodeDisk(Action):
    """Remove unused images and rotate/vacuum logs on a node (crictl rmi --prune)."""

    action: Literal["prune_node_disk"] = "prune_node_disk"
    node: Name
    target_kind: ClassVar[str] = "Node"

    def apply(self, world: World) -> ActionResult:
        node = world.node(self.node)
        freed = min(node.reclaimable, node.disk_used)
        node.disk_used -= freed
        node.reclaimable = 0.3 * GiB
        node.extra_disk_rate = 0.0
        return self._result([f"freed {freed / GiB:.1f} GiB on {self.node}"])


class PatchService(Action):
    action: Literal["patch_service"] = "patch_service"
    namespace: Name
    name: Name
    target_port: int = Field(ge=1, le=65535)
    target_kind: ClassVar[str] = "Service"

    def apply(self, world: World) -> ActionResult:
        svc = world.service(self.namespace, self.name)
        before, svc.target_port = svc.target_port, self.target_port
        undo = PatchService(namespace=self.namespace, name=self.name, target_port=before)
        return self._result([f"targetPort {before} -> {self.target_port}"], [undo])


class PatchConfigMap(Action):
    action: Literal["patch_configmap"] = "patch_configmap"
    namespace: Name
    name: Name
    data: dict[str, str] = Field(min_length=1)
    target_kind: ClassVar[str] = "ConfigMap"

    def apply(self, world: World) -> ActionResult:
        cm = world.configmap(self.namespace, self.name)
        before = {k: cm.data[k] for k in self.data if k in cm.data}
        cm.data.update(self.data)
        cm.version += 1
        undo = PatchConfigMap(namespace=self.namespace, name=self.name, data=before) if before else None
        return self._result([f"data.{k} updated" for k in self.data], [undo] if undo else [])


class PatchHPA(Action):
    action: Literal["patch_hpa"] = "patch_hpa"
    namespace: Name
    name: Name
    min_replicas: int | None = Field(default=None, ge=1, le=100)
    max_replicas: int | None = Field(default=None, ge=1, le=100)
    target_kind: ClassVar[str] = "HorizontalPodAutoscaler"

    def apply(self, world: World) -> ActionResult:
        hpa = world.hpa(self.namespace, self.name)
        lo = self.min_replicas if self.min_replicas is not None else hpa.min_replicas
        hi = self.max_replicas if self.max_replicas is not None else hpa.max_replicas
        if lo > hi:
            raise InvalidError("HorizontalPodAutoscaler", self.name, "spec.maxReplicas",
                               f"Invalid value: {hi}: must be greater than or equal to minReplicas")
        undo = PatchHPA(namespace=self.namespace, name=self.name,
                        min_replicas=hpa.min_replicas, max_replicas=hpa.max_replicas)
        hpa.min_replicas, hpa.max_replicas = lo, hi
        return self._result([f"minReplicas={lo} maxReplicas={hi}"], [undo])


class ExpandPVC(Action):
    action: Literal["expand_pvc"] = "expand_pvc"
    namespace: Name
    name: Name
    size: str
    target_kind: ClassVar[str] = "PersistentVolumeClaim"

    def apply(self, world: World) -> ActionResult:
        pvc = world.pvc(self.namespace, self.name)
        field = "spec.resources.requests.storage"
        try:
            size = int(quantity.parse(self.size))
        except ValueError as exc:
            raise InvalidError("PersistentVolumeClaim", self.name, field, str(exc)) from None
        if size <= pvc.capacity:
            raise InvalidError("PersistentVolumeClaim", self.name, field,
                               "Forbidden: field can not be less than previous value")
        before, pvc.capacity = pvc.capacity, size
        return self._result([f"capacity {quantity.memory(before)} -> {quantity.memory(size)}"])


class RenewCertificate(Action):
    """Ask cert-manager to re-issue the certificate stored in a TLS Secret (cmctl renew)."""

    action: Literal["renew_certificate"] = "renew_certificate"
    namespace: Name
    name: Name
    target_kind: ClassVar[str] = "Certificate"

    def apply(self, world: World) -> ActionResult:
        secret = world.secret(self.namespace, self.name)
        if secret.type != "kubernetes.io/tls":
            raise InvalidError("Certificate", self.name, "secretName",
                               f"secret {self.name} is not a TLS secret (type {secret.type})")
        secret.version += 1
        secret.source_version = secret.version
        secret.not_after = world.now + 90 * 86400
        return self._result([f"certificate re-issued into secret {self.name}; pods that loaded "
                             "the old one keep it until they restart"])


class RefreshSecret(Action):
    """Force an ExternalSecret to sync its Secret from the secret store now."""

    action: Literal["refresh_secret"] = "refresh_secret"
    namespace: Name
    name: Name
    target_kind: ClassVar[str] = "ExternalSecret"

    def apply(self, world: World) -> ActionResult:
        secret = world.secret(self.namespace, self.name)
        if secret.version == secret.source_version:
            return self._result([f"secret {self.name} already in sync"])
        secret.version = secret.source_version
        return self._result([f"secret {self.name} synced to store version {secret.version}; "
                             "pods read it at start"])
