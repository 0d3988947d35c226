"""The clients the tools use, built once from `ToolsConfig`: the official kubernetes client,
prometheus-api-client and the elasticsearch client, with timeouts and retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from elasticsearch import Elasticsearch
from kubernetes import client, config
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from opsagent.tools.config import ToolsConfig

T = TypeVar("T")


class Transient(Exception):
    """A backend did not answer in time, after the retries."""


class ToolContext:
    def __init__(self, cfg: ToolsConfig, now: Callable[[], float] = time.time):
        self.cfg = cfg
        # The environment's clock: the wall clock on a real cluster; a simulation's own time
        # when it runs faster than real time (PromQL is evaluated at this instant).
        self.now = now

    @cached_property
    def kube(self) -> client.ApiClient:
        if self.cfg.kubeconfig is None:
            try:
                config.load_incluster_config()
                return self._bounded(client.ApiClient())
            except config.ConfigException:
                pass
        api = config.new_client_from_config(
            config_file=str(self.cfg.kubeconfig) if self.cfg.kubeconfig else None,
            context=self.cfg.kube_context)
        return self._bounded(api)

    def _bounded(self, api: client.ApiClient) -> client.ApiClient:
        """Every request gets a timeout (the client has none by default: a stalled apiserver
        would hold a worker for good), and the client itself retries only connections that
        never reached the server; anything else is retried, for reads alone, by `retry()`."""
        api.rest_client.pool_manager.connection_pool_kw["retries"] = Retry(
            total=self.cfg.retries, connect=self.cfg.retries, read=0, status=0, other=0, redirect=0)
        request = api.rest_client.request
        bound = (min(5.0, self.cfg.timeout_s), self.cfg.timeout_s)

        def timed(*args: object, _request_timeout: object = None, **kw: object) -> object:
            return request(*args, _request_timeout=_request_timeout or bound, **kw)

        api.rest_client.request = timed
        return api

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.kube)

    @cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.kube)

    @cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.kube)

    @cached_property
    def prometheus(self) -> PrometheusConnect:
        # No retries inside the client: `retry()` below is the one place they happen.
        return PrometheusConnect(url=self.cfg.prometheus_url, disable_ssl=True,
                                 retry=Retry(total=0, connect=0, read=0, status=0),
                                 timeout=self.cfg.timeout_s)

    @cached_property
    def elasticsearch(self) -> Elasticsearch:
        auth: dict = {}
        if self.cfg.elasticsearch_api_key:
            auth["api_key"] = self.cfg.elasticsearch_api_key
        elif self.cfg.elasticsearch_username:
            auth["basic_auth"] = (self.cfg.elasticsearch_username, self.cfg.elasticsearch_password or "")
        return Elasticsearch(self.cfg.elasticsearch_url, request_timeout=self.cfg.timeout_s,
                             max_retries=self.cfg.retries, retry_on_timeout=True, **auth)

    def retry(self, fn: Callable[[], T], transient: tuple[type[BaseException], ...]) -> T:
        """Call `fn`, retrying transient failures with exponential backoff."""
        delay = 0.2
        for attempt in range(self.cfg.retries + 1):
            try:
                return fn()
            except transient as exc:
                if attempt == self.cfg.retries:
                    raise Transient(f"{type(exc).__name__}: {exc} (after {attempt + 1} attempts)") from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def close(self) -> None:
        for name in ("kube", "elasticsearch"):
            if name in self.__dict__:
                self.__dict__[name].close()
