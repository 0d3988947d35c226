"""The Kubernetes API server: discovery, get/list (JSON or Table), watch, selectors, paging, pod
logs, PATCH, scale, delete and eviction (within disruption budgets), access reviews, with
bearer-token auth and errors as `Status` objects."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from opsagent.sandbox.errors import ConflictError, NotFoundError, SandboxError
from opsagent.sandbox.kube import mutations, watch
from opsagent.sandbox.kube.access import access_review, rules_review
from opsagent.sandbox.kube.logs import pod_log
from opsagent.sandbox.kube.patch import APPLY, apply_patch
from opsagent.sandbox.kube.render_extra import eviction_refused
from opsagent.sandbox.kube.resources import BY_PATH, GROUPS, Resource, resource_list
from opsagent.sandbox.kube.selectors import field_selector, label_selector
from opsagent.sandbox.kube.tables import table
from opsagent.sandbox.world import World

Json = dict[str, Any]
OPEN_PATHS = ("/version", "/healthz", "/livez", "/readyz")


def status(code: int, reason: str, message: str, details: Json | None = None) -> JSONResponse:
    body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=code)


class Cluster:
    """What the API server serves: a world, the lock that guards it, and the token it checks."""

    def __init__(self, world: World, token: str | None = None):
        self.world = world
        self.lock = threading.RLock()
        self.token = token or secrets.token_urlsafe(24)
        self.changed = threading.Condition()  # notified after each write: watches look at once
        self.closed = threading.Event()  # the server stops: every watch ends


def create_app(cluster: Cluster) -> FastAPI:
    app = FastAPI(title="opsagent sandbox: Kubernetes API", openapi_url=None, docs_url=None,
                  redoc_url=None)

    @app.middleware("http")
    async def authenticate(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path not in OPEN_PATHS:
            header = request.headers.get("authorization", "")
            if not secrets.compare_digest(header.encode(), f"Bearer {cluster.token}".encode()):
                return status(401, "Unauthorized", "Unauthorized")
        return await call_next(request)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return status(500, "InternalError", f"an error on the server ({type(exc).__name__}: {exc}) "
                      "has prevented the request from succeeding")

    @app.get("/version")
    def version() -> Json:
        return {"major": "1", "minor": "30", "gitVersion": "v1.30.4", "gitCommit": "sandbox",
                "gitTreeState": "clean", "buildDate": "2026-08-14T00:00:00Z", "goVersion": "go1.22.5",
                "compiler": "gc", "platform": "linux/amd64"}

    @app.get("/healthz")
    @app.get("/livez")
    @app.get("/readyz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/api")
    def api_versions(request: Request) -> Json:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.netloc}]}

    @app.get("/apis")
    def api_groups() -> Json:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUPS]}

    @app.api_route("/api/v1/{path:path}", methods=["GET", "PATCH", "DELETE", "POST", "PUT"])
    async def core(path: str, request: Request) -> Response:
        request.state.body = await request.body()
        return await run_in_threadpool(_dispatch, cluster, "v1", path, request)

    @app.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", status_code=201)
    async def can_i(request: Request) -> Json:
        return access_review(await _json(request))

    @app.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", status_code=201)
    async def can_i_list(request: Request) -> Json:
        return rules_review(await _json(request))

    @app.api_route("/apis/{group}/{version}/{path:path}",
                   methods=["GET", "PATCH", "DELETE", "POST", "PUT"])
    async def grouped(group: str, version: str, path: str, request: Request) -> Response:
        request.state.body = await request.body()
        return await run_in_threadpool(_dispatch, cluster, f"{group}/{version}", path, request)

    @app.get("/api/v1")
    def core_resources() -> Json:
        return resource_list("v1")

    @app.get("/apis/{group}/{version}")
    def group_resources(group: str, version: str) -> Response:
        if version not in GROUPS.get(group, []):
            return status(404, "NotFound", "the server could not find the requested resource")
        return JSONResponse(resource_list(f"{group}/{version}"))

    @app.get("/apis/{group}")
    def group_info(group: str) -> Response:
        if group not in GROUPS:
            return status(404, "NotFound", "the server could not find the requested resource")
        return JSONResponse({"kind": "APIGroup", "apiVersion": "v1", **_group(group)})

    return app


def _group(name: str) -> Json:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in GROUPS[name]]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def _dispatch(cluster: Cluster, gv: str, path: str, request: Request) -> Response:
    parts = [p for p in path.split("/") if p]
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    resource = BY_PATH.get((gv, parts[0])) if parts else None
    if resource is None:
        return status(404, "NotFound", "the server could not find the requested resource")
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    method = request.method
    try:
        with cluster.lock:
            if name is None:
                if method != "GET":
                    return status(405, "MethodNotAllowed", f"{method} is not supported on a list")
                if request.query_params.get("watch") in ("1", "true"):
                    return _watch(cluster, resource, namespace, request)
                return _list(cluster.world, resource, namespace, request)
            obj = _find(cluster.world, resource, namespace, name)
            response = _object(cluster.world, resource, obj, sub, request)
        if method != "GET":
            with cluster.changed:
                cluster.changed.notify_all()
        return response
    except SandboxError as exc:
        return status(exc.code, exc.reason, str(exc))


def _watch(cluster: Cluster, res: Resource, namespace: str | None, request: Request) -> Response:
    _select(cluster.world, res, namespace, request)  # a bad selector fails now, not in the stream

    def select() -> tuple[list[Json], float]:
        with cluster.lock:
            return _select(cluster.world, res, namespace, request), cluster.world.now

    return watch.stream(res, select, request, cluster.changed, cluster.closed)


def _find(world: World, res: Resource, namespace: str | None, name: str) -> Any:
    for obj in res.items(world):
        ns, n = res.key(obj)
        if n == name and (not res.namespaced or ns == namespace):
            return obj
    raise _not_found(res, name)


def _not_found(res: Resource, name: str) -> SandboxError:
    err = NotFoundError(res.kind, name)
    err.args = (f'{res.name} "{name}" not found',)
    return err


def _select(world: World, res: Resource, namespace: str | None, request: Request) -> list[Json]:
    """The objects a list returns (selectors applied), in the apiserver's order."""
    q = request.query_params
    match_labels = label_selector(q.get("labelSelector"))
    match_fields = field_selector(q.get("fieldSelector"), res.fields)
    objects = []
    for obj in res.items(world):
        ns, _ = res.key(obj)
        if res.namespaced and namespace is not None and ns != namespace:
            continue
        doc = _versioned(world, res.to_json(world, obj))
        if match_labels(doc["metadata"].get("labels") or {}) and match_fields(doc):
            objects.append(doc)
    objects.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    return objects


