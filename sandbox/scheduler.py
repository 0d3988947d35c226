"""The scheduler's filters, in the order and the words kube-scheduler reports them: node
readiness and taints against the pod's tolerations, cordons, node selectors, volume affinity,
and the sum of the pods' requests (every container) against the node's allocatable CPU, memory
and pod count; then the least loaded node among those that fit, spreading a workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsagent.sandbox.objects import Node, Pod, Resources

if TYPE_CHECKING:
    from opsagent.sandbox.world import World


def requests(pod: Pod) -> Resources:
    return Resources(sum(c.requests.cpu for c in pod.template.containers),
                     sum(c.requests.memory for c in pod.template.containers))


def untolerated(pod: Pod, node: Node, effects: tuple[str, ...]) -> list[str]:
    """Keys of the node's taints with these effects that none of the pod's tolerations
    matches."""
    return [key for key, value, effect in node.taints() if effect in effects
            and not any(t.tolerates(key, effect, value) for t in pod.template.tolerations)]


def active(pod: Pod) -> bool:
    """Not going away: neither terminating nor finished."""
    return pod.deleting_at is None and pod.phase not in ("Failed", "Succeeded")


def _unfit(world: World, pod: Pod, node: Node, need: Resources, on_node: list[Pod]) -> str | None:
    taints = untolerated(pod, node, ("NoSchedule", "NoExecute"))
    if node.unschedulable and "node.kubernetes.io/unschedulable" in taints:
        return "node(s) were unschedulable"
    if taints:
        return f"node(s) had untolerated taint {{{taints[0]}: }}"
    if any(node.labels.get(k) != v for k, v in pod.template.node_selector.items()):
        return "node(s) didn't match Pod's node affinity/selector"
    pvc = world.pvcs.get((pod.namespace, f"{pod.template.pvc}-{pod.name}")) if pod.template.pvc else None
    if pvc is not None and pvc.node not in (None, node.name):
        return "node(s) had volume node affinity conflict"
    if len(on_node) + 1 > node.MAX_PODS:
        return "Too many pods"
    used = [requests(p) for p in on_node]
    free = node.allocatable
    if sum(r.cpu for r in used) + need.cpu > free.cpu:
        return "Insufficient cpu"
    if sum(r.memory for r in used) + need.memory > free.memory:
        return "Insufficient memory"
    return None


def schedule(world: World, pod: Pod) -> None:
    nodes = list(world.nodes.values())
    need = requests(pod)
    reasons: dict[str, int] = {}
    fits = []
    for node in nodes:
        on_node = [p for p in world.pods.values() if p.node == node.name and active(p)]
        why = _unfit(world, pod, node, need, on_node)
        if why is None:
            same = sum(1 for p in on_node if p.workload == pod.workload)
            fits.append((same, sum(requests(p).cpu for p in on_node), node.name))
        else:
            reasons[why] = reasons.get(why, 0) + 1
    if not fits:
        if pod.unschedulable_since is None:
            pod.unschedulable_since = world.now
        detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        world.emit("Pod", pod.namespace, pod.name, "FailedScheduling",
                   f"0/{len(nodes)} nodes are available: {detail}. preemption: 0/{len(nodes)} "
                   "nodes are available: "
                   f"{len(nodes)} Preemption is not helpful for scheduling.",
                   "Warning", "default-scheduler")
        return
    _, _, chosen = min(fits)
    node = world.nodes[chosen]
    pod.node, pod.scheduled_at, pod.unschedulable_since = chosen, world.now, None
    pod.ip = world.new_ip(list(world.nodes).index(chosen) + 1)
    pvc = world.pvcs.get((pod.namespace, f"{pod.template.pvc}-{pod.name}")) if pod.template.pvc else None
    if pvc is not None and pvc.node is None:
        pvc.node = chosen
    world.emit("Pod", pod.namespace, pod.name, "Scheduled",
               f"Successfully assigned {pod.namespace}/{pod.name} to {node.name}",
               source="default-scheduler")
