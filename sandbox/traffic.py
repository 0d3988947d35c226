"""Requests through the application: load per service and pod, CPU demand and throttling, and
errors and latency that propagate from callees to callers along the dependency graph."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

from opsagent.sandbox.objects import Pod
from opsagent.sandbox.shop import Dependency, call_order
from opsagent.sandbox.startup import db_auth_failing, dns_ok, host_of

if TYPE_CHECKING:
    from opsagent.sandbox.world import ServiceStats, World

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LOG_BUCKETS = tuple(math.log(le) for le in BUCKETS)
CALL_TIMEOUT_MS = 3000.0
ORDER = call_order()


def diurnal(t: float) -> float:
    hour = (t % 86400) / 3600
    return 1.0 + 0.35 * math.sin(2 * math.pi * (hour - 9) / 24)


def _load(world: World) -> dict[str, float]:
    profiles = world.profiles
    mult = world.traffic_multiplier * diurnal(world.now) * (1 + world.rng.gauss(0, 0.03))
    rps = dict.fromkeys(profiles, 0.0)
    miss = max(0.0, 0.95 - world.cache_hit_ratio)
    for name in ORDER:
        p = profiles[name]
        rps[name] += p.entry_rps * mult
        for dep, d in p.deps.items():
            rps[dep] += rps[name] * d.calls
        if miss and "redis" in p.deps and "postgres" in p.deps:
            rps["postgres"] += rps[name] * p.deps["redis"].calls * miss
    # Lookups that miss the clients' DNS caches reach CoreDNS.
    rps["coredns"] = 0.05 * sum(rps[name] for name, p in profiles.items() if p.deps or p.external)
    return rps


def _reachable(world: World, name: str, ready: list[Pod]) -> list[Pod]:
    profile = world.profiles[name]
    svc = world.services.get((profile.namespace, name))
    if svc is not None and svc.target_port != profile.port:
        return []  # endpoints exist, but every connection is refused
    return ready


def _serving(world: World, ready: dict[str, list[Pod]]) -> dict[str, list[Pod]]:
    """The ready pods behind each Service's selector: a pod relabelled out of it gets no
    traffic, one relabelled into it does. A pod nobody relabelled carries its template's
    labels, which its Service selects, so without relabelled pods nothing changes."""
    if all(p.set_labels is None for p in world.pods.values()):
        return ready
    pods = [(p, p.labels) for own in ready.values() for p in own]
    serving = {}
    for name, own in ready.items():
        svc = world.services.get((world.profiles[name].namespace, name))
        serving[name] = own if svc is None else [
            p for p, labels in pods if p.namespace == svc.namespace
            and all(labels.get(k) == v for k, v in svc.selector.items())]
    return serving


def _cpu(world: World, rps: dict[str, float], by_service: dict[str, list[Pod]],
         serving: dict[str, list[Pod]]) -> dict[str, float]:
    """Place load on the pods behind each Service and settle CPU demand against limits and
    node capacity; returns the saturation (demand / capacity) of every node."""
    node_demand = {n: node.extra_cpu_load + 0.15 for n, node in world.nodes.items()}
    node_usage = dict(node_demand)
    running: list[tuple[Pod, float, float]] = []
    for pods in by_service.values():
        for pod in pods:
            pod.rps = 0.0
    for name, behind in serving.items():
        for pod in behind:
            pod.rps = rps[name] / len(behind)
    for name, pods in by_service.items():
        p = world.profiles[name]
        factor = world.cpu_factor.get(name, 1.0)
        extra = world.cpu_extra.get(name, 0.0)
        for pod in pods:
            c = pod.containers[0]
            if c.state != "running":
                continue
            demand = p.cpu_base + pod.rps * p.cpu_per_rps * factor + extra
            limit = pod.template.containers[0].limits.cpu or 1e9
            usage = min(demand, limit)
            c.cpu_demand = demand
            running.append((pod, demand, usage))
            node_demand[pod.node] += demand
            node_usage[pod.node] += usage
    scale = {n: min(1.0, (world.nodes[n].cpu) / u) for n, u in node_usage.items()}
    for pod, _demand, usage in running:
        pod.containers[0].cpu = usage * scale[pod.node]
    return {n: d / world.nodes[n].cpu for n, d in node_demand.items()}


def _own(
    world: World, name: str, reach: list[Pod], sat: dict[str, float], dns: bool
) -> tuple[float, float, dict[str, float]]:
    """A service's own error ratio, latency factor and failure causes, before dependencies."""
    p = world.profiles[name]
    n = len(reach)
    causes: dict[str, float] = {}
    err = 0.0
    lat_factor = 0.0
    extra_ms = 0.0
    tls = world.secrets.get((p.namespace, "paygate-client-tls")) if p.external else None
    for pod in reach:
        c = pod.containers[0]
        pressure = c.cpu_demand / c.cpu if c.cpu > 0 else 1.0
        node = world.nodes[pod.node]
        node_sat = sat.get(pod.node, 0.0)
        lat_factor += pressure**1.5 * (1 + 3.0 * max(0.0, node_sat - 0.9))
        overload = min(0.6, max(0.0, (pressure - 1.5) * 0.3))
        if overload:
            causes["overload"] = causes.get("overload", 0.0) + overload / n
        defect = world.images.get(pod.template.containers[0].image)
        if defect and defect.error_ratio:
            causes["defect"] = causes.get("defect", 0.0) + defect.error_ratio / n
        if node.nic_loss:
            causes["netloss"] = causes.get("netloss", 0.0) + min(1.0, node.nic_loss * 3) / n
            extra_ms += node.nic_loss * 2000 / n
        extra_ms += pod.netem_delay_ms / n
        if "postgres" in p.deps:
            refused = db_auth_failing(world, pod)
            if refused:
                causes["db_auth"] = causes.get("db_auth", 0.0) + refused / n
        if tls is not None and (
            (tls.not_after or 0) <= world.now or pod.secret_versions.get(tls.name) != tls.version
        ):
            causes["tls"] = causes.get("tls", 0.0) + 1.0 / n
    if p.external:
        down = sum(1 for pod in reach if external_host(pod) in world.external_down)
        if down:
            causes["upstream_api"] = down / n
    if (p.deps or p.external) and not dns:
        causes["dns"] = 0.95
    if "postgres" in p.deps:
        if world.db_connections > world.db_max_connections:
            over = (world.db_connections - world.db_max_connections) / world.db_connections
            causes["db_conn"] = min(0.9, 2 * over + 0.1)
            extra_ms += 1500 * causes["db_conn"]
        pvc = world.pvcs.get((p.namespace, "data-postgres-0"))
        if pvc is not None and pvc.used >= pvc.capacity and p.write_share:
            causes["db_disk"] = p.write_share
    for share in causes.values():
        err = 1 - (1 - err) * (1 - min(1.0, share))
    return err, lat_factor / n, causes | ({"_extra_ms": extra_ms} if extra_ms else {})


