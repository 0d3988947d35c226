"""Metric history. Each tick stores a compact frame of the cluster's numbers; `render()` turns
a frame into the series a real cluster exposes (kube-state-metrics, cAdvisor, kubelet volume
stats, node-exporter, the applications' own HTTP metrics), with their real names and labels,
so the kube-prometheus rules evaluate over them unchanged."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from opsagent.sandbox.objects import Resources
from opsagent.sandbox.traffic import BUCKETS

if TYPE_CHECKING:
    from opsagent.sandbox.world import World


class ContainerSample(NamedTuple):
    name: str
    image: str
    state: str
    reason: str
    last_reason: str
    last_exit_code: int
    restarts: int
    ready: bool
    cpu_seconds: float
    memory: float
    periods: float
    throttled: float
    requests: Resources  # never mutated: a resources change replaces the object
    limits: Resources


class PodSample(NamedTuple):
    namespace: str
    name: str
    uid: str
    node: str
    ip: str
    phase: str
    reason: str
    ready: bool
    owner_kind: str
    owner_name: str
    service: str
    containers: tuple[ContainerSample, ...]


class NodeSample(NamedTuple):
    name: str
    ip: str
    ready: bool
    unschedulable: bool
    disk_pressure: bool
    memory_pressure: bool
    cpu: float
    memory: int
    disk: int
    disk_used: float
    cpu_busy: float
    cpu_idle: float
    memory_used: float
    load: float
    net: tuple[float, float, float, float]  # rx, tx bytes; rx, tx errors
    taints: tuple[tuple[str, str, str], ...]
    allocatable_cpu: float
    allocatable_memory: int


class WorkloadSample(NamedTuple):
    stalled: bool  # Progressing=False: ProgressDeadlineExceeded
    kind: str
    namespace: str
    name: str
    replicas: int
    available: int
    updated: int
    current: int
    generation: int
    observed_generation: int


class ServiceSample(NamedTuple):
    namespace: str
    name: str
    ok: float
    err: float
    client_err: float
    buckets: tuple[float, ...]
    latency_sum: float


class Frame(NamedTuple):
    t: float
    pods: tuple[PodSample, ...]
    nodes: tuple[NodeSample, ...]
    workloads: tuple[WorkloadSample, ...]
    services: tuple[ServiceSample, ...]
    hpas: tuple[tuple[str, str, int, int, int, int], ...]
    pvcs: tuple[tuple[str, str, int, float], ...]
    datastores: tuple[float, ...]  # db connections, max, redis evicted, hits, misses, used, max
    health: tuple[float, float, int]  # user-facing error ratio, p99 ms, unavailable replicas


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float
    sid: int  # this series' number in this process (see _TEMPLATES)


_NO_BUCKETS = (0.0,) * len(BUCKETS)
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__: ~5x faster


def snapshot(world: World) -> Frame:
    """Copy this tick's numbers; called every tick, so it avoids anything but tuple building."""
    pods = []
    for p in world.pods.values():
        if p.deleting_at is not None and world.now - p.deleting_at >= 30:
            continue
        containers = []
        for c, s in zip(p.containers, p.template.containers, strict=True):
            containers.append(_new(ContainerSample, (
                c.name, c.image, c.state, c.reason, c.last_reason, c.last_exit_code,
                c.restarts, c.ready, c.cpu_seconds, c.memory, c.periods, c.throttled_periods,
                s.requests, s.limits,
            )))
        pods.append(_new(PodSample, (
            p.namespace, p.name, p.uid, p.node or "", p.ip, p.phase, p.reason, p.ready,
            p.owner_kind, p.owner_name, p.service, tuple(containers),
        )))
    nodes = tuple(
        NodeSample(
            n.name, n.ip, n.ready, n.unschedulable, n.disk_pressure, n.memory_pressure, n.cpu,
            n.memory, n.disk, n.disk_used, n.cpu_seconds_busy, n.cpu_seconds_idle, n.memory_used,
            n.cpu_used + max(0.0, n.extra_cpu_load - n.cpu),
            (n.net_rx_bytes, n.net_tx_bytes, n.net_rx_errs, n.net_tx_errs),
            tuple(n.taints()), n.allocatable.cpu, n.allocatable.memory,
        )
        for n in world.nodes.values()
    )
    workloads = tuple(
        WorkloadSample(world.now - w.progressed_at > w.progress_deadline_s,
                       w.kind, w.namespace, w.name, w.replicas, w.available_replicas,
                       w.updated_replicas, w.status_replicas, w.generation, w.observed_generation)
        for w in world.workloads.values()
    )
    services = tuple(
        ServiceSample(world.profiles[name].namespace, name, s.requests_ok, s.requests_err,
                      s.requests_4xx, tuple(s.latency_buckets) or _NO_BUCKETS, s.latency_sum)
        for name, s in world.stats.items() if world.profiles[name].latency_ms
    )
    hpas = tuple((h.namespace, h.name, h.min_replicas, h.max_replicas, h.current_replicas,
                  h.desired_replicas) for h in world.hpas.values())
    pvcs = tuple((v.namespace, v.name, v.capacity, v.used) for v in world.pvcs.values())
    redis = world.stats["redis"]
    datastores = (world.db_connections, float(world.db_max_connections), world.evictions_total,
                  redis.requests_ok * world.cache_hit_ratio,
                  redis.requests_ok * (1 - world.cache_hit_ratio), world.redis_used,
                  world.redis_max)
    h = world.health()
    return Frame(world.now, tuple(pods), nodes, workloads, services, hpas, pvcs, datastores,
                 (h.error_ratio, h.p99_ms, h.unavailable_replicas))


