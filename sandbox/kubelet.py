"""The kubelet: container state machines (image pull, start, crash, OOM, back-off, probes) and
resource accounting per container."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from opsagent.sandbox import logs
from opsagent.sandbox.objects import ContainerSpec, ContainerStatus, KiB, Node, Pod, Probe
from opsagent.sandbox.startup import probe_failure, startup_error

if TYPE_CHECKING:
    from opsagent.sandbox.world import World

MAX_BACKOFF_S = 300.0
BACKOFF_RESET_S = 600.0


def _next_backoff(c: ContainerStatus, world: World) -> None:
    if c.started_at and world.now - c.started_at > BACKOFF_RESET_S:
        c.backoff = 0.0
    c.backoff = min(MAX_BACKOFF_S, max(10.0, c.backoff * 2))
    c.next_start = world.now + c.backoff


def _terminate(world: World, pod: Pod, c: ContainerStatus, reason: str, code: int) -> None:
    c.last_reason, c.last_exit_code = reason, code
    c.last_started_at, c.last_finished_at = c.started_at, world.now
    c.state, c.reason, c.exit_code, c.ready = "waiting", "CrashLoopBackOff", code, False
    c.restarts += 1
    c.cpu = c.cpu_demand = 0.0
    c.connections = 0.0
    _next_backoff(c, world)
    c.message = (
        f"back-off {int(c.backoff)}s restarting failed container={c.name} "
        f"pod={pod.name}_{pod.namespace}({pod.uid})"
    )
    world.emit("Pod", pod.namespace, pod.name, "BackOff",
               f"Back-off restarting failed container {c.name} in pod "
               f"{pod.name}_{pod.namespace}({pod.uid})", "Warning")


def _pull_failed(world: World, pod: Pod, c: ContainerStatus, image: str) -> None:
    if c.reason != "ErrImagePull":
        c.reason = "ErrImagePull"
        c.message = (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {image}: not found'
        )
        world.emit("Pod", pod.namespace, pod.name, "Pulling", f'Pulling image "{image}"')
        world.emit("Pod", pod.namespace, pod.name, "Failed",
                   f'Failed to pull image "{image}": {c.message}', "Warning")
        world.emit("Pod", pod.namespace, pod.name, "Failed", "Error: ErrImagePull", "Warning")
        c.next_start = world.now + world.dt
    else:
        c.reason = "ImagePullBackOff"
        c.message = f'Back-off pulling image "{image}"'
        world.emit("Pod", pod.namespace, pod.name, "BackOff", c.message, "Normal")
        world.emit("Pod", pod.namespace, pod.name, "Failed", "Error: ImagePullBackOff", "Warning")
        _next_backoff(c, world)


def _image_ready(world: World, pod: Pod, node: Node, c: ContainerStatus, spec: ContainerSpec) -> bool:
    """The image pull policy against the node's image cache: Never runs only what the node
    has, IfNotPresent pulls what it lacks, Always asks the registry on every start."""
    present = spec.image in node.images
    if spec.pull_policy == "Never" or (present and spec.pull_policy == "IfNotPresent"):
        if present:
            world.emit("Pod", pod.namespace, pod.name, "Pulled",
                       f'Container image "{spec.image}" already present on machine')
            return True
        c.reason = "ErrImageNeverPull"
        c.message = f'Container image "{spec.image}" is not present with pull policy of Never'
        world.emit("Pod", pod.namespace, pod.name, "ErrImageNeverPull", c.message, "Warning")
        c.next_start = world.now + world.dt
        return False
    if spec.image not in world.images:
        _pull_failed(world, pod, c, spec.image)
        return False
    world.emit("Pod", pod.namespace, pod.name, "Pulling", f'Pulling image "{spec.image}"')
    took = 0.4 if present else 3.2  # a registry round trip; a download when the node lacks it
    world.emit("Pod", pod.namespace, pod.name, "Pulled",
               f'Successfully pulled image "{spec.image}" in {took}s ({took}s including waiting)')
    node.images.add(spec.image)
    return True


def _start(world: World, pod: Pod, c: ContainerStatus, idx: int) -> None:
    spec = pod.template.containers[idx]
    profile = world.profile_of(pod)
    world.emit("Pod", pod.namespace, pod.name, "Created", f"Created container {c.name}")
    world.emit("Pod", pod.namespace, pod.name, "Started", f"Started container {c.name}")
    pod.secret_versions = {
        s: world.secrets[(pod.namespace, s)].version
        for s in pod.template.secrets if (pod.namespace, s) in world.secrets
    }
    c.state, c.reason, c.message, c.started_at = "running", "", "", world.now
    c.memory = profile.base_memory * 0.8
    c.cpu_seconds = c.periods = c.throttled_periods = 0.0  # cAdvisor counters are per container
    c.probe_failures = c.liveness_failures = c.startup_failures = 0
    c.started = spec.startup is None
    pod.netem_delay_ms = 0.0  # a fresh network namespace
    error = startup_error(world, pod, spec)
    if error:
        logs.crash(world, pod, error)
        _terminate(world, pod, c, "Error", 1)
    else:
        logs.startup(world, pod)


def restart_container(world: World, pod: Pod, reason: str, code: int, last_words: str) -> None:
    """The container exits on its own (a panic, a failed liveness probe); the kubelet restarts
    it after the usual back-off."""
    c = pod.containers[0]
    logs.crash(world, pod, last_words)
    _terminate(world, pod, c, reason, code)


def _runs(started_at: float, probe: Probe, now: float, dt: float) -> int:
    """How many times the probe ran in the last tick: at its initial delay after the start,
    then every period."""
    first = started_at + probe.initial_delay
    if now < first:
        return 0
    before = math.floor((now - dt - first) / probe.period) if now - dt >= first else -1
    return math.floor((now - first) / probe.period) - before


def _answer(world: World, pod: Pod, probe: Probe, warm: bool) -> str | None:
    """What a probe gets: the app refuses connections until it has started listening."""
    if not warm:
        if probe.path.startswith("tcp:"):
            return f"dial tcp {pod.ip}:{probe.port}: connect: connection refused"
        if probe.path.startswith("exec:"):  # pg_isready's own words while PostgreSQL starts
            return f"{pod.ip}:{probe.port} - no response"
        return (f'Get "http://{pod.ip}:{probe.port}{probe.path}": dial tcp {pod.ip}:{probe.port}: '
                "connect: connection refused")
    return probe_failure(world, pod, probe)


def _failed(world: World, pod: Pod, c: ContainerStatus, kind: str, why: str, kill: bool) -> None:
    """A failed startup or liveness probe, in the kubelet's words; past its threshold the
    container is killed (SIGTERM: 143) and restarted after the back-off."""
    world.emit("Pod", pod.namespace, pod.name, "Unhealthy", f"{kind.capitalize()} probe failed: {why}",
               "Warning")
    if kill:
        world.emit("Pod", pod.namespace, pod.name, "Killing",
                   f"Container {c.name} failed {kind} probe, will be restarted")
        _terminate(world, pod, c, "Error", 143)


def _startup(world: World, pod: Pod, c: ContainerStatus, probe: Probe, warm: bool) -> None:
    """Until the startup probe succeeds the kubelet runs neither liveness nor readiness; after
    failureThreshold failures in a row it kills the container."""
    runs = _runs(c.started_at, probe, world.now, world.dt)
    if not runs:
        return
    why = _answer(world, pod, probe, warm)
    if why is None:
        c.started = True
        return
    c.startup_failures += runs
    _failed(world, pod, c, "startup", why, c.startup_failures >= probe.failure_threshold)


def _liveness(world: World, pod: Pod, c: ContainerStatus, probe: Probe | None, warm: bool) -> None:
    """The liveness probe runs on its schedule once the container has started; it fails where
    the app does not answer (not listening yet, a wrong path or port) and, for Spring Boot's
    health endpoint, which includes the database, when the pool is starved or refused. After
    failureThreshold failures in a row the kubelet kills the container and restarts it."""
    if probe is None:
        return
    runs = _runs(c.started_at, probe, world.now, world.dt)
    if not runs:
        return
    why = _answer(world, pod, probe, warm)
    if why is None and warm and world.profiles[pod.service].log_style == "java":
        causes = world.stats[pod.service].causes
        if causes.get("db_conn", 0) >= 0.5 or causes.get("db_auth", 0) >= 0.5:
            why = "HTTP probe failed with statuscode: 503"
    if why is None:
        c.liveness_failures = 0
        return
    c.liveness_failures += runs
    _failed(world, pod, c, "liveness", why, c.liveness_failures >= probe.failure_threshold)


def _readiness(world: World, pod: Pod, c: ContainerStatus, probe: Probe | None, warm: bool) -> None:
    """Ready once started, past the probe's initial delay, and answering."""
    if probe is None:
        c.ready = warm
        return
    if world.now - c.started_at < probe.initial_delay:
        c.ready = False
        return
    failure = _answer(world, pod, probe, warm)
    if failure:
        c.probe_failures += 1
        world.emit("Pod", pod.namespace, pod.name, "Unhealthy", f"Readiness probe failed: {failure}",
                   "Warning")
    c.ready = failure is None


