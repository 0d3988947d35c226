"""The Elasticsearch REST subset log investigation uses, over the simulated cluster's logs.
The official `elasticsearch` client (8.x/9.x) works against it unchanged."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from opsagent.sandbox.kube.app import Cluster
from opsagent.sandbox.search.errors import ParsingError, SearchError
from opsagent.sandbox.search.index import LogIndex

MEDIA = "application/vnd.elasticsearch+json;compatible-with=9"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}


class SearchCredentials:
    """Basic auth (user `elastic`) or an API key, as a real cluster with security on."""

    def __init__(self, password: str | None = None, api_key_id: str = "sandbox"):
        self.password = password or secrets.token_urlsafe(18)
        self.api_key_id = api_key_id
        self.api_key_secret = secrets.token_urlsafe(18)

    @property
    def api_key(self) -> str:
        return base64.b64encode(f"{self.api_key_id}:{self.api_key_secret}".encode()).decode()

    def accepts(self, header: str) -> bool:
        basic = base64.b64encode(f"elastic:{self.password}".encode()).decode()
        return any(secrets.compare_digest(header.encode(), f"{scheme} {value}".encode())
                   for scheme, value in (("Basic", basic), ("ApiKey", self.api_key)))


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=HEADERS, media_type=MEDIA)


def _error(exc: SearchError) -> JSONResponse:
    return _json(exc.body(), exc.status)


def create_app(cluster: Cluster, creds: SearchCredentials) -> FastAPI:
    index = LogIndex(lambda: cluster.world.now)
    app = FastAPI(title="opsagent sandbox: Elasticsearch API", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.index = index

    served = {"world": cluster.world}

    def sync() -> None:
        """Index whatever the world has logged since the last request (all of it, when the
        sandbox has been loaded with a new scenario)."""
        with cluster.lock:
            if served["world"] is not cluster.world:
                index.reset()
                served["world"] = cluster.world
            records = cluster.world.logs.records
            fresh = records[sum(index.indices.values()):]
        index.add(fresh)

    @app.middleware("http")
    async def authenticate(request: Request, call_next):  # type: ignore[no-untyped-def]
        if not creds.accepts(request.headers.get("authorization", "")):
            err = SearchError(f"missing authentication credentials for REST request [{request.url.path}]",
                              "security_exception", 401)
            response = _error(err)
            response.headers["WWW-Authenticate"] = 'Basic realm="security" charset="UTF-8", ApiKey'
            return response
        return await call_next(request)

    @app.exception_handler(SearchError)
    async def search_error(request: Request, exc: SearchError) -> JSONResponse:
        return _error(exc)

    @app.api_route("/", methods=["GET", "HEAD"])
    def info() -> JSONResponse:
        return _json({"name": "sandbox-es-0", "cluster_name": "opsagent-sandbox",
                      "cluster_uuid": "sAnDbOxClUsTeRuUiD0001",
                      "version": {"number": "9.1.0", "build_flavor": "default", "build_type": "docker",
                                  "lucene_version": "10.2.2",
                                  "minimum_wire_compatibility_version": "8.19.0",
                                  "minimum_index_compatibility_version": "8.0.0"},
                      "tagline": "You Know, for Search"})

    @app.get("/_cluster/health")
    def health() -> JSONResponse:
        return _json({"cluster_name": "opsagent-sandbox", "status": "green", "number_of_nodes": 1,
                      "active_shards": len(index.indices)})

    @app.get("/_cat/indices")
    @app.get("/_cat/indices/{pattern}")
    async def cat(pattern: str | None = None) -> JSONResponse:
        await run_in_threadpool(sync)
        rows = [{"health": "green", "status": "open", "index": name, "docs.count": str(index.indices[name])}
                for name in index.resolve(pattern, ignore_unavailable=True)]
        return _json(rows)

    @app.get("/{target}/_mapping")
    def mapping(target: str) -> JSONResponse:
        keyword = {"type": "keyword"}
        props = {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                 "log": {"properties": {"level": keyword}},
                 "kubernetes": {"properties": {"namespace": keyword, "pod": {"properties": {"name": keyword}},
                                               "container": {"properties": {"name": keyword}}}},
                 "service": {"properties": {"name": keyword}}, "host": {"properties": {"name": keyword}}}
        return _json({name: {"mappings": {"properties": props}} for name in index.resolve(target)})

    async def body_of(request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if not raw:
            return None
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParsingError(f"request body is not valid JSON: {exc.msg}",
                               "x_content_parse_exception") from None
        if not isinstance(body, dict):
            raise ParsingError("request body must be an object", "x_content_parse_exception")
        return body

    def with_params(body: dict[str, Any] | None, request: Request) -> dict[str, Any]:
        body = dict(body or {})
        q = request.query_params
        if q.get("q"):
            body["query"] = {"query_string": {"query": q["q"]}}
        for key in ("size", "from"):
            if q.get(key):
                body[key] = int(q[key])
        if q.get("sort"):
            body["sort"] = q["sort"].split(",")
        if q.get("_source") in ("false", "true"):
            body["_source"] = q["_source"] == "true"
        if q.get("track_total_hits") in ("true", "false"):
            body["track_total_hits"] = q["track_total_hits"] == "true"
        return body

    @app.api_route("/_search", methods=["GET", "POST"])
    @app.api_route("/{target}/_search", methods=["GET", "POST"])
    async def search(request: Request, target: str | None = None) -> JSONResponse:
        body = with_params(await body_of(request), request)
        await run_in_threadpool(sync)
        return _json(await run_in_threadpool(index.search, target, body))

    @app.api_route("/_count", methods=["GET", "POST"])
    @app.api_route("/{target}/_count", methods=["GET", "POST"])
    async def count(request: Request, target: str | None = None) -> JSONResponse:
        body = await body_of(request)
        if request.query_params.get("q"):
            body = {"query": {"query_string": {"query": request.query_params["q"]}}}
        await run_in_threadpool(sync)
        return _json(await run_in_threadpool(index.count, target, body))

    @app.head("/{target}")
    async def exists(target: str) -> Response:
        await run_in_threadpool(sync)
        found = index.resolve(target, ignore_unavailable=True)
        return Response(status_code=200 if found else 404, headers=HEADERS)

    return app
