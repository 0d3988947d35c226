"""Each pod template field the scheduler and kubelet models honour, against what a real cluster
does with it: requests against allocatable (every container), limits, the three probe kinds,
the image pull policy, node selectors, tolerations against taints (NoSchedule and NoExecute)."""

from __future__ import annotations

from dataclasses import replace

from opsagent.sandbox import quantity
from opsagent.sandbox.kube.render import node_json
from opsagent.sandbox.objects import GiB, MiB, Probe, Resources, Toleration
from tests.conftest import build


def _world():  # type: ignore[no-untyped-def]
    return build("benign_log_noise", seed=3).world


def _change(world, name: str, change) -> str:  # type: ignore[no-untyped-def]
    """Patch a workload's template as kubectl would; the new template's hash."""
    wl = world.workloads[("shop", name)]
    world.update_template(wl, change, "kubectl patch")
    return wl.pod_hash


def _new(world, name: str, h: str):  # type: ignore[no-untyped-def]
    return [p for p in world.pods.values() if p.workload == name and p.pod_hash == h
            and p.deleting_at is None]


def _said(world, name: str, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.message for e in world.events if e.name.startswith(f"{name}-") and text in e.message]


def _requests(cpu: float, memory: int):  # type: ignore[no-untyped-def]
    def change(t) -> None:  # type: ignore[no-untyped-def]
        c = t.containers[0]
        c.requests, c.limits = Resources(cpu, memory), Resources(max(cpu, c.limits.cpu),
                                                                 max(memory, c.limits.memory))
    return change


def test_the_scheduler_fits_requests_into_allocatable_not_capacity():
    world = _world()
    node = next(iter(world.nodes.values()))
    shown = node_json(world, node)["status"]["allocatable"]
    assert quantity.parse(shown["cpu"]) == node.allocatable.cpu < node.cpu  # what describe shows
    assert quantity.parse(shown["memory"]) == node.allocatable.memory < node.memory
    h = _change(world, "cart", _requests(0.1, node.memory - 512 * MiB))  # < capacity, > allocatable
    world.advance(60)
    pending = _new(world, "cart", h)
    assert pending and all(p.node is None for p in pending)
    assert _said(world, "cart", "0/3 nodes are available: 3 Insufficient memory.")
    h = _change(world, "auth", _requests(node.cpu - 0.05, 64 * MiB))
    world.advance(60)
    assert all(p.node is None for p in _new(world, "auth", h))
    assert _said(world, "auth", "3 Insufficient cpu")


def test_every_container_s_requests_count():
    world = _world()
    half = world.nodes[next(iter(world.nodes))].allocatable.memory // 2 + 256 * MiB

    def sidecar(t) -> None:  # type: ignore[no-untyped-def]
        _requests(0.05, half)(t)
        t.containers.append(replace(t.containers[0], name="sidecar", port=9000))
    h = _change(world, "cart", sidecar)
    world.advance(60)
    assert all(p.node is None for p in _new(world, "cart", h))  # each fits alone, not both
    assert _said(world, "cart", "Insufficient memory")


def test_limits_throttle_cpu_and_kill_on_memory():
    world = _world()

    def tight(t) -> None:  # type: ignore[no-untyped-def]
        t.containers[0].limits = Resources(0.02, 8 * MiB)
        t.containers[0].requests = Resources(0.02, 8 * MiB)
    h = _change(world, "recommendation", tight)
    world.advance(120)
    pods = _new(world, "recommendation", h)
    assert pods and all(p.containers[0].last_reason == "OOMKilled" for p in pods)
    assert all(p.containers[0].last_exit_code == 137 for p in pods)

    world = _world()
    h = _change(world, "frontend", lambda t: setattr(t.containers[0], "limits", Resources(0.01, 2 * GiB)))
    world.advance(90)
    running = [p for p in _new(world, "frontend", h) if p.containers[0].state == "running"]
    assert running and all(p.containers[0].cpu <= 0.01 + 1e-9 for p in running)
    assert all(p.containers[0].throttled_periods > 0 for p in running)


def _probes(liveness: tuple[int, int, int] | None = None,  # type: ignore[no-untyped-def]
            startup: tuple[int, int, int] | None = None):
    """Liveness and startup probes on the app's own health endpoint: (delay, period, threshold)."""
    def change(t) -> None:  # type: ignore[no-untyped-def]
        c = t.containers[0]
        path, port = c.readiness.path, c.readiness.port
        if liveness:
            c.liveness = Probe(path, port, *liveness)
        c.startup = Probe(path, port, *startup) if startup else None
    return change


def test_a_liveness_probe_shorter_than_the_start_up_kills_a_slow_starter():
    """catalog needs 25 s to listen; a liveness probe from 5 s, twice 5 s apart, kills it
    before it ever answers, over and over: the classic reason for a startup probe."""
    world = _world()
    h = _change(world, "catalog", _probes(liveness=(5, 5, 2)))
    world.advance(240)
    pods = _new(world, "catalog", h)
    assert pods and all(p.containers[0].restarts >= 2 and not p.ready for p in pods)
    assert _said(world, "catalog", "Liveness probe failed: Get \"http://")
    assert _said(world, "catalog", "connect: connection refused")