def sync(world: World) -> None:
    """Advance every container's state machine by one tick."""
    for pod in world.pods.values():
        if pod.node is None or pod.deleting_at is not None or pod.phase in ("Failed", "Succeeded"):
            continue
        node = world.nodes[pod.node]
        if not node.ready:
            for c in pod.containers:
                c.ready = False
            continue
        for idx, c in enumerate(pod.containers):
            spec = pod.template.containers[idx]
            if c.state == "waiting" and world.now >= c.next_start and _image_ready(world, pod, node, c, spec):
                _start(world, pod, c, idx)
            if c.state == "running":
                profile = world.profile_of(pod)
                warm = world.now - c.started_at >= profile.startup_s
                if not c.started:
                    c.ready = False
                    _startup(world, pod, c, spec.startup, warm)  # type: ignore[arg-type]
                    continue
                _readiness(world, pod, c, spec.readiness, warm)
                if node.nic_loss and world.rng.random() < node.nic_loss * 2:
                    world.emit("Pod", pod.namespace, pod.name, "Unhealthy",
                               f'Readiness probe failed: Get "http://{pod.ip}:{spec.port}'
                               f'{profile.probe_path}": context deadline exceeded', "Warning")
                _liveness(world, pod, c, spec.liveness, warm)
        if any(c.state == "running" or c.restarts for c in pod.containers):
            pod.phase = "Running"


