"""Read-only Kubernetes tools over the official client: pods, a pod's description and logs,
events, deployments (with rollout history), nodes, services and their endpoints."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes.client.rest import ApiException
from pydantic import Field

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext

TRANSIENT = (urllib3.exceptions.HTTPError, TimeoutError, ConnectionError)
Name = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)


def _age(when: Any, now: float) -> str:
    if when is None:
        return "?"
    seconds = int(now - when.timestamp())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def guard(ctx: ToolContext, tool: str, a: Args, fn: Callable[[], ToolResult],
          missing: Callable[[], list[str]] | None = None, retry: bool = True) -> ToolResult:
    """Run a Kubernetes call; a 404 becomes "not found" with close names, other API errors
    their message; timeouts are retried (unless `retry` is off: mutations), then reported."""
    try:
        return ctx.retry(fn, TRANSIENT) if retry else fn()
    except ApiException as exc:
        if exc.status == 404 and missing is not None:
            name = getattr(a, "name", "")
            close = difflib.get_close_matches(name, missing(), n=5, cutoff=0.4)
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            return ToolResult(tool=tool, args=a.model_dump(), status="error",
                              error=f"{name!r} not found in namespace {getattr(a, 'namespace', '')!r}{hint}")
        return ToolResult(tool=tool, args=a.model_dump(), status="error",
                          error=f"Kubernetes API {exc.status} {exc.reason}: {_message(exc)}")


def _message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", exc.body)
    except (TypeError, ValueError):
        return str(exc.body)


class ListPods(Args):
    namespace: str = Field(default="shop", description="namespace; '*' for all")
    label_selector: str = Field(default="", description="e.g. app.kubernetes.io/name=cart")
    node: str = Field(default="", description="only pods on this node")
    problems_only: bool = Field(default=False, description="only pods not Running and Ready, or "
                                "that have restarted")


def _pod_line(p: Any, now: float) -> tuple[str, bool]:
    statuses = p.status.container_statuses or []
    ready = sum(1 for c in statuses if c.ready)
    state = p.status.reason or p.status.phase
    if p.metadata.deletion_timestamp:
        state = "Terminating"
    for c in statuses:
        if c.state.waiting and c.state.waiting.reason:
            state = c.state.waiting.reason
    restarts = sum(c.restart_count for c in statuses)
    last = ""
    for c in statuses:
        if c.last_state and c.last_state.terminated:
            last = f" last={c.last_state.terminated.reason}({c.last_state.terminated.exit_code})"
    healthy = state == "Running" and ready == len(p.spec.containers) and not last
    line = (f"{p.metadata.namespace}/{p.metadata.name} ready={ready}/{len(p.spec.containers)} "
            f"status={state} restarts={restarts}{last} age={_age(p.metadata.creation_timestamp, now)} "
            f"node={p.spec.node_name or '-'}")
    return line, healthy


def _list_pods(ctx: ToolContext, a: ListPods) -> ToolResult:
    def run() -> ToolResult:
        kw: dict[str, Any] = {"label_selector": a.label_selector}
        if a.node:
            kw["field_selector"] = f"spec.nodeName={a.node}"
        pods = (ctx.core.list_pod_for_all_namespaces(**kw) if a.namespace == "*"
                else ctx.core.list_namespaced_pod(a.namespace, **kw)).items
        lines = [line for line, ok in (_pod_line(p, ctx.now()) for p in pods) if not (a.problems_only and ok)]
        if not lines:
            return ToolResult(tool="k8s_list_pods", args=a.model_dump(), status="no_data",
                              text="every matching pod is Running and Ready" if pods
                              else "no matching pods")
        return ToolResult(tool="k8s_list_pods", args=a.model_dump(), status="success",
                          text="\n".join(lines), data=[p.metadata.name for p in pods])
    return guard(ctx, "k8s_list_pods", a, run)


class PodRef(Args):
    name: str = Name
    namespace: str = Field(default="shop")


def _pod_names(ctx: ToolContext, namespace: str) -> Callable[[], list[str]]:
    return lambda: [p.metadata.name for p in ctx.core.list_namespaced_pod(namespace).items]


def _events_for(ctx: ToolContext, namespace: str, name: str, limit: int = 15) -> list[str]:
    events = ctx.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    events.sort(key=lambda e: e.last_timestamp or e.first_timestamp or 0)
    return [f"{_age(e.last_timestamp, ctx.now())} ago {e.type} {e.reason} (x{e.count or 1}): {e.message}"
            for e in events[-limit:]]


def _describe_pod(ctx: ToolContext, a: PodRef) -> ToolResult:
    def run() -> ToolResult:
        p = ctx.core.read_namespaced_pod(a.name, a.namespace)
        owner = (p.metadata.owner_references or [None])[0]
        lines = [_pod_line(p, ctx.now())[0],
                 f"owner: {owner.kind}/{owner.name}" if owner else "owner: none"]
        for spec in p.spec.containers:
            res = spec.resources
            lines.append(f"container {spec.name}: image={spec.image} requests={res.requests or {}} "
                         f"limits={res.limits or {}}")
            if spec.readiness_probe and spec.readiness_probe.http_get:
                lines.append(f"  readiness: GET :{spec.readiness_probe.http_get.port}"
                             f"{spec.readiness_probe.http_get.path}")
            env = {e.name: e.value for e in spec.env or []}
            if env:
                lines.append(f"  env: {env}")
        for c in p.status.container_statuses or []:
            state = next(((k, v) for k, v in (("running", c.state.running), ("waiting", c.state.waiting),
                                              ("terminated", c.state.terminated)) if v), ("unknown", None))
            reason = getattr(state[1], "reason", None) or ""
            message = getattr(state[1], "message", None) or ""
            lines.append(f"  state: {state[0]} {reason} {message}".rstrip())
            if c.last_state and c.last_state.terminated:
                t = c.last_state.terminated
                lines.append(f"  last state: terminated {t.reason} exit={t.exit_code} at {t.finished_at}")
        for cond in p.status.conditions or []:
            if cond.status != "True":
                lines.append(f"  condition {cond.type}={cond.status} {cond.reason or ''}".rstrip())
        events = _events_for(ctx, a.namespace, a.name)
        lines.append("events:" if events else "events: none")
        lines += [f"  {e}" for e in events]
        return ToolResult(tool="k8s_describe_pod", args=a.model_dump(), status="success",
                          text="\n".join(lines), untrusted=True)
    return guard(ctx, "k8s_describe_pod", a, run, _pod_names(ctx, a.namespace))


class PodLogs(PodRef):
    container: str = Field(default="", description="container name when the pod has several")
    tail_lines: int = Field(default=50, ge=1, le=2000)
    previous: bool = Field(default=False, description="the previous (crashed) container's output")
    since_minutes: int = Field(default=0, ge=0, le=1440, description="0: no time limit")


def _pod_logs(ctx: ToolContext, a: PodLogs) -> ToolResult:
    def run() -> ToolResult:
        kw: dict[str, Any] = {"tail_lines": a.tail_lines, "previous": a.previous, "timestamps": True}
        if a.container:
            kw["container"] = a.container
        if a.since_minutes:
            kw["since_seconds"] = a.since_minutes * 60
        text = ctx.core.read_namespaced_pod_log(a.name, a.namespace, **kw)
        status = "success" if text.strip() else "no_data"
        return ToolResult(tool="k8s_pod_logs", args=a.model_dump(), status=status,
                          text=text.rstrip() or "no log lines", untrusted=True)
    return guard(ctx, "k8s_pod_logs", a, run, _pod_names(ctx, a.namespace))


class Events(Args):
    namespace: str = Field(default="shop",
                           description="namespace; '*' for all (node events are in 'default')")
    object_name: str = Field(default="", description="only events about this object")
    warnings_only: bool = Field(default=True)
    limit: int = Field(default=30, ge=1, le=200)


def _events(ctx: ToolContext, a: Events) -> ToolResult:
    def run() -> ToolResult:
        fields = [f for f in (f"involvedObject.name={a.object_name}" if a.object_name else "",
                              "type=Warning" if a.warnings_only else "") if f]
        kw = {"field_selector": ",".join(fields)}
        items = (ctx.core.list_event_for_all_namespaces(**kw) if a.namespace == "*"
                 else ctx.core.list_namespaced_event(a.namespace, **kw)).items
        items.sort(key=lambda e: e.last_timestamp or e.first_timestamp or 0)
        now = ctx.now()
        lines = [f"{_age(e.last_timestamp, now)} ago {e.type} {e.reason} {e.involved_object.kind.lower()}/"
                 f"{e.involved_object.name} (x{e.count or 1}): {e.message}" for e in items[-a.limit:]]
        return ToolResult(tool="k8s_events", args=a.model_dump(), status="success" if lines else "no_data",
                          text="\n".join(lines) or "no matching events", untrusted=True)
    return guard(ctx, "k8s_events", a, run)


class Namespace(Args):
    namespace: str = Field(default="shop")


def _deployments(ctx: ToolContext, a: Namespace) -> ToolResult:
    def run() -> ToolResult:
        lines = []
        for d in ctx.apps.list_namespaced_deployment(a.namespace).items:
            s = d.status
            images = ",".join(c.image.rsplit("/", 1)[-1] for c in d.spec.template.spec.containers)
            lines.append(f"{d.metadata.name} ready={s.ready_replicas or 0}/{d.spec.replicas} "
                         f"updated={s.updated_replicas or 0} available={s.available_replicas or 0} "
                         f"revision={d.metadata.annotations.get('deployment.kubernetes.io/revision')} "
                         f"image={images}")
        return ToolResult(tool="k8s_list_deployments", args=a.model_dump(),
                          status="success" if lines else "no_data", text="\n".join(lines) or "none")
    return guard(ctx, "k8s_list_deployments", a, run)


def _rollout_history(ctx: ToolContext, a: PodRef) -> ToolResult:
    def run() -> ToolResult:
        d = ctx.apps.read_namespaced_deployment(a.name, a.namespace)
        selector = ",".join(f"{k}={v}" for k, v in d.spec.selector.match_labels.items())
        sets = ctx.apps.list_namespaced_replica_set(a.namespace, label_selector=selector).items
        sets.sort(key=lambda r: int(r.metadata.annotations.get("deployment.kubernetes.io/revision", 0)))
        revision = d.metadata.annotations.get("deployment.kubernetes.io/revision")
        lines = [f"deployment {a.name}: revision {revision}, "
                 f"{d.status.ready_replicas or 0}/{d.spec.replicas} ready"]
        for cond in d.status.conditions or []:
            lines.append(f"  {cond.type}={cond.status} {cond.reason}: {cond.message}")
        for r in sets:
            ann = r.metadata.annotations
            image = r.spec.template.spec.containers[0].image
            lines.append(f"revision {ann.get('deployment.kubernetes.io/revision')}: {r.metadata.name} "
                         f"image={image} replicas={r.spec.replicas} ready={r.status.ready_replicas or 0} "
                         f"created {_age(r.metadata.creation_timestamp, ctx.now())} ago "
                         f"cause={ann.get('kubernetes.io/change-cause', '-')}")
        return ToolResult(tool="k8s_rollout_history", args=a.model_dump(), status="success",
                          text="\n".join(lines))
    names = lambda: [d.metadata.name for d in ctx.apps.list_namespaced_deployment(a.namespace).items]  # noqa: E731
    return guard(ctx, "k8s_rollout_history", a, run, names)


class NoArgs(Args):
    pass


def _nodes(ctx: ToolContext, a: NoArgs) -> ToolResult:
    def run() -> ToolResult:
        lines = []
        for n in ctx.core.list_node().items:
            conds = {c.type: c.status for c in n.status.conditions}
            bad = [t for t, s in conds.items() if (t == "Ready") != (s == "True")]
            lines.append(f"{n.metadata.name} ready={conds.get('Ready')} "
                         f"{'SchedulingDisabled ' if n.spec.unschedulable else ''}"
                         f"problems={','.join(bad) or 'none'} cpu={n.status.capacity['cpu']} "
                         f"memory={n.status.capacity['memory']} "
                         f"taints={','.join(t.key for t in n.spec.taints or []) or 'none'}")
        return ToolResult(tool="k8s_list_nodes", args=a.model_dump(), status="success", text="\n".join(lines))
    return guard(ctx, "k8s_list_nodes", a, run)


def _service(ctx: ToolContext, a: PodRef) -> ToolResult:
    def run() -> ToolResult:
        s = ctx.core.read_namespaced_service(a.name, a.namespace)
        ep = ctx.core.read_namespaced_endpoints(a.name, a.namespace)
        ports = ", ".join(f"{p.port}->{p.target_port}/{p.protocol}" for p in s.spec.ports)
        ready = [f"{x.ip} ({x.target_ref.name})" for sub in ep.subsets or [] for x in sub.addresses or []]
        unready = [f"{x.ip} ({x.target_ref.name})" for sub in ep.subsets or []
                   for x in sub.not_ready_addresses or []]
        pods = ctx.core.list_namespaced_pod(a.namespace, label_selector=",".join(
            f"{k}={v}" for k, v in (s.spec.selector or {}).items())).items
        container_ports = sorted({p.container_port for pod in pods for c in pod.spec.containers
                                  for p in c.ports or []})
        lines = [f"service {a.namespace}/{a.name} {s.spec.type} {s.spec.cluster_ip} ports {ports}",
                 f"selector {s.spec.selector}; pods listen on {container_ports}",
                 f"ready endpoints: {', '.join(ready) or 'none'}",
                 f"not-ready endpoints: {', '.join(unready) or 'none'}"]
        return ToolResult(tool="k8s_get_service", args=a.model_dump(), status="success",
                          text="\n".join(lines))
    names = lambda: [s.metadata.name for s in ctx.core.list_namespaced_service(a.namespace).items]  # noqa: E731
    return guard(ctx, "k8s_get_service", a, run, names)


READ_ROLES = ("monitor", "diagnose", "repair")
TOOLS = [
    Tool("k8s_list_pods", "List pods with readiness, status, restarts, last termination and node.",
         ListPods, Risk.READ, READ_ROLES, _list_pods),
    Tool("k8s_describe_pod", "Describe one pod: images, resources, probes, env, container state and "
         "last state, failing conditions and its recent events.", PodRef, Risk.READ, READ_ROLES,
         _describe_pod),
    Tool("k8s_pod_logs", "A pod's recent log lines (tail), or the previous crashed container's.",
         PodLogs, Risk.READ, ("diagnose",), _pod_logs),
    Tool("k8s_events", "Recent Kubernetes events, warnings by default, optionally about one object.",
         Events, Risk.READ, READ_ROLES, _events),
    Tool("k8s_list_deployments", "Deployments with ready/updated/available replicas, revision, image.",
         Namespace, Risk.READ, READ_ROLES, _deployments),
    Tool("k8s_rollout_history", "A deployment's rollout state and its revisions (image, cause, age).",
         PodRef, Risk.READ, ("diagnose", "repair"), _rollout_history),
    Tool("k8s_list_nodes", "Nodes with readiness, pressure conditions, schedulability and taints.",
         NoArgs, Risk.READ, READ_ROLES, _nodes),
    Tool("k8s_get_service", "A service, its ports, the pods' ports and its ready / not-ready endpoints.",
         PodRef, Risk.READ, ("diagnose",), _service),
]