def _datastores(world: World, rps: dict[str, float]) -> None:
    """Cache hit ratio and evictions from Redis' memory; connections held on PostgreSQL."""
    redis = [p for p in world.pods.values() if p.service == "redis" and p.ready]
    if redis:
        world.redis_max = 0.75 * redis[0].template.containers[0].limits.memory
        world.redis_used = min(float(world.redis_dataset), world.redis_max)
        fit = world.redis_max / world.redis_dataset
        world.cache_hit_ratio = 0.95 * min(1.0, fit)
        if fit < 1:
            world.evictions_total += rps["redis"] * (1 - fit) * 0.5 * world.dt
    else:
        world.cache_hit_ratio = world.redis_used = 0.0
    world.db_connections = sum(
        p.containers[0].connections for p in world.pods.values()
        if p.containers[0].state == "running" and world.profiles[p.service].db_pool
    )


def external_host(pod: Pod) -> str:
    return host_of(pod.template.containers[0].env.get("PAYGATE_URL", ""))


def flow(world: World) -> None:
    rps = _load(world)
    _datastores(world, rps)
    by_service: dict[str, list[Pod]] = {name: [] for name in world.profiles}
    for pod in world.pods.values():
        if pod.deleting_at is None and pod.phase == "Running" and pod.node is not None:
            by_service[pod.service].append(pod)
    ready = {name: [p for p in pods if p.ready] for name, pods in by_service.items()}
    serving = _serving(world, ready)
    sat = _cpu(world, rps, by_service, serving)
    dns = dns_ok(world)
    dt = world.dt
    for name in reversed(ORDER):
        p = world.profiles[name]
        st: ServiceStats = world.stats[name]
        reach = _reachable(world, name, serving[name])
        st.rps, st.reachable = rps[name], len(reach)
        if not reach:
            err, p50, causes = 1.0, 1.0, {"unavailable": 1.0}
        else:
            err, factor, causes = _own(world, name, reach, sat, dns)
            p50 = p.latency_ms * factor * (1 + 0.05 * world.rng.random()) + causes.pop("_extra_ms", 0.0)
            if name == "catalog" and world.cache_hit_ratio < 0.9:
                p50 += (0.95 - world.cache_hit_ratio) * 120
            for dep, d in p.deps.items():
                fail, dep_ms = _call(world.stats[dep], d)
                if fail:
                    key = f"upstream:{dep}" if d.critical else f"degraded:{dep}"
                    causes[key] = fail
                    if d.critical:
                        err = 1 - (1 - err) * (1 - fail)
                p50 += dep_ms
        st.error_ratio = min(1.0, err)
        st.p50_ms = p50
        st.p99_ms = p50 * (3.0 + 4.0 * min(1.0, st.error_ratio))
        st.causes = causes
        _count(st, rps[name] * dt)


