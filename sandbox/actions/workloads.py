"""Actions on workloads: what `kubectl delete pod / rollout / scale / set` do."""

from __future__ import annotations

import copy
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from opsagent.sandbox import controllers, quantity
from opsagent.sandbox.actions.base import Action, ActionResult, Name
from opsagent.sandbox.errors import InvalidError
from opsagent.sandbox.logtext import iso
from opsagent.sandbox.objects import ContainerSpec, PodTemplate, Workload
from opsagent.sandbox.world import World


def _container(wl: Workload, name: str | None, template: PodTemplate | None = None) -> ContainerSpec:
    tpl = template or wl.template
    if name is None:
        return tpl.containers[0]
    for c in tpl.containers:
        if c.name == name:
            return c
    raise InvalidError(wl.kind, wl.name, "spec.template.spec.containers",
                       f'container "{name}" not found; containers: '
                       + ", ".join(c.name for c in tpl.containers))


class DeletePod(Action):
    action: Literal["delete_pod"] = "delete_pod"
    namespace: Name
    name: Name
    force: bool = False
    target_kind: ClassVar[str] = "Pod"

    def apply(self, world: World) -> ActionResult:
        pod = world.pod(self.namespace, self.name)
        controllers.delete_pod(world, pod)
        if self.force:  # grace period 0: gone from the API at once, whatever the node says
            del world.pods[(self.namespace, self.name)]
        return self._result([f"pod {self.namespace}/{self.name} deleted; its controller "
                             "replaces it"])


class RolloutRestart(Action):
    action: Literal["rollout_restart"] = "rollout_restart"
    namespace: Name
    name: Name
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"

    def apply(self, world: World) -> ActionResult:
        wl = world.workload(self.namespace, self.name, self.kind)
        stamp = iso(world.now)
        world.update_template(
            wl, lambda t: t.annotations.__setitem__("kubectl.kubernetes.io/restartedAt", stamp),
            f"kubectl rollout restart {self.kind.lower()}/{self.name}",
        )
        return self._result([f"{self.kind.lower()} {self.namespace}/{self.name} restarted "
                             f"(restartedAt={stamp})"])


class Scale(Action):
    action: Literal["scale"] = "scale"
    namespace: Name
    name: Name
    replicas: int = Field(ge=0, le=50)
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"

    def apply(self, world: World) -> ActionResult:
        wl = world.workload(self.namespace, self.name, self.kind)
        before = wl.replicas
        wl.replicas = self.replicas
        wl.generation += 1
        note = ""
        if (self.namespace, self.name) in world.hpas:
            note = "; a HorizontalPodAutoscaler manages this workload and will resize it"
        undo = Scale(namespace=self.namespace, name=self.name, replicas=before, kind=self.kind)
        return self._result([f"replicas {before} -> {self.replicas}{note}"], [undo])


class RolloutUndo(Action):
    action: Literal["rollout_undo"] = "rollout_undo"
    namespace: Name
    name: Name
    to_revision: int | None = Field(default=None, ge=1)

    def apply(self, world: World) -> ActionResult:
        wl = world.workload(self.namespace, self.name, "Deployment")
        history = sorted(
            (rs for rs in world.replicasets.values()
             if rs.namespace == wl.namespace and rs.owner == wl.name),
            key=lambda rs: rs.revision,
        )
        if self.to_revision is None:
            older = [rs for rs in history if rs.revision < wl.revision]
            if not older:
                raise InvalidError("Deployment", wl.name, "rollback", "no rollout history found")
            target = older[-1]
        else:
            target = next((rs for rs in history if rs.revision == self.to_revision), None)
            if target is None:
                raise InvalidError("Deployment", wl.name, "rollback",
                                   f"unable to find specified revision {self.to_revision} in history")
        before, target_revision = wl.revision, target.revision
        image_before = wl.template.containers[0].image
        wl.template = copy.deepcopy(target.template)
        wl.generation += 1
        controllers.adopt_template(world, wl, f"rollback to revision {target.revision}")
        return self._result(
            [f"rolled back to revision {target_revision} (now revision {wl.revision}); image "
             f"{image_before} -> {wl.template.containers[0].image}"],
            [RolloutUndo(namespace=self.namespace, name=self.name, to_revision=before)],
        )