def account(world: World) -> None:
    """Integrate CPU, memory and connections after traffic has been placed on the pods."""
    dt = world.dt
    for pod in world.pods.values():
        if pod.phase != "Running" or pod.deleting_at is not None:
            continue
        profile = world.profile_of(pod)
        for idx, c in enumerate(pod.containers):
            if c.state != "running":
                continue
            spec = pod.template.containers[idx]
            defect = world.images.get(spec.image)
            c.cpu_seconds += c.cpu * dt
            c.periods += dt * 10
            if c.cpu_demand > c.cpu > 0:
                c.throttled_periods += dt * 10 * min(1.0, 1 - c.cpu / c.cpu_demand)
            age = world.now - c.started_at
            base = profile.base_memory * (1 + 0.03 * math.sin(world.now / 600 + idx))
            leak = defect.leak_bytes_per_s * age if defect else 0.0
            c.memory = base + pod.rps * 40 * KiB + leak
            if profile.name == "redis":
                c.memory = min(world.redis_dataset, 0.75 * spec.limits.memory) + 30 * 1024**2
            c.connections = profile.db_pool + (defect.conn_leak_per_s * age if defect else 0.0)
            if spec.limits.memory and c.memory > spec.limits.memory:
                world.emit("Node", "default", pod.node or "", "OOMKilling",
                           f"Memory cgroup out of memory: Killed process {1000 + c.restarts} "
                           f"({logs.process_name(profile)}) total-vm:{int(c.memory / 1024)}kB, "
                           f"anon-rss:{int(c.memory / 1024)}kB, file-rss:0kB, shmem-rss:0kB",
                           "Warning", "kernel-monitor")
                logs.oom(world, pod)
                _terminate(world, pod, c, "OOMKilled", 137)
