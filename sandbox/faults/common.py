"""Helpers the fault modules share: picking targets, rolling out an image, checking that a
workload has settled."""

from __future__ import annotations

from typing import ClassVar

from opsagent.sandbox.actions import Action, Drain, RolloutUndo, Scale, SetImage
from opsagent.sandbox.faults.base import Fault, MetricCheck
from opsagent.sandbox.objects import Pod, PodTemplate
from opsagent.sandbox.world import ImageDefect, World

SHOP_DEPLOYMENTS = ("frontend", "auth", "cart", "catalog", "checkout", "payment", "recommendation")
DB_CLIENTS = ("auth", "catalog", "checkout")


def live_pods(world: World, service: str) -> list[Pod]:
    return [p for p in world.pods.values()
            if p.service == service and p.deleting_at is None and p.phase == "Running"]


def rollout_image(world: World, service: str, tag: str, defect: ImageDefect | None,
                  register: bool = True) -> str:
    """Release a new image of `service` the way a deploy pipeline would (a new revision)."""
    p = world.profiles[service]
    image = f"{p.image}:{tag}"
    if register:
        world.images[image] = defect
    wl = world.workload(p.namespace, service)
    world.update_template(wl, lambda t: setattr(t.containers[0], "image", image),
                          f"deploy {service} {tag} (pipeline #{4100 + world.rng.randrange(800)})")
    return image


def settled(world: World, service: str) -> bool:
    """Every desired replica is up to date, running and ready."""
    p = world.profiles[service]
    wl = world.workloads[(p.namespace, service)]
    pods = live_pods(world, service)
    return (
        wl.available_replicas >= wl.replicas > 0
        and all(pod.pod_hash == wl.pod_hash for pod in pods)
        and all(pod.ready for pod in pods)
    )


def runs_image(world: World, service: str, image: str) -> bool:
    return any(p.template.containers[0].image == image for p in live_pods(world, service))


def revert(world: World, service: str) -> list[list]:
    """The usual cures for a bad release: undo the rollout, or pin the last good image."""
    p = world.profiles[service]
    good = f"{p.image}:{p.versions[1]}"
    return [[RolloutUndo(namespace=p.namespace, name=service)],
            [SetImage(namespace=p.namespace, name=service, image=good)]]


def next_tag(world: World, service: str, bump: str = "minor") -> str:
    major, minor, patch = (int(x) for x in world.profiles[service].versions[1].split(".")[:3])
    return f"{major}.{minor + 1}.0" if bump == "minor" else f"{major}.{minor}.{patch + 1}"


def stateless_nodes(world: World) -> list[str]:
    """Nodes that host no StatefulSet pod or Redis, so losing one is survivable."""
    busy = {p.node for p in world.pods.values() if p.service in ("postgres", "redis")}
    return [n for n in world.nodes if n not in busy]


def shed_frontend() -> list[Action]:
    """Taking the frontend down "to stop the errors" turns a partial outage into a total one."""
    return [Scale(namespace="shop", name="frontend", replicas=0)]


def busiest_node(world: World) -> str:
    return max(world.nodes, key=lambda n: (sum(1 for p in world.pods.values() if p.node == n), n))


def error_share(service: str, above: float) -> MetricCheck:
    """The share of a service's requests answered 5xx over the last five minutes."""
    return MetricCheck(name="http_requests_total", labels={"service": service, "code": "503"},
                       over="increase", per="http_requests_total", op=">", value=above)


class NodeFault(Fault):
    """A fault of one node. Targets only nodes without stateful pods, so that moving the
    workloads away is always a cure."""

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return stateless_nodes(world)

    def components(self, world: World) -> list[str]:
        return [f"Node/{self.target}"]

    def harmful(self, world: World) -> list[Action]:
        """Draining a healthy node as well leaves even less capacity."""
        return [Drain(node=next(n for n in world.nodes if n != self.target))]


class DefectiveRelease(Fault):
    """A new release of a service whose image carries a defect; rolling back cures it."""

    bump: ClassVar[str] = "minor"

    def defect(self, world: World) -> ImageDefect:
        raise NotImplementedError(type(self).__name__)

    def inject(self, world: World) -> None:
        tag = next_tag(world, self.target, self.bump)
        self.state["image"] = rollout_image(world, self.target, tag, self.defect(world))

    def mitigated(self, world: World) -> bool:
        return not runs_image(world, self.target, str(self.state["image"])) and settled(
            world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        return revert(world, self.target)


class BadTemplateChange(Fault):
    """An edit to a Deployment's pod template that breaks its new pods; the rollout stalls and
    undoing it (or fixing the field) cures it."""

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return list(SHOP_DEPLOYMENTS)

    def mutate(self, template: PodTemplate) -> None:
        raise NotImplementedError(type(self).__name__)

    def fixed(self, world: World, template: PodTemplate) -> bool:
        raise NotImplementedError(type(self).__name__)

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        world.update_template(world.workload(p.namespace, p.name), self.mutate,
                              f"kubectl apply -f {p.name}.yaml")

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        template = world.workloads[(p.namespace, p.name)].template
        return self.fixed(world, template) and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[RolloutUndo(namespace=p.namespace, name=p.name)]]