class SetImage(Action):
    action: Literal["set_image"] = "set_image"
    namespace: Name
    name: Name
    container: str | None = None
    image: str = Field(pattern=r"^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$")

    def apply(self, world: World) -> ActionResult:
        wl = world.workload(self.namespace, self.name, "Deployment")
        spec = _container(wl, self.container)
        before = spec.image
        world.update_template(wl, lambda t: setattr(_container(wl, spec.name, t), "image",
                                                     self.image),
                              f"kubectl set image deployment/{self.name} {spec.name}={self.image}")
        undo = SetImage(namespace=self.namespace, name=self.name, container=spec.name, image=before)
        return self._result([f"image {before} -> {self.image}"], [undo])


Quantities = dict[Literal["cpu", "memory"], str]


class PatchResources(Action):
    action: Literal["patch_resources"] = "patch_resources"
    namespace: Name
    name: Name
    container: str | None = None
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    requests: Quantities = Field(default_factory=dict)
    limits: Quantities = Field(default_factory=dict)

    def apply(self, world: World) -> ActionResult:
        wl = world.workload(self.namespace, self.name, self.kind)
        spec = _container(wl, self.container)
        new_req, new_lim = copy.copy(spec.requests), copy.copy(spec.limits)
        for field, values, res in (("requests", self.requests, new_req),
                                   ("limits", self.limits, new_lim)):
            for key, raw in values.items():
                try:
                    value = quantity.parse(raw)
                except ValueError as exc:
                    raise InvalidError(self.kind, wl.name, f"spec.template.spec.containers"
                                       f"[{spec.name}].resources.{field}.{key}", str(exc)) from None
                setattr(res, key, value if key == "cpu" else int(value))
        for key in ("cpu", "memory"):
            if getattr(new_lim, key) and getattr(new_req, key) > getattr(new_lim, key):
                raise InvalidError(self.kind, wl.name, f"spec.template.spec.containers[{spec.name}]"
                                   f".resources.requests.{key}",
                                   f"must be less than or equal to {key} limit")
        before = (copy.copy(spec.requests), copy.copy(spec.limits))

        def mutate(t: PodTemplate) -> None:
            c = _container(wl, spec.name, t)
            c.requests, c.limits = new_req, new_lim

        world.update_template(wl, mutate, f"kubectl set resources {self.kind.lower()}/{self.name}")
        undo = PatchResources(
            namespace=self.namespace, name=self.name, container=spec.name, kind=self.kind,
            requests={"cpu": quantity.cpu(before[0].cpu), "memory": quantity.memory(before[0].memory)},
            limits={"cpu": quantity.cpu(before[1].cpu), "memory": quantity.memory(before[1].memory)},
        )
        return self._result([
            f"requests cpu={quantity.cpu(new_req.cpu)} memory={quantity.memory(new_req.memory)}; "
            f"limits cpu={quantity.cpu(new_lim.cpu)} memory={quantity.memory(new_lim.memory)}"
        ], [undo])


class PatchEnv(Action):
    action: Literal["patch_env"] = "patch_env"
    namespace: Name
    name: Name
    container: str | None = None
    set: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(
        default_factory=dict)
    unset: list[str] = Field(default_factory=list)

    def apply(self, world: World) -> ActionResult:
        if not self.set and not self.unset:
            raise InvalidError("Deployment", self.name, "env", "nothing to set or unset")
        wl = world.workload(self.namespace, self.name, "Deployment")
        spec = _container(wl, self.container)
        before = dict(spec.env)

        def mutate(t: PodTemplate) -> None:
            env = _container(wl, spec.name, t).env
            env.update(self.set)
            for key in self.unset:
                env.pop(key, None)

        world.update_template(wl, mutate, f"kubectl set env deployment/{self.name}")
        restore = {k: before[k] for k in [*self.set, *self.unset] if k in before}
        dropped = [k for k in self.set if k not in before]
        undo = PatchEnv(namespace=self.namespace, name=self.name, container=spec.name,
                        set=restore, unset=dropped)
        return self._result([f"env {k}={v}" for k, v in self.set.items()]
                            + [f"env {k} removed" for k in self.unset], [undo])
