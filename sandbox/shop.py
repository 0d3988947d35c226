"""The demo application the sandbox runs: an online shop of nine services plus the cluster's
own components, each described by a profile of how it behaves under load and failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsagent.sandbox.objects import GiB, MiB

REGISTRY = "registry.shop.internal"


@dataclass(frozen=True)
class Dependency:
    calls: float  # calls per incoming request
    critical: bool = True  # a failed call fails the request (else it degrades gracefully)


@dataclass(frozen=True)
class ServiceProfile:
    name: str
    namespace: str
    log_style: str  # go | java | python | nginx | postgres | redis | coredns | batch
    replicas: int
    image: str  # repository, without tag
    versions: tuple[str, str]  # (previous, current) known-good releases
    port: int
    cpu_request: float
    cpu_limit: float
    mem_request: int
    mem_limit: int
    base_memory: int
    cpu_base: float  # cores when idle
    cpu_per_rps: float  # cores per request/s
    latency_ms: float  # own median latency
    deps: dict[str, Dependency] = field(default_factory=dict)
    entry_rps: float = 0.0  # external traffic arriving here
    external: str | None = None  # host of an external API it calls over TLS
    env: dict[str, str] = field(default_factory=dict)
    required_env: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    configmaps: tuple[str, ...] = ()
    db_pool: int = 0  # connections each pod holds to postgres
    write_share: float = 0.0  # share of requests that write to the database
    kind: str = "Deployment"
    pvc: str | None = None
    probe_path: str = "/healthz"
    startup_s: float = 10.0
    tier: str = "backend"
    hpa_max: int = 0  # 0: no HorizontalPodAutoscaler


def _p(**kw) -> ServiceProfile:
    return ServiceProfile(**kw)


PROFILES: dict[str, ServiceProfile] = {
    p.name: p
    for p in [
        _p(name="ingress-nginx-controller", namespace="ingress-nginx", log_style="nginx",
           replicas=2, image="registry.k8s.io/ingress-nginx/controller",
           versions=("v1.11.2", "v1.11.3"), port=80, cpu_request=0.1, cpu_limit=1.0,
           mem_request=90 * MiB, mem_limit=512 * MiB, base_memory=110 * MiB, cpu_base=0.01,
           cpu_per_rps=0.0006, latency_ms=1.0, deps={"frontend": Dependency(1.0)},
           entry_rps=120.0, tier="edge", startup_s=5),
        _p(name="frontend", namespace="shop", log_style="go", replicas=3,
           image=f"{REGISTRY}/shop/frontend", versions=("3.4.1", "3.5.0"), port=8080,
           cpu_request=0.25, cpu_limit=0.5, mem_request=128 * MiB, mem_limit=256 * MiB,
           base_memory=70 * MiB, cpu_base=0.005, cpu_per_rps=0.0025, latency_ms=6.0,
           deps={"auth": Dependency(0.3), "catalog": Dependency(0.8),
                 "cart": Dependency(0.35), "checkout": Dependency(0.05),
                 "recommendation": Dependency(0.4, critical=False)},
           env={"CATALOG_URL": "http://catalog:8080", "CART_URL": "http://cart:8080",
                "CHECKOUT_URL": "http://checkout:8080", "AUTH_URL": "http://auth:8080",
                "RECOMMENDATION_URL": "http://recommendation:8080", "LOG_LEVEL": "info"},
           required_env=("CATALOG_URL", "CART_URL", "CHECKOUT_URL", "AUTH_URL"),
           tier="frontend", hpa_max=6, startup_s=5),
        _p(name="auth", namespace="shop", log_style="python", replicas=2,
           image=f"{REGISTRY}/shop/auth", versions=("1.12.0", "1.12.2"), port=8080,
           cpu_request=0.1, cpu_limit=0.5, mem_request=160 * MiB, mem_limit=320 * MiB,
           base_memory=140 * MiB, cpu_base=0.004, cpu_per_rps=0.004, latency_ms=9.0,
           deps={"postgres": Dependency(1.0), "redis": Dependency(1.0)},
           env={"DB_HOST": "postgres", "DB_NAME": "auth", "REDIS_ADDR": "redis:6379",
                "JWT_ISSUER": "shop.internal"},
           required_env=("DB_HOST", "REDIS_ADDR"), secrets=("postgres-credentials",),
           db_pool=5, write_share=0.1),
        _p(name="cart", namespace="shop", log_style="go", replicas=2,
           image=f"{REGISTRY}/shop/cart", versions=("2.7.3", "2.8.0"), port=8080,
           cpu_request=0.1, cpu_limit=0.5, mem_request=64 * MiB, mem_limit=192 * MiB,
           base_memory=45 * MiB, cpu_base=0.003, cpu_per_rps=0.002, latency_ms=3.0,
           deps={"redis": Dependency(2.0)}, env={"REDIS_ADDR": "redis:6379"},
           required_env=("REDIS_ADDR",)),
        _p(name="catalog", namespace="shop", log_style="java", replicas=2,
           image=f"{REGISTRY}/shop/catalog", versions=("5.2.0", "5.3.1"), port=8080,
           cpu_request=0.25, cpu_limit=1.0, mem_request=512 * MiB, mem_limit=768 * MiB,
           base_memory=430 * MiB, cpu_base=0.02, cpu_per_rps=0.004, latency_ms=12.0,
           deps={"redis": Dependency(1.0), "postgres": Dependency(0.2)},
           env={"SPRING_DATASOURCE_URL": "jdbc:postgresql://postgres:5432/catalog",
                "REDIS_ADDR": "redis:6379", "JAVA_OPTS": "-Xmx512m"},
           required_env=("SPRING_DATASOURCE_URL", "REDIS_ADDR"),
           secrets=("postgres-credentials",), db_pool=10, startup_s=25),
        _p(name="checkout", namespace="shop", log_style="java", replicas=2,
           image=f"{REGISTRY}/shop/checkout", versions=("2.3.0", "2.3.1"), port=8080,
           cpu_request=0.25, cpu_limit=1.0, mem_request=512 * MiB, mem_limit=768 * MiB,
           base_memory=420 * MiB, cpu_base=0.02, cpu_per_rps=0.01, latency_ms=45.0,
           deps={"cart": Dependency(1.0), "catalog": Dependency(2.0),
                 "payment": Dependency(1.0), "postgres": Dependency(3.0)},
           env={"SPRING_DATASOURCE_URL": "jdbc:postgresql://postgres:5432/orders",
                "PAYMENT_URL": "http://payment:8080", "CART_URL": "http://cart:8080",
                "CATALOG_URL": "http://catalog:8080", "DB_POOL_MAX": "10"},
           required_env=("SPRING_DATASOURCE_URL", "PAYMENT_URL"),
           secrets=("postgres-credentials",), db_pool=10, write_share=0.6, startup_s=25),
        _p(name="payment", namespace="shop", log_style="python", replicas=2,
           image=f"{REGISTRY}/shop/payment", versions=("4.0.2", "4.1.0"), port=8080,
           cpu_request=0.1, cpu_limit=0.5, mem_request=128 * MiB, mem_limit=256 * MiB,
           base_memory=110 * MiB, cpu_base=0.003, cpu_per_rps=0.01, latency_ms=20.0,
           external="api.paygate.example", env={"PAYGATE_URL": "https://api.paygate.example"},
           required_env=("PAYGATE_URL",), secrets=("paygate-client-tls",)),
        _p(name="recommendation", namespace="shop", log_style="python", replicas=2,
           image=f"{REGISTRY}/shop/recommendation", versions=("0.9.4", "0.9.5"), port=8080,
           cpu_request=0.2, cpu_limit=1.0, mem_request=256 * MiB, mem_limit=512 * MiB,
           base_memory=230 * MiB, cpu_base=0.01, cpu_per_rps=0.006, latency_ms=25.0,
           deps={"catalog": Dependency(1.0)}, env={"CATALOG_URL": "http://catalog:8080"},
           required_env=("CATALOG_URL",)),
        _p(name="redis", namespace="shop", log_style="redis", replicas=1,
           image="docker.io/library/redis", versions=("7.2.4", "7.2.5"), port=6379,
           cpu_request=0.1, cpu_limit=1.0, mem_request=512 * MiB, mem_limit=1 * GiB,
           base_memory=600 * MiB, cpu_base=0.01, cpu_per_rps=0.00008, latency_ms=0.4,
           configmaps=("redis-config",), probe_path="tcp:6379", startup_s=3, tier="data"),
        _p(name="postgres", namespace="shop", log_style="postgres", replicas=1,
           kind="StatefulSet", image="docker.io/library/postgres", versions=("16.3", "16.4"),
           port=5432, cpu_request=0.5, cpu_limit=2.0, mem_request=1 * GiB, mem_limit=2 * GiB,
           base_memory=700 * MiB, cpu_base=0.03, cpu_per_rps=0.0008, latency_ms=1.5,
           configmaps=("postgres-config",), secrets=("postgres-credentials",), pvc="data",
           probe_path="exec:pg_isready", startup_s=20, tier="data"),
        _p(name="coredns", namespace="kube-system", log_style="coredns", replicas=2,
           image="registry.k8s.io/coredns/coredns", versions=("v1.11.1", "v1.11.3"), port=53,
           cpu_request=0.1, cpu_limit=0.5, mem_request=70 * MiB, mem_limit=170 * MiB,
           base_memory=28 * MiB, cpu_base=0.002, cpu_per_rps=0.00002, latency_ms=0.3,
           configmaps=("coredns",), probe_path="/ready", startup_s=3, tier="system"),
        _p(name="report-generator", namespace="batch", log_style="batch", replicas=1,
           image=f"{REGISTRY}/analytics/report-generator", versions=("1.4.0", "1.4.1"),
           port=8080, cpu_request=0.1, cpu_limit=0.5, mem_request=256 * MiB,
           mem_limit=1 * GiB, base_memory=300 * MiB, cpu_base=0.05, cpu_per_rps=0.0,
           latency_ms=0.0, tier="batch"),
    ]
}

APP_NAMESPACE = "shop"
ENTRY = "ingress-nginx-controller"
NODE_NAMES = ("ip-10-0-1-21", "ip-10-0-2-37", "ip-10-0-3-52")
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def call_order() -> list[str]:
    """Services in topological order, callers before callees."""
    seen: list[str] = []

    def visit(name: str) -> None:
        for dep in PROFILES[name].deps:
            if dep not in seen:
                visit(dep)
        if name not in seen:
            seen.append(name)

    for name in PROFILES:
        visit(name)
    return list(reversed(seen))