def _call(dep: ServiceStats, d: Dependency) -> tuple[float, float]:
    """Share of requests failed by one dependency, and the latency its calls add."""
    touched = min(1.0, d.calls)
    dep_err = dep.error_ratio
    if dep.p99_ms > CALL_TIMEOUT_MS:
        dep_err = 1 - (1 - dep_err) * (1 - min(1.0, (dep.p99_ms - CALL_TIMEOUT_MS) / dep.p99_ms))
    fail = touched * (1 - (1 - dep_err) ** max(1.0, d.calls))
    return fail, d.calls * min(dep.p50_ms, CALL_TIMEOUT_MS)


def _count(st: ServiceStats, n: float) -> None:
    st.requests_err += n * st.error_ratio
    st.requests_4xx += n * 0.01
    st.requests_ok += n * (0.99 - st.error_ratio) if st.error_ratio < 0.99 else 0.0
    if not n:
        return
    if not st.latency_buckets:
        st.latency_buckets = [0.0] * len(BUCKETS)
    mu = math.log(max(st.p50_ms, 0.01) / 1000)
    sigma = max(0.1, math.log(st.p99_ms / st.p50_ms) / 2.326) if st.p50_ms > 0 else 1.0
    buckets = st.latency_buckets
    for i, share in enumerate(_bucket_shares(round(mu * 100), round(sigma * 50))):
        buckets[i] += n * share
    st.latency_sum += n * st.p50_ms / 1000 * math.exp(sigma * sigma / 2)


@functools.lru_cache(maxsize=4096)
def _bucket_shares(mu_centi: int, sigma_fiftieths: int) -> tuple[float, ...]:
    """Share of a log-normal latency distribution under each bucket bound. Quantised (1% in
    the median, 0.02 in sigma) so the per-tick cost is a cache lookup."""
    mu, scale = mu_centi / 100, 1 / (sigma_fiftieths / 50 * math.sqrt(2))
    return tuple(0.5 * (1 + math.erf((log_le - mu) * scale)) for log_le in _LOG_BUCKETS)