def test_a_startup_probe_holds_liveness_back_until_the_app_answers():
    world = _world()
    h = _change(world, "catalog", _probes(liveness=(5, 5, 2), startup=(0, 5, 12)))
    world.advance(240)
    pods = _new(world, "catalog", h)
    assert pods and all(p.ready and p.containers[0].restarts == 0 for p in pods)
    assert not _said(world, "catalog", "Liveness probe failed")
    assert _said(world, "catalog", "Startup probe failed")  # while it was starting


def test_a_startup_probe_that_gives_up_too_soon_restarts_the_container():
    world = _world()
    h = _change(world, "catalog", _probes(startup=(0, 5, 2)))
    world.advance(120)
    pods = _new(world, "catalog", h)
    assert pods and all(p.containers[0].restarts >= 1 and not p.ready for p in pods)
    assert _said(world, "catalog", "failed startup probe, will be restarted")


def test_image_pull_policy_against_the_node_s_cache():
    world = _world()
    wl = world.workloads[("shop", "cart")]
    old = next(i for i in world.images if i.startswith(wl.template.containers[0].image.split(":")[0])
               and i != wl.template.containers[0].image)
    assert not any(old in n.images for n in world.nodes.values())  # the release before, pruned
    h = _change(world, "cart", lambda t: (setattr(t.containers[0], "image", old),
                                         setattr(t.containers[0], "pull_policy", "Never")))
    world.advance(60)
    pods = _new(world, "cart", h)
    assert pods and all(p.containers[0].reason == "ErrImageNeverPull" for p in pods)
    assert _said(world, "cart", f'Container image "{old}" is not present with pull policy of Never')

    world = _world()
    h = _change(world, "cart", lambda t: setattr(t.containers[0], "image", old))
    world.advance(60)
    assert _said(world, "cart", f'Successfully pulled image "{old}"')
    had = {n.name for n in world.nodes.values() if old in n.images}
    assert had
    h = _change(world, "cart", lambda t: t.annotations.update(restarted="1"))  # same image again
    world.advance(60)
    again = [p for p in _new(world, "cart", h) if p.node]
    assert again
    for p in again:  # pulled only where the node lacked it
        pulled = any(e.name == p.name and "Pulling image" in e.message for e in world.events)
        present = any(e.name == p.name and "already present on machine" in e.message for e in world.events)
        assert (pulled, present) == ((False, True) if p.node in had else (True, False)), p.node

    h = _change(world, "cart", lambda t: setattr(t.containers[0], "pull_policy", "Always"))
    world.advance(60)
    always = [p.name for p in _new(world, "cart", h)]
    assert always and all(any(e.name == n and "Pulling image" in e.message for e in world.events)
                          for n in always)


def test_a_node_selector_places_pods_on_matching_nodes_only():
    world = _world()
    zone = world.nodes[next(iter(world.nodes))].zone
    h = _change(world, "auth", lambda t: t.node_selector.update({"topology.kubernetes.io/zone": zone}))
    world.advance(60)
    pods = _new(world, "auth", h)
    assert pods and all(world.nodes[p.node].zone == zone for p in pods if p.node)
    h = _change(world, "cart", lambda t: t.node_selector.update({"disktype": "ssd"}))
    world.advance(60)
    assert all(p.node is None for p in _new(world, "cart", h))
    assert _said(world, "cart", "3 node(s) didn't match Pod's node affinity/selector")


def test_tolerations_against_taints():
    world = _world()
    for node in world.nodes.values():
        node.user_taints = [("dedicated", "infra", "NoSchedule")]
    h = _change(world, "cart", lambda t: t.annotations.update(restarted="1"))
    world.advance(60)
    assert all(p.node is None for p in _new(world, "cart", h))
    assert _said(world, "cart", "3 node(s) had untolerated taint {dedicated: }")
    h = _change(world, "cart", lambda t: t.tolerations.append(Toleration("dedicated", "Equal", "infra",
                                                                        "NoSchedule")))
    world.advance(60)
    assert all(p.node for p in _new(world, "cart", h))
    wrong = Toleration("dedicated", "Equal", "gpu", "NoSchedule")
    h = _change(world, "auth", lambda t: t.tolerations.append(wrong))  # another value: no match
    world.advance(60)
    assert all(p.node is None for p in _new(world, "auth", h))


def test_no_execute_evicts_by_toleration_seconds():
    """An unreachable node: pods stay 300 s by admission's default toleration, a pod that
    tolerates it for 60 s leaves after 60 s, one that tolerates it without a limit stays."""
    world = _world()
    node = max(world.nodes.values(), key=lambda n: sum(p.node == n.name for p in world.pods.values()))
    quick, forever, *default = sorted((p for p in world.pods.values() if p.node == node.name),
                                      key=lambda p: p.name)
    key = "node.kubernetes.io/unreachable"
    quick.template = replace(quick.template, tolerations=[Toleration(key, "Exists", effect="NoExecute",
                                                                     seconds=60)])
    forever.template = replace(forever.template, tolerations=[Toleration(key, "Exists", effect="NoExecute")])
    node.kubelet_up = False
    world.advance(150)  # 40 s to NotReady, then 60 s and more
    assert quick.deleting_at is not None
    assert forever.deleting_at is None and all(p.deleting_at is None for p in default)
    world.advance(300)
    assert all(p.deleting_at is not None for p in default)
    assert forever.deleting_at is None
    assert [e for e in world.events if e.name == quick.name and e.reason == "TaintManagerEviction"]