POD_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError",
               "SchedulingGated")
KSM = {"job": "kube-state-metrics", "instance": "10.244.0.9:8080"}
CADVISOR = {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
KUBELET = {"job": "kubelet", "metrics_path": "/metrics"}


# Each object's samples come from one function, called with `full` true the first time an object
# is seen in a given shape (its identity: what decides its series and their labels) and false
# after: then it builds no label dicts (`full and {...}` is False) and only its values count, in
# the same order, against the series kept from the first time. A history renders the same ~1,100
# series 150 times an episode; building their labels each time was most of its cost.
Add = Callable[[tuple[str, Any, float]], None]


def _pod(p: PodSample, full: bool, add: Add) -> None:
    base = {**KSM, "namespace": p.namespace, "pod": p.name, "uid": p.uid} if full else {}
    # kube-state-metrics writes "<none>" for a pod without an owner.
    kind, name = (p.owner_kind, p.owner_name) if p.owner_kind else ("<none>", "<none>")
    add(("kube_pod_info", full and {**base, "node": p.node, "pod_ip": p.ip, "host_ip": "",
                                    "created_by_kind": kind, "created_by_name": name}, 1))
    add(("kube_pod_owner", full and {**base, "owner_kind": kind, "owner_name": name,
                                     "owner_is_controller": "true" if p.owner_kind else "<none>"}, 1))
    for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
        add(("kube_pod_status_phase", full and {**base, "phase": phase}, float(p.phase == phase)))
    add(("kube_pod_status_ready", full and {**base, "condition": "true"}, float(p.ready)))
    add(("kube_pod_status_ready", full and {**base, "condition": "false"}, float(not p.ready)))
    for reason in POD_REASONS:
        add(("kube_pod_status_reason", full and {**base, "reason": reason}, float(p.reason == reason)))
    for c in p.containers if p.node else ():  # no containerStatuses before scheduling
        cl = {**base, "container": c.name} if full else {}
        add(("kube_pod_container_info", full and {**cl, "image": c.image}, 1))
        add(("kube_pod_container_status_restarts_total", cl, c.restarts))
        add(("kube_pod_container_status_ready", cl, float(c.ready)))
        add(("kube_pod_container_status_running", cl, float(c.state == "running")))
        add(("kube_pod_container_status_waiting", cl, float(c.state == "waiting")))
        if c.state == "waiting":
            add(("kube_pod_container_status_waiting_reason", full and {**cl, "reason": c.reason}, 1))
        if c.last_reason:
            add(("kube_pod_container_status_last_terminated_reason",
                 full and {**cl, "reason": c.last_reason}, 1))
            add(("kube_pod_container_status_last_terminated_exitcode", cl, c.last_exit_code))
        for metric, res in (("requests", c.requests), ("limits", c.limits)):
            series = f"kube_pod_container_resource_{metric}"
            if res.cpu:
                add((series, full and {**cl, "node": p.node, "resource": "cpu", "unit": "core"},
                     res.cpu))
            if res.memory:
                add((series, full and {**cl, "node": p.node, "resource": "memory", "unit": "byte"},
                     res.memory))
        if c.state == "running":
            cv = {**CADVISOR, "namespace": p.namespace, "pod": p.name, "container": c.name,
                  "image": c.image, "node": p.node} if full else {}
            add(("container_cpu_usage_seconds_total", full and {**cv, "cpu": "total"}, c.cpu_seconds))
            add(("container_memory_working_set_bytes", cv, c.memory))
            add(("container_cpu_cfs_periods_total", cv, c.periods))
            add(("container_cpu_cfs_throttled_periods_total", cv, c.throttled))


def _pod_identity(p: PodSample) -> tuple:
    return ("pod", p.namespace, p.name, p.uid, p.node, p.ip, p.owner_kind, p.owner_name,
            *[(c.name, c.image, c.state, c.reason, c.last_reason, bool(c.requests.cpu),
               bool(c.requests.memory), bool(c.limits.cpu), bool(c.limits.memory))
              for c in p.containers])


def _node(n: NodeSample, full: bool, add: Add) -> None:
    k = {**KSM, "node": n.name} if full else {}
    add(("kube_node_info", full and {**k, "internal_ip": n.ip, "kubelet_version": "v1.30.4"}, 1))
    conds = (("Ready", n.ready), ("DiskPressure", n.disk_pressure),
             ("MemoryPressure", n.memory_pressure), ("PIDPressure", False))
    for cond, value in conds:
        unknown = cond == "Ready" and not n.ready
        for status in ("true", "false", "unknown"):
            v = (status == "unknown") if unknown else (status == ("true" if value else "false"))
            add(("kube_node_status_condition", full and {**k, "condition": cond, "status": status},
                 float(v)))
    add(("kube_node_spec_unschedulable", k, float(n.unschedulable)))
    for key, value, effect in n.taints:
        add(("kube_node_spec_taint", full and {**k, "key": key, "value": value, "effect": effect}, 1))
    for metric, cpu, memory in (("capacity", n.cpu, n.memory),
                                ("allocatable", n.allocatable_cpu, n.allocatable_memory)):
        name = f"kube_node_status_{metric}"
        add((name, full and {**k, "resource": "cpu", "unit": "core"}, cpu))
        add((name, full and {**k, "resource": "memory", "unit": "byte"}, memory))
        add((name, full and {**k, "resource": "pods", "unit": "integer"}, 110))
    if not n.ready:
        return  # node-exporter on an unreachable node is not scraped
    ne = {"job": "node-exporter", "instance": n.name} if full else {}
    cpus = int(n.cpu)
    for i in range(cpus):
        cpu = full and {**ne, "cpu": str(i)}
        add(("node_cpu_seconds_total", cpu and {**cpu, "mode": "idle"}, n.cpu_idle / cpus))
        add(("node_cpu_seconds_total", cpu and {**cpu, "mode": "user"}, n.cpu_busy * 0.8 / cpus))
        add(("node_cpu_seconds_total", cpu and {**cpu, "mode": "system"}, n.cpu_busy * 0.2 / cpus))
    add(("node_load1", ne, n.load))
    add(("node_memory_MemTotal_bytes", ne, n.memory))
    add(("node_memory_MemAvailable_bytes", ne, max(0.0, n.memory - n.memory_used)))
    fs = {**ne, "device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"} if full else {}
    add(("node_filesystem_size_bytes", fs, n.disk))
    add(("node_filesystem_avail_bytes", fs, n.disk - n.disk_used))
    add(("node_filesystem_free_bytes", fs, n.disk - n.disk_used))
    add(("node_filesystem_readonly", fs, 0))
    add(("node_filesystem_files", fs, 26_214_400))
    add(("node_filesystem_files_free", fs, 26_214_400 - 310_000))
    nic = {**ne, "device": "eth0"} if full else {}
    for name, value in zip(("receive_bytes", "transmit_bytes", "receive_errs", "transmit_errs"),
                           n.net, strict=True):
        add((f"node_network_{name}_total", nic, value))
    add(("node_network_receive_packets_total", nic, n.net[0] / 1200))
    add(("node_network_transmit_packets_total", nic, n.net[1] / 1200))


def _workload(w: WorkloadSample, full: bool, add: Add) -> None:
    if w.kind == "Deployment":
        d = {**KSM, "namespace": w.namespace, "deployment": w.name} if full else {}
        add(("kube_deployment_spec_replicas", d, w.replicas))
        add(("kube_deployment_status_replicas", d, w.current))
        add(("kube_deployment_status_replicas_available", d, w.available))
        add(("kube_deployment_status_replicas_unavailable", d, max(0, w.replicas - w.available)))
        add(("kube_deployment_status_replicas_updated", d, w.updated))
        add(("kube_deployment_metadata_generation", d, w.generation))
        add(("kube_deployment_status_observed_generation", d, w.observed_generation))
        conditions = (("Available", w.available >= w.replicas), ("Progressing", not w.stalled))
        for cond, ok in conditions:
            for status in ("true", "false", "unknown"):
                add(("kube_deployment_status_condition",
                     full and {**d, "condition": cond, "status": status},
                     float(status == ("true" if ok else "false"))))
        return
    s = {**KSM, "namespace": w.namespace, "statefulset": w.name} if full else {}
    add(("kube_statefulset_replicas", s, w.replicas))
    add(("kube_statefulset_status_replicas", s, w.current))
    add(("kube_statefulset_status_replicas_ready", s, w.available))
    add(("kube_statefulset_status_replicas_current", s, w.current))
    add(("kube_statefulset_status_replicas_updated", s, w.updated))
    add(("kube_statefulset_metadata_generation", s, w.generation))
    add(("kube_statefulset_status_observed_generation", s, w.observed_generation))


def _hpa(hpa: tuple[str, str, int, int, int, int], full: bool, add: Add) -> None:
    ns, name, lo, hi, cur, want = hpa
    h = {**KSM, "namespace": ns, "horizontalpodautoscaler": name} if full else {}
    add(("kube_horizontalpodautoscaler_spec_min_replicas", h, lo))
    add(("kube_horizontalpodautoscaler_spec_max_replicas", h, hi))
    add(("kube_horizontalpodautoscaler_status_current_replicas", h, cur))
    add(("kube_horizontalpodautoscaler_status_desired_replicas", h, want))


def _pvc(pvc: tuple[str, str, int, float], full: bool, add: Add) -> None:
    ns, name, cap, used = pvc
    v = {**KUBELET, "namespace": ns, "persistentvolumeclaim": name} if full else {}
    add(("kubelet_volume_stats_capacity_bytes", v, cap))
    add(("kubelet_volume_stats_used_bytes", v, used))
    add(("kubelet_volume_stats_available_bytes", v, max(0.0, cap - used)))
    add(("kubelet_volume_stats_inodes", v, 6_553_600))
    add(("kubelet_volume_stats_inodes_used", v, 4_100))
    add(("kubelet_volume_stats_inodes_free", v, 6_553_600 - 4_100))


def _service(s: ServiceSample, full: bool, add: Add) -> None:
    base = {"job": s.name, "namespace": s.namespace, "service": s.name} if full else {}
    add(("http_requests_total", full and {**base, "code": "200"}, s.ok))
    add(("http_requests_total", full and {**base, "code": "404"}, s.client_err))
    add(("http_requests_total", full and {**base, "code": "503"}, s.err))
    total = s.ok + s.err + s.client_err
    for le, count in zip(BUCKETS, s.buckets, strict=True):
        add(("http_request_duration_seconds_bucket", full and {**base, "le": str(le)}, count))
    add(("http_request_duration_seconds_bucket", full and {**base, "le": "+Inf"}, total))
    add(("http_request_duration_seconds_sum", base, s.latency_sum))
    add(("http_request_duration_seconds_count", base, total))


def _datastores(values: tuple[float, ...], full: bool, add: Add) -> None:
    conns, max_conns, evicted, hits, misses, used, maxmem = values
    pg = {"job": "postgres-exporter", "namespace": "shop", "server": "postgres:5432"} if full else {}
    add(("pg_stat_activity_count", full and {**pg, "datname": "shop", "state": "active"}, conns))
    add(("pg_settings_max_connections", pg, max_conns))
    rd = {"job": "redis-exporter", "namespace": "shop", "instance": "redis:6379"} if full else {}
    add(("redis_evicted_keys_total", rd, evicted))
    add(("redis_keyspace_hits_total", rd, hits))
    add(("redis_keyspace_misses_total", rd, misses))
    add(("redis_memory_used_bytes", rd, used))
    add(("redis_memory_max_bytes", rd, maxmem))


def _control_plane_up(_: None, full: bool, add: Add) -> None:
    """`up` for every scrape target, as Prometheus records it: 0 where the target is gone."""
    for job, instance in (("apiserver", "10.0.0.10:443"), ("kube-scheduler", "10.0.0.10:10259"),
                          ("kube-controller-manager", "10.0.0.10:10257"),
                          ("kube-state-metrics", KSM["instance"])):
        add(("up", full and {"job": job, "instance": instance, "namespace": "kube-system"
                             if job != "kube-state-metrics" else "monitoring"}, 1))


def _node_up(n: NodeSample, full: bool, add: Add) -> None:
    for path in ("/metrics", "/metrics/cadvisor", "/metrics/probes"):
        add(("up", full and {"job": "kubelet", "metrics_path": path, "node": n.name,
                             "instance": f"{n.ip}:10250", "namespace": "kube-system",
                             "service": "kubelet"}, float(n.ready)))
    add(("up", full and {"job": "node-exporter", "instance": n.name, "namespace": "monitoring",
                         "service": "node-exporter"}, float(n.ready)))


def _pod_up(p: PodSample, full: bool, add: Add) -> None:
    job = "kube-dns" if p.service == "coredns" else p.service
    add(("up", full and {"job": job, "instance": f"{p.ip}:8080", "namespace": p.namespace,
                         "pod": p.name, "service": job}, float(p.ready)))


def _scraped(p: PodSample) -> bool:
    return p.phase == "Running" and bool(p.ip) and p.service not in ("report-generator",)


# Series of the objects seen lately: identity -> [(name, labels, sid) per sample, last render
# that used it]. `sid` numbers a series (name and labels) for this process, so that remote write
# and promtool group samples by an int. Trimmed of what no recent render used.
_TEMPLATES: dict[tuple, list[Any]] = {}
_SIDS: dict[tuple, int] = {}
_TEMPLATES_MAX = 20_000
_RECENT = 1_000  # renders: an object unused for this long loses its template
_numbers = itertools.count()
_lock = threading.Lock()
_renders = 0


def _emit(out: list[Sample], identity: tuple, fn: Callable[[Any, bool, Add], None], obj: Any) -> None:
    entry = _TEMPLATES.get(identity)
    rows: list[tuple[str, Any, float]] = []
    fn(obj, entry is None, rows.append)
    if entry is None:
        with _lock:
            series = tuple((name, labels, _SIDS.setdefault((name, *labels.items()), next(_numbers)))
                           for name, labels, _ in rows)
            entry = _TEMPLATES.setdefault(identity, [series, 0])
    entry[1] = _renders
    out.extend([_new(Sample, (name, labels, value, sid))
                for (name, labels, sid), (_, _, value) in zip(entry[0], rows, strict=True)])


def _trim() -> None:
    """Forget the templates no recent render used, and the numbers only they used: series in
    use keep their numbers, so a writer's last frame and its next agree."""
    with _lock:
        keep = {k: e for k, e in _TEMPLATES.items() if e[1] >= _renders - _RECENT}
        live = {sid for e in keep.values() for _, _, sid in e[0]}
        _TEMPLATES.clear()
        _TEMPLATES.update(keep)
        kept = {k: sid for k, sid in _SIDS.items() if sid in live}
        _SIDS.clear()
        _SIDS.update(kept)


# The last frames rendered, by id (with the frame itself, so a reused id never hits): an
# episode renders its history for remote write, then again for the alert rules and the graders.
_RENDERED: dict[int, tuple[Frame, list[Sample]]] = {}
_RENDERED_MAX = 160


def render(frame: Frame) -> list[Sample]:
    """Every series of one frame, as a Prometheus scrape of the whole cluster would see it.
    The list is shared between callers: read it, never change it."""
    global _renders
    hit = _RENDERED.get(id(frame))
    if hit is not None and hit[0] is frame:
        return hit[1]
    _renders += 1
    if len(_TEMPLATES) > _TEMPLATES_MAX:
        _trim()
    out: list[Sample] = []
    for p in frame.pods:
        _emit(out, _pod_identity(p), _pod, p)
    for n in frame.nodes:
        _emit(out, ("node", n.name, n.ip, n.ready, n.taints, int(n.cpu)), _node, n)
    for w in frame.workloads:
        _emit(out, ("workload", w.kind, w.namespace, w.name), _workload, w)
    for h in frame.hpas:
        _emit(out, ("hpa", h[0], h[1]), _hpa, h)
    for v in frame.pvcs:
        _emit(out, ("pvc", v[0], v[1]), _pvc, v)
    for s in frame.services:
        _emit(out, ("service", s.namespace, s.name), _service, s)
    _emit(out, ("datastores",), _datastores, frame.datastores)
    _emit(out, ("control plane up",), _control_plane_up, None)
    for n in frame.nodes:
        _emit(out, ("node up", n.name, n.ip), _node_up, n)
    for p in frame.pods:
        if _scraped(p):
            _emit(out, ("pod up", p.namespace, p.name, p.service, p.ip), _pod_up, p)
    if len(_RENDERED) >= _RENDERED_MAX:
        del _RENDERED[next(iter(_RENDERED))]  # the oldest first (dicts keep insertion order)
    _RENDERED[id(frame)] = (frame, out)
    return out


def series(frames: list[Frame], name: str, **match: str) -> list[tuple[float, float]]:
    """(time, value) of the sum of the series `name` whose labels match, frame by frame."""
    points = []
    for frame in frames:
        values = [s.value for s in render(frame)
                  if s.name == name and all(s.labels.get(k) == v for k, v in match.items())]
        if values:
            points.append((frame.t, sum(values)))
    return points
