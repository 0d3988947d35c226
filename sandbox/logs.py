"""Container logs as the real programs write them (JSON from Go, logback from Java, Python
tracebacks, nginx access lines, PostgreSQL, Redis, CoreDNS), and a store of ECS records."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from opsagent.sandbox.logstore import Batch, LogRecord
from opsagent.sandbox.logtext import ERRORS, NORMAL, QUIET, STARTUP, iso
from opsagent.sandbox.shop import ServiceProfile

if TYPE_CHECKING:
    from opsagent.sandbox.objects import Pod
    from opsagent.sandbox.world import World


_new = tuple.__new__  # a NamedTuple without its Python-level __new__: this runs per line


def process_name(profile: ServiceProfile) -> str:
    return {"java": "java", "python": "gunicorn", "go": profile.name, "nginx": "nginx",
            "postgres": "postgres", "redis": "redis-server", "coredns": "coredns",
            "batch": "python3"}[profile.log_style]


def _add(world: World, pod: Pod, level: str, message: str, ts: float) -> None:
    world.logs.append(_new(LogRecord, (
        ts, level, message, pod.namespace, pod.name, pod.containers[0].name, pod.service,
        pod.node or "",
    )))


def _facts(rng: random.Random, t: float, p50_ms: float, ip: str, image: str,
           service: str) -> dict[str, object]:
    """The facts one burst of lines is written from; one per pod and tick keeps it cheap."""
    r = rng.random()
    k = int(r * 1e9)  # one draw, spread over the small numbers a line needs
    return {
        "_t": t,
        "ts": iso(t),
        "ms": round(p50_ms * (0.5 + r), 1),
        "n": k % 99991,
        "thread": 1 + k % 197,
        "ip": f"10.244.{1 + k % 3}.{2 + k % 241}",
        "pod_ip": ip or "10.244.0.1",
        "image": image,
        "version": image.rsplit(":", 1)[-1],
        "svc": service,
        "pid": 40 + k % 887,
    }


def _ctx(world: World, pod: Pod, jitter: bool = True) -> dict[str, object]:
    t = world.now - (world.dt * world.rng.random() if jitter else 0.0)
    return _facts(world.rng, t, world.stats[pod.service].p50_ms, pod.ip,
                  pod.template.containers[0].image, pod.service)


def startup(world: World, pod: Pod) -> None:
    style = world.profile_of(pod).log_style
    ctx = _ctx(world, pod, jitter=False)
    for level, tpl in STARTUP[style]:
        _add(world, pod, level, tpl.format_map(ctx), world.now)


def crash(world: World, pod: Pod, error: str) -> None:
    style = world.profile_of(pod).log_style
    ctx = _ctx(world, pod, jitter=False) | {"error": error}
    level, tpl = ERRORS["fatal"][style]
    _add(world, pod, level, tpl.format_map(ctx), world.now)


def oom(world: World, pod: Pod) -> None:
    style = world.profile_of(pod).log_style
    if style == "java":
        _add(world, pod, "ERROR", "Exception in thread \"http-nio-8080-exec-4\" "
             "java.lang.OutOfMemoryError: Java heap space", world.now)


def _cause_key(world: World, cause: str) -> tuple[str, dict[str, object]]:
    """Map a traffic cause to an error template and the facts it needs."""
    if cause.startswith(("upstream:", "degraded:")):
        kind, dep = cause.split(":", 1)
        dep_causes = world.stats[dep].causes
        prof = world.profiles[dep]
        extra = {"dep": dep, "port": prof.port, "dep_ip": f"10.96.{len(dep)}.{len(dep) * 7 % 250}"}
        if kind == "degraded":
            return "degraded", extra
        if "unavailable" in dep_causes:
            return "refused", extra
        if world.stats[dep].p99_ms > 3000:
            return "timeout", extra
        return "upstream5xx", extra
    return cause, {}


def tick(world: World) -> None:
    """Note what every running container writes during this tick; the lines themselves are
    rendered by `render_batch` when someone reads them."""
    rng = world.rng
    resolved: dict[str, tuple] = {}
    rows = []
    cache_miss = world.cache_hit_ratio < 0.85
    for pod in world.pods.values():
        c = pod.containers[0]
        if c.state != "running" or pod.deleting_at is not None:
            continue
        service = pod.service
        if service not in resolved:
            resolved[service] = tuple(
                (*_cause_key(world, cause), share)
                for cause, share in world.stats[service].causes.items()
            )
        spec = pod.template.containers[0]
        limit = spec.limits.memory
        mem = (int(c.memory / 2**20), int(limit / 2**20)) if limit and c.memory > 0.85 * limit else None
        ready = pod.ready
        rows.append((
            (pod.namespace, pod.name, c.name, service, pod.node or ""),
            world.profiles[service].log_style, pod.rps, pod.ip, spec.image,
            world.stats[service].p50_ms, mem,
            ready and service == "catalog" and cache_miss,
            resolved[service] if ready else (),
        ))
    world.logs.add_batch(Batch(world.now, world.dt, rng.getrandbits(64), tuple(rows)))
    _datastore_lines(world)


def render_batch(batch: Batch) -> list[LogRecord]:
    """Write out one tick's routine lines, from the batch's own seed."""
    rng = random.Random(batch.seed)
    out: list[LogRecord] = []
    for ident, style, rps, ip, image, p50, mem, cache_miss, causes in batch.rows:
        ctx = _facts(rng, batch.t - batch.dt * rng.random(), p50, ip, image, ident[3])
        t = ctx["_t"]

        def add(level: str, message: str, ident: tuple = ident, t: object = t) -> None:
            out.append(_new(LogRecord, (t, level, message, *ident)))

        normal = NORMAL[style]
        lines = (rng.random() < QUIET[style]) if style in QUIET else (
            1 + (rng.random() < min(0.5, rps / 100)))
        for _ in range(lines):
            level, tpl = normal[int(rng.random() * len(normal))]
            add(level, tpl.format_map(ctx))
            ctx["n"] = int(rng.random() * 99999)
        if mem and style in ERRORS["memory"] and rng.random() < 0.5:
            level, tpl = ERRORS["memory"][style]
            add(level, tpl.format_map(ctx | {"used_mb": mem[0], "limit_mb": mem[1]}))
        if cache_miss:
            for _ in range(2):
                add("DEBUG", f"{ctx['ts']} DEBUG 1 --- [nio-8080-exec-{ctx['thread']}] "
                    f"c.shop.catalog.ProductCache : Cache miss for product:{ctx['n']}, loading "
                    "from database")
                ctx["n"] = int(rng.random() * 99999)
        for key, extra, share in causes:
            templates = ERRORS.get(key)
            if templates is None or style not in templates:
                continue
            count = (share > 0.02) + (share > 0.2) + (share > 0.6)
            level, tpl = templates[style]
            facts = ctx | extra if extra else ctx
            for _ in range(count):
                add(level, tpl.format_map(facts))
                facts["n"] = (facts["n"] * 7 + 13) % 99991  # type: ignore[operator]
    return out


def scanner_burst(world: World, service: str) -> None:
    """A vulnerability scanner walking the usual paths through the ingress."""
    pods = [p for p in world.pods.values() if p.service == service and p.ready]
    if not pods:
        return
    world.stats[service].requests_4xx += 25 * world.dt  # the scanner's requests, all 404
    for path in ("/.env", "/wp-login.php", "/.git/config", "/phpmyadmin/index.php", "/.aws/credentials"):
        pod = pods[int(world.rng.random() * len(pods))]
        ctx = _ctx(world, pod)
        line = (f'185.220.101.{ctx["thread"]} - - [{ctx["ts"]}] "GET {path} HTTP/1.1" 404 548 "-" '
                f'"Mozilla/5.0 zgrab/0.x" 241 0.001 [shop-frontend-8080] [] {pod.ip}:8080 548 '
                "0.001 404 -")
        _add(world, pod, "WARN", line, float(ctx["_t"]))


def component(world: World, host: str, service: str, level: str, message: str) -> None:
    """A line in a node or control-plane component's journal (kubelet, kube-scheduler)."""
    world.logs.append(LogRecord(world.now, level, message, "", "", "", service, host))


def _datastore_lines(world: World) -> None:
    """What PostgreSQL itself logs when its clients misbehave."""
    db = next((p for p in world.pods.values()
               if p.service == "postgres" and p.containers[0].state == "running"), None)
    if db is None:
        return
    t = world.now
    if world.db_connections > world.db_max_connections:
        for _ in range(3):
            _add(world, db, "FATAL", "FATAL:  sorry, too many clients already", t)
    pvc = world.pvcs.get((db.namespace, f"data-{db.name}"))
    if pvc is not None and pvc.used >= pvc.capacity:
        _add(world, db, "ERROR", 'ERROR:  could not extend file "base/16384/24601": '
             "No space left on device\nHINT:  Check free disk space.", t)
    stale = sum(1 for p in world.pods.values() if "postgres-credentials" in p.template.secrets
                and p.service != "postgres" and p.ready
                and "db_auth" in world.stats[p.service].causes)
    for _ in range(min(stale, 4)):
        _add(world, db, "FATAL", 'FATAL:  password authentication failed for user "shop"\n'
             'DETAIL:  Connection matched pg_hba.conf line 99: "host all all all scram-sha-256"', t)
