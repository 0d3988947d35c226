"""The control plane's loops, simplified but faithful in what an operator observes:
HPA, Deployment rollouts over ReplicaSets, StatefulSets, the scheduler, node lifecycle and
kubelet evictions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from opsagent.sandbox.objects import (
    ContainerStatus,
    Node,
    Pod,
    PodTemplate,
    ReplicaSet,
    Workload,
    admitted_tolerations,
)
from opsagent.sandbox.scheduler import active, schedule

if TYPE_CHECKING:
    from opsagent.sandbox.world import World

GRACE_S = 30.0
NODE_MONITOR_GRACE_S = 40.0
DISK_PRESSURE_RATIO = 0.90  # kubelet's default eviction: nodefs.available < 10%
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def adopt_template(world: World, wl: Workload, cause: str) -> ReplicaSet:
    """Point a Deployment at the ReplicaSet for its current template, creating it if new."""
    h = wl.pod_hash
    owned = [rs for rs in world.replicasets.values() if rs.namespace == wl.namespace and rs.owner == wl.name]
    wl.revision = max((rs.revision for rs in owned), default=0) + 1
    for rs in owned:
        if rs.name.endswith(h):
            rs.revision, rs.template, rs.change_cause = wl.revision, wl.template, cause
            return rs
    rs = ReplicaSet(
        namespace=wl.namespace, name=f"{wl.name}-{h}", owner=wl.name, revision=wl.revision,
        template=wl.template, replicas=0, created_at=world.now, change_cause=cause,
    )
    world.replicasets[(rs.namespace, rs.name)] = rs
    world.emit("Deployment", wl.namespace, wl.name, "ScalingReplicaSet",
               f"Scaled up replica set {rs.name} from 0 to 1", source="deployment-controller")
    return rs


def new_pod(
    world: World, wl: Workload, owner_kind: str, owner_name: str, name: str, tpl: PodTemplate,
    pod_hash: str,
) -> Pod:
    pod = Pod(
        namespace=wl.namespace, name=name, uid=world.new_uid(), owner_kind=owner_kind,
        owner_name=owner_name, workload=wl.name, service=tpl.labels["app.kubernetes.io/name"],
        template=tpl, pod_hash=pod_hash, created_at=world.now,
        containers=[ContainerStatus(name=c.name, image=c.image) for c in tpl.containers],
    )
    world.pods[(pod.namespace, pod.name)] = pod
    return pod


def delete_pod(world: World, pod: Pod, reason: str = "Killing") -> None:
    if pod.deleting_at is not None:
        return
    pod.deleting_at = world.now
    for c in pod.containers:
        c.ready = False
        if c.state == "running":
            world.emit("Pod", pod.namespace, pod.name, reason, f"Stopping container {c.name}")


def _hpa(world: World) -> None:
    for hpa in world.hpas.values():
        wl = world.workloads[(hpa.namespace, hpa.target)]
        if wl.replicas == 0:
            continue  # scaled to zero by hand: autoscaling is disabled until scaled up
        pods = [p for p in world.pods_of(wl) if p.ready]
        req = wl.template.containers[0].requests.cpu
        if pods and req > 0:
            util = sum(p.containers[0].cpu_demand for p in pods) / (len(pods) * req)
            hpa.current_cpu_utilization = round(100 * util)
            want = math.ceil(len(pods) * util * 100 / hpa.target_cpu_utilization)
            if util * 100 < 0.9 * hpa.target_cpu_utilization:
                want = max(want, wl.replicas - 1)  # scale down gently
            elif util * 100 <= 1.1 * hpa.target_cpu_utilization:
                want = wl.replicas  # within tolerance
            hpa.desired_replicas = min(hpa.max_replicas, max(hpa.min_replicas, want))
        else:
            hpa.desired_replicas = max(hpa.min_replicas, wl.replicas)
        if hpa.desired_replicas != wl.replicas:
            world.emit("HorizontalPodAutoscaler", hpa.namespace, hpa.name, "SuccessfulRescale",
                       f"New size: {hpa.desired_replicas}; reason: cpu resource utilization "
                       "(percentage of request) above target" if hpa.desired_replicas > wl.replicas
                       else f"New size: {hpa.desired_replicas}; reason: All metrics below target",
                       source="horizontal-pod-autoscaler")
            wl.replicas = hpa.desired_replicas
        hpa.current_replicas = wl.replicas


def _steady(wl: Workload, pods: list[Pod], owned: list[ReplicaSet]) -> bool:
    """Nothing to roll: one ReplicaSet at the desired size, every pod of it ready. Most
    Deployments are like this most of the time, so the full rollout logic can be skipped."""
    if len(pods) != wl.replicas or wl.observed_generation != wl.generation:
        return False
    h = wl.pod_hash
    for rs in owned:
        if rs.replicas != (wl.replicas if rs.name.endswith(h) else 0):
            return False
    return all(p.ready for p in pods)


def _rollout(world: World, wl: Workload, pods: list[Pod], owned: list[ReplicaSet]) -> None:
    if _steady(wl, pods, owned):
        wl.ready_replicas = wl.available_replicas = wl.updated_replicas = wl.status_replicas = len(pods)
        wl.progressed_at = world.now
        if wl.completed_at is None:
            wl.completed_at = world.now
        for rs in owned:
            rs.ready_replicas = rs.replicas
        return
    wl.completed_at = None
    h = wl.pod_hash
    owned.sort(key=lambda rs: rs.revision)
    new = next(rs for rs in owned if rs.name.endswith(h))
    old = [rs for rs in owned if rs is not new]
    desired = wl.replicas
    surge = math.ceil(wl.max_surge * desired)
    unavailable = math.floor(wl.max_unavailable * desired)
    if surge == 0 and unavailable == 0:
        surge = 1
    total = sum(rs.replicas for rs in owned)
    rs_before = new.replicas
    if new.replicas > desired:
        _scale_rs(world, new, desired)
    elif new.replicas < desired:
        room = desired + surge - total if old else desired - new.replicas
        if room > 0:
            _scale_rs(world, new, new.replicas + min(room, desired - new.replicas))
    pods = [p for p in pods if active(p)]
    available = sum(1 for p in pods if p.ready)
    budget = available - (desired - unavailable)
    budget += sum(1 for p in pods if not p.ready and p.owner_name != new.name)
    for rs in old:
        if rs.replicas == 0 or budget <= 0:
            continue
        cut = min(rs.replicas, budget)
        budget -= cut
        _scale_rs(world, rs, rs.replicas - cut)
    ready = [p for p in pods if p.ready]
    updated_ready = sum(1 for p in ready if p.owner_name == new.name)
    if updated_ready != new.ready_replicas or new.replicas != rs_before:
        wl.progressed_at = world.now
    wl.ready_replicas = wl.available_replicas = len(ready)
    wl.updated_replicas = sum(1 for p in pods if p.owner_name == new.name)
    wl.status_replicas = len(pods)
    for rs in owned:
        rs.ready_replicas = sum(1 for p in ready if p.owner_name == rs.name)
    if wl.updated_replicas == desired and wl.status_replicas == desired:
        wl.observed_generation = wl.generation
        wl.progressed_at = world.now


def _scale_rs(world: World, rs: ReplicaSet, replicas: int) -> None:
    if replicas == rs.replicas:
        return
    verb = "up" if replicas > rs.replicas else "down"
    world.emit("Deployment", rs.namespace, rs.owner, "ScalingReplicaSet",
               f"Scaled {verb} replica set {rs.name} from {rs.replicas} to {replicas}",
               source="deployment-controller")
    rs.replicas = replicas


def selector(world: World, rs: ReplicaSet) -> dict[str, str]:
    return {**world.workloads[(rs.namespace, rs.owner)].labels,
            "pod-template-hash": rs.name.rsplit("-", 1)[1]}


def _matches(sel: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in sel.items())


def _ownership(world: World) -> None:
    """A ReplicaSet releases a pod whose labels left its selector (the pod keeps running,
    ownerless, and the ReplicaSet starts a replacement) and adopts an ownerless pod that
    matches it again. Only relabelled pods can differ, so only they are looked at."""
    relabelled = [p for p in world.pods.values() if p.set_labels is not None and p.owner_kind != "StatefulSet"
                  and p.deleting_at is None]
    for pod in relabelled:
        owner = world.replicasets.get((pod.namespace, pod.owner_name))
        if owner is not None and not _matches(selector(world, owner), pod.labels):
            pod.owner_kind = pod.owner_name = pod.workload = ""
        elif not pod.owner_kind:
            rs = next((rs for rs in world.replicasets.values() if rs.namespace == pod.namespace
                       and _matches(selector(world, rs), pod.labels)), None)
            if rs is not None:
                pod.owner_kind, pod.owner_name, pod.workload = "ReplicaSet", rs.name, rs.owner


def _replicaset(world: World, rs: ReplicaSet, pods: list[Pod]) -> None:
    wl = world.workloads[(rs.namespace, rs.owner)]
    pods = [p for p in pods if p.owner_name == rs.name and active(p)]
    if len(pods) < rs.replicas:
        for _ in range(rs.replicas - len(pods)):
            suffix = "".join(world.rng.choice(ALPHABET) for _ in range(5))
            pod = new_pod(world, wl, "ReplicaSet", rs.name, f"{rs.name}-{suffix}", rs.template,
                          rs.name.rsplit("-", 1)[1])
            world.emit("ReplicaSet", rs.namespace, rs.name, "SuccessfulCreate",
                       f"Created pod: {pod.name}", source="replicaset-controller")
    elif len(pods) > rs.replicas:
        ranked = sorted(pods, key=lambda p: (p.node is not None, p.phase == "Running", p.ready,
                                             -p.created_at))
        for pod in ranked[: len(pods) - rs.replicas]:
            delete_pod(world, pod)
            world.emit("ReplicaSet", rs.namespace, rs.name, "SuccessfulDelete",
                       f"Deleted pod: {pod.name}", source="replicaset-controller")


def _statefulset(world: World, wl: Workload, owned: list[Pod]) -> None:
    h = wl.pod_hash
    pods = {p.name: p for p in owned}
    for ordinal in range(wl.replicas):
        name = f"{wl.name}-{ordinal}"
        pod = pods.get(name)
        if pod is not None and pod.phase == "Failed" and pod.deleting_at is None:
            delete_pod(world, pod)
        if pod is None:
            new_pod(world, wl, "StatefulSet", wl.name, name, wl.template, h)
            world.emit("StatefulSet", wl.namespace, wl.name, "SuccessfulCreate",
                       f"create Pod {name} in StatefulSet {wl.name} successful",
                       source="statefulset-controller")
    for name, pod in pods.items():
        ordinal = int(name.rsplit("-", 1)[1])
        stale = pod.pod_hash != h and all(p.ready for p in pods.values() if p is not pod)
        if ordinal >= wl.replicas or stale:
            delete_pod(world, pod)
    live = [p for p in world.pods_of(wl) if active(p)]
    wl.ready_replicas = wl.available_replicas = sum(1 for p in live if p.ready)
    wl.updated_replicas = sum(1 for p in live if p.pod_hash == h)
    wl.status_replicas = len(live)
    if wl.updated_replicas == wl.replicas:
        wl.observed_generation = wl.generation


def _node_lifecycle(world: World) -> None:
    for node in world.nodes.values():
        if node.kubelet_up:
            node.last_heartbeat = world.now
        stale = world.now - node.last_heartbeat > NODE_MONITOR_GRACE_S
        if stale and node.ready:
            node.ready, node.not_ready_since = False, world.now
            world.emit("Node", "default", node.name, "NodeNotReady",
                       f"Node {node.name} status is now: NodeNotReady", source="node-controller")
        elif not stale and not node.ready:
            node.ready, node.not_ready_since = True, None
            world.emit("Node", "default", node.name, "NodeReady",
                       f"Node {node.name} status is now: NodeReady", source="kubelet")
        if not node.ready or node.user_taints:
            for pod in world.pods.values():
                if pod.node == node.name and pod.deleting_at is None and _evict_now(world, node, pod):
                    delete_pod(world, pod, reason="TaintManagerEviction")
                    world.emit("Pod", pod.namespace, pod.name, "TaintManagerEviction",
                               f"Marking for deletion Pod {pod.namespace}/{pod.name}",
                               source="taint-eviction-controller")
        if node.disk_pressure and node.ready:
            victims = [p for p in world.pods.values()
                       if p.node == node.name and active(p) and p.owner_kind != "StatefulSet"]
            if victims:
                pod = max(victims, key=lambda p: (p.template.containers[0].requests.memory, p.name))
                pod.phase, pod.reason = "Failed", "Evicted"
                pod.message = "The node was low on resource: ephemeral-storage. Threshold quantity: 10%."
                for c in pod.containers:
                    c.state, c.reason, c.exit_code = "terminated", "ContainerStatusUnknown", 137
                    c.ready = False
                world.emit("Pod", pod.namespace, pod.name, "Evicted", pod.message, "Warning")


def _evict_now(world: World, node: Node, pod: Pod) -> bool:
    """The taint eviction controller: a NoExecute taint evicts a pod at once unless one of its
    tolerations matches, and then after the shortest tolerationSeconds among them (the
    unreachable taint: 300 s, from admission's defaults); a toleration without seconds keeps
    the pod for good."""
    tolerations = admitted_tolerations(pod.template.tolerations)
    for key, value, effect in node.taints():
        if effect != "NoExecute":
            continue
        keeping = [t for t in tolerations if t.tolerates(key, effect, value)]
        if not keeping:
            return True
        if any(t.seconds is None for t in keeping):
            continue
        added = node.not_ready_since if key == "node.kubernetes.io/unreachable" else \
            node.taint_added.get((key, effect))
        if world.now - (added or world.now) >= min(t.seconds or 0 for t in keeping):
            return True
    return False


def reconcile(world: World) -> None:
    """One pass of every controller, in the order their effects become visible."""
    _node_lifecycle(world)
    _hpa(world)
    _ownership(world)
    by_workload: dict[tuple[str, str], list[Pod]] = {key: [] for key in world.workloads}
    for pod in world.pods.values():
        if pod.workload:
            by_workload[(pod.namespace, pod.workload)].append(pod)
    by_owner: dict[tuple[str, str], list[ReplicaSet]] = {key: [] for key in world.workloads}
    for rs in world.replicasets.values():
        by_owner[(rs.namespace, rs.owner)].append(rs)
    for key, wl in world.workloads.items():
        if wl.kind == "Deployment":
            _rollout(world, wl, by_workload[key], by_owner[key])
        else:
            _statefulset(world, wl, by_workload[key])
    for rs in list(world.replicasets.values()):
        pods = by_workload[(rs.namespace, rs.owner)]
        if rs.replicas or any(p.owner_name == rs.name for p in pods):
            _replicaset(world, rs, pods)
    for key, pod in list(world.pods.items()):
        if pod.deleting_at is not None:
            # A pod on an unreachable node stays Terminating until the node returns or a
            # force delete; elsewhere it goes after its grace period.
            node = world.nodes.get(pod.node or "")
            if node is None or (node.ready and world.now - pod.deleting_at >= GRACE_S):
                del world.pods[key]
        elif pod.node is None:
            schedule(world, pod)


def node_status(world: World) -> None:
    """Aggregate usage per node and derive its conditions."""
    dt = world.dt
    usage: dict[str, list[float]] = {n: [0.0, 0.0, 0.0] for n in world.nodes}
    for pod in world.pods.values():
        if pod.node in usage and pod.phase == "Running":
            u = usage[pod.node]
            for c in pod.containers:
                u[0] += c.cpu
                u[1] += c.memory
            u[2] += pod.rps
    for node in world.nodes.values():
        cpu, mem, rps = usage[node.name]
        node.cpu_used = min(node.cpu, cpu + 0.15 + node.extra_cpu_load)
        node.memory_used = mem + 1.2 * 1024**3
        node.cpu_seconds_busy += node.cpu_used * dt
        node.cpu_seconds_idle += (node.cpu - node.cpu_used) * dt
        node.disk_used = min(float(node.disk), node.disk_used + (node.extra_disk_rate + 2e3) * dt)
        traffic = (rps * 6e3 + 2e4) * dt * (1 + 0.1 * world.rng.random())
        node.net_rx_bytes += traffic
        node.net_tx_bytes += traffic * 1.3
        if node.nic_loss:
            node.net_rx_errs += traffic / 1500 * node.nic_loss
            node.net_tx_errs += traffic / 1500 * node.nic_loss * 0.5
        pressure = node.disk_used / node.disk >= DISK_PRESSURE_RATIO
        if pressure != node.disk_pressure and node.ready:
            node.disk_pressure = pressure
            if pressure:
                world.emit("Node", "default", node.name, "NodeHasDiskPressure",
                           f"Node {node.name} status is now: NodeHasDiskPressure")
                world.emit("Node", "default", node.name, "EvictionThresholdMet",
                           "Attempting to reclaim ephemeral-storage", "Warning")
            else:
                world.emit("Node", "default", node.name, "NodeHasNoDiskPressure",
                           f"Node {node.name} status is now: NodeHasNoDiskPressure")
        node.memory_pressure = node.memory_used / node.memory > 0.95