def _list(world: World, res: Resource, namespace: str | None, request: Request) -> Response:
    q = request.query_params
    objects = _select(world, res, namespace, request)
    start = int(base64.b64decode(q["continue"]).decode()) if q.get("continue") else 0
    limit = int(q["limit"]) if q.get("limit") else 0
    page = objects[start:start + limit] if limit else objects[start:]
    meta: Json = {"resourceVersion": str(int(world.now))}
    if limit and start + limit < len(objects):
        meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
        meta["remainingItemCount"] = len(objects) - start - limit
    if "as=Table" in request.headers.get("accept", ""):
        return JSONResponse(table(res.columns or res.name, page, world.now, meta["resourceVersion"],
                                  q.get("includeObject")) | {"metadata": meta})
    return JSONResponse({"kind": f"{res.kind}List", "apiVersion": res.group_version,
                         "metadata": meta, "items": page})


def _object(world: World, res: Resource, obj: Any, sub: str | None, request: Request) -> Response:
    method = request.method
    ns, name = res.key(obj)
    if sub == "log" and method == "GET":
        return PlainTextResponse(pod_log(world, obj, request.query_params))
    if sub == "eviction" and method == "POST":
        refused = eviction_refused(world, obj)
        if refused:  # as the apiserver answers; kubectl drain waits and tries again
            return status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                          "budget.", {"causes": [{"reason": "DisruptionBudget", "message": refused}]})
        options = (_body(request) or {}).get("deleteOptions") or {}
        mutations.delete_pod(world, ns, name, options.get("gracePeriodSeconds"))
        return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Success"}, status_code=201)
    if sub == "scale":
        current = mutations.scale_json(obj)
        if method == "GET":
            return JSONResponse(current)
        if method == "PATCH":
            patched = apply_patch(current, _media(request), _body(request), "Scale", name)
            mutations.patch_scale(world, obj, current, patched)
            return JSONResponse(mutations.scale_json(obj))
    if sub not in (None, "status"):
        return status(404, "NotFound", "the server could not find the requested resource")
    current = _versioned(world, res.to_json(world, obj))
    if method == "GET":
        if "as=Table" in request.headers.get("accept", ""):
            return JSONResponse(table(res.columns or res.name, [current], world.now, str(int(world.now)),
                                      request.query_params.get("includeObject")))
        return JSONResponse(current)
    if method == "PATCH" and "patch" in res.verbs:
        body = _body(request)
        wanted = ((body.get("metadata") or {}).get("resourceVersion")
                  if isinstance(body, dict) else None)
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(f'Operation cannot be fulfilled on {res.name} "{name}": the object '
                                "has been modified; please apply your changes to the latest "
                                "version and try again")
        patched = apply_patch(current, _media(request), body, res.kind, name)
        if res.name in ("deployments", "statefulsets"):
            mutations.patch_workload(world, obj, current, patched)
        else:
            mutations.patch_other(world, res.name, obj, current, patched)
        return JSONResponse(_versioned(world, res.to_json(world, obj)))
    if method == "DELETE" and "delete" in res.verbs:
        body = _body(request) or {}
        grace = request.query_params.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        mutations.delete_pod(world, ns, name, int(grace) if grace is not None else None)
        remaining = world.pods.get((ns, name))
        return JSONResponse(res.to_json(world, remaining) if remaining else current)
    return status(405, "MethodNotAllowed", f"{method} is not supported on {res.name} in the sandbox")


async def _json(request: Request) -> Json:
    request.state.body = await request.body()
    body = _body(request)
    return body if isinstance(body, dict) else {}


def _versioned(world: World, doc: Json) -> Json:
    """Objects change with every tick of the simulation, so the tick is their resourceVersion;
    a write that names an older one is a conflict, as on a real API server."""
    doc["metadata"]["resourceVersion"] = str(int(world.now))
    return doc


def _media(request: Request) -> str:
    media = request.headers.get("content-type", "application/strategic-merge-patch+json")
    if media.startswith(APPLY):
        raise SandboxError("server-side apply is not supported by the sandbox")
    return media


def _body(request: Request) -> Any:
    raw = request.state.body if hasattr(request.state, "body") else None
    if raw is None:
        return None
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise SandboxError(f"the request body is not valid JSON: {exc}") from None

