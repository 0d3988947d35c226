"""A proxy in front of the sandbox's Kubernetes API: the independent witness of what reached the
apiserver (every request in order, every mutation by object), and the source of trouble: for a
while it holds every request past the client's timeout (then forwards it: a stalled apiserver
that applies late); for chosen methods it holds the answer after the apiserver applied the
request, or loses the request on the way; and it can kill a process right after a mutation was
applied and before the answer goes back, the worst moment for a crash. The chaos run and the
side-effect tests use it."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, Request, Response

from opsagent.sandbox.httpserver import AppServer

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# /api/v1/namespaces/shop/pods/x/eviction -> pods/shop/x (an eviction mutates the pod)
_OBJECT = re.compile(r"/(?:namespaces/(?P<ns>[^/]+)/)?(?P<kind>[a-z]+)/(?P<name>[^/?]+)")


# The object each mutating tool changes, by its arguments (a drain also evicts pods).
KIND = {"k8s_delete_pod": "pods", "k8s_cordon": "nodes", "k8s_uncordon": "nodes", "k8s_drain": "nodes",
        "k8s_expand_pvc": "persistentvolumeclaims", "k8s_patch_service_port": "services",
        "k8s_patch_hpa": "horizontalpodautoscalers", "k8s_patch_configmap": "configmaps",
        "cert_renew": "certificates", "external_secret_refresh": "externalsecrets"}


def target_of(tool: str, args: dict[str, Any]) -> str:
    """`kind/namespace/name` of what a ledger execution changes (Deployments unless listed)."""
    kind = KIND.get(tool, "deployments")
    if kind == "nodes":
        return f"nodes/-/{args.get('node')}"
    return f"{kind}/{args.get('namespace', 'shop')}/{args.get('name')}"


def object_of(path: str) -> str:
    """`kind/namespace/name` of the object a request changes (its subresource's owner)."""
    found = list(_OBJECT.finditer(path.split("?")[0]))
    if not found:
        return path
    m = found[-1] if found[-1]["kind"] != "namespaces" else found[0]
    if m["kind"] in ("eviction", "scale", "status") and len(found) > 1:
        m = found[-2]
    return f"{m['kind']}/{m['ns'] or '-'}/{m['name']}"


class KubeWitness:
    def __init__(self, upstream: str, hold: frozenset[str] = frozenset(), hold_s: float = 0.0,
                 lose_held: bool = False):
        """`hold`: methods whose answer comes `hold_s` late, after the apiserver applied them (or,
        with `lose_held`, that never reach it: 504 after `hold_s`)."""
        self._client = httpx.AsyncClient(base_url=upstream, verify=False, timeout=120)
        self.hold, self.hold_s, self.lose_held = hold, hold_s, lose_held
        self.mutations: Counter[str] = Counter()
        self.sent: list[str] = []  # "METHOD /path" of each request the apiserver received
        self._lock = threading.Lock()
        self.stall_until = 0.0
        self.stall_s = 0.0
        self.kill_after_mutations = 0
        self.on_kill: Callable[[], None] = lambda: None
        self.kills = 0
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        async def forward(path: str, request: Request) -> Response:
            body = await request.body()
            keep = ("authorization", "content-type", "accept")
            headers = {k: v for k, v in request.headers.items() if k in keep}
            if time.monotonic() < self.stall_until:
                await asyncio.sleep(self.stall_s)
            held = request.method in self.hold
            if held and self.lose_held:  # lost on the way: the apiserver never sees it
                await asyncio.sleep(self.hold_s)
                return Response(status_code=504)
            r = await self._client.request(
                request.method, "/" + path, params=request.query_params, content=body, headers=headers
            )
            with self._lock:
                self.sent.append(f"{request.method} /{path}")
                applied = request.method in MUTATING and r.status_code < 400
                if applied:
                    self.mutations[object_of("/" + path)] += 1
                kill = applied and self.kill_after_mutations > 0
                if kill:
                    self.kill_after_mutations -= 1
                    self.kills += 1
            if kill:
                self.on_kill()  # applied upstream; the service dies before it hears so
            if held:
                await asyncio.sleep(self.hold_s)  # applied upstream; the answer comes too late
            return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))

        self.server = AppServer(app, "kube-witness").start()

    def stall(self, for_s: float, hold_s: float) -> None:
        """Hold every request that arrives in the next `for_s` seconds for `hold_s`."""
        self.stall_s = hold_s
        self.stall_until = time.monotonic() + for_s

    def kubeconfig(self, source: Path, dest: Path) -> Path:
        """`source` with its server replaced by this proxy."""
        config = yaml.safe_load(source.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = self.server.url
            cluster["cluster"].pop("certificate-authority-data", None)
            cluster["cluster"].pop("certificate-authority", None)
        dest.write_text(yaml.safe_dump(config))
        dest.chmod(0o600)
        return dest

    def stop(self) -> None:
        self.server.stop()
