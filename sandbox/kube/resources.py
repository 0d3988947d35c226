"""Which resources the API serves: their discovery entries and how each is read from the world."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opsagent.sandbox.kube import render as r
from opsagent.sandbox.kube import render_apps as a
from opsagent.sandbox.kube import render_crds as c
from opsagent.sandbox.kube import render_extra as x
from opsagent.sandbox.world import World

Json = dict[str, Any]
READ = ("get", "list", "watch")


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    items: Callable[[World], Iterable[Any]]
    to_json: Callable[[World, Any], Json]
    key: Callable[[Any], tuple[str, str]]  # (namespace, name)
    verbs: tuple[str, ...] = READ
    short: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # field selectors the real API supports beyond metadata.*
    subresources: tuple[tuple[str, tuple[str, ...]], ...] = ()
    columns: str | None = None  # which printed columns (tables.COLUMNS) when not its name
    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _namespaces(world: World) -> list[str]:
    found = {ns for ns, _ in world.workloads} | {"default", "kube-public", "kube-node-lease"}
    return sorted(found)


def _namespace_json(world: World, name: str) -> Json:
    created = min(w.created_at for w in world.workloads.values()) - 86400
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": r.uid("Namespace", "", name, 0),
                         "resourceVersion": "1", "creationTimestamp": r.ts(created),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _ns_name(obj: Any) -> tuple[str, str]:
    return obj.namespace, obj.name


RESOURCES: list[Resource] = [
    Resource("pods", "Pod", "", "v1", True, lambda w: w.pods.values(), r.pod_json, _ns_name,
             verbs=(*READ, "patch", "delete"), short=("po",),
             fields=("spec.nodeName", "status.phase", "spec.restartPolicy", "status.podIP"),
             subresources=(("log", ("get",)), ("eviction", ("create",)), ("status", ("get",)))),
    Resource("nodes", "Node", "", "v1", False, lambda w: w.nodes.values(), r.node_json,
             lambda n: ("", n.name), verbs=(*READ, "patch"), short=("no",),
             fields=("spec.unschedulable",)),
    Resource("namespaces", "Namespace", "", "v1", False, _namespaces, _namespace_json,
             lambda n: ("", n), short=("ns",), fields=("status.phase",)),
    Resource("services", "Service", "", "v1", True, lambda w: w.services.values(), r.service_json,
             _ns_name, verbs=(*READ, "patch"), short=("svc",)),
    Resource("endpoints", "Endpoints", "", "v1", True, lambda w: w.services.values(),
             r.endpoints_json, _ns_name, short=("ep",)),
    Resource("configmaps", "ConfigMap", "", "v1", True, lambda w: w.configmaps.values(),
             r.configmap_json, _ns_name, verbs=(*READ, "patch"), short=("cm",)),
    Resource("secrets", "Secret", "", "v1", True, lambda w: w.secrets.values(), r.secret_json,
             _ns_name, fields=("type",)),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True,
             lambda w: w.pvcs.values(), r.pvc_json, _ns_name, verbs=(*READ, "patch"),
             short=("pvc",)),
    Resource("events", "Event", "", "v1", True, lambda w: w.events, r.event_json,
             lambda e: (e.namespace if e.kind != "Node" else "default", f"{e.name}.{e.uid[:16]}"),
             short=("ev",),
             fields=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "reason", "type",
                     "source", "reportingComponent")),
    Resource("deployments", "Deployment", "apps", "v1", True,
             lambda w: [x for x in w.workloads.values() if x.kind == "Deployment"],
             a.deployment_json, _ns_name, verbs=(*READ, "patch"), short=("deploy",),
             subresources=(("scale", ("get", "patch")),)),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True,
             lambda w: [x for x in w.workloads.values() if x.kind == "StatefulSet"],
             a.statefulset_json, _ns_name, verbs=(*READ, "patch"), short=("sts",),
             subresources=(("scale", ("get", "patch")),)),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, lambda w: w.replicasets.values(),
             a.replicaset_json, _ns_name, short=("rs",)),
    Resource("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2", True,
             lambda w: w.hpas.values(), a.hpa_json, _ns_name, verbs=(*READ, "patch"),
             short=("hpa",)),
    Resource("certificates", "Certificate", "cert-manager.io", "v1", True, c.certificates,
             c.certificate_json, _ns_name, verbs=(*READ, "patch"), short=("cert", "certs"),
             subresources=(("status", ("get", "patch")),)),
    Resource("externalsecrets", "ExternalSecret", "external-secrets.io", "v1beta1", True,
             c.external_secrets, c.external_secret_json, _ns_name, verbs=(*READ, "patch"),
             short=("es",)),
    Resource("ingresses", "Ingress", "networking.k8s.io", "v1", True, x.ingresses, x.ingress_json,
             lambda k: k, short=("ing",)),
    Resource("ingressclasses", "IngressClass", "networking.k8s.io", "v1", False, x.ingress_classes,
             x.ingress_class_json, lambda n: ("", n)),
    Resource("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True, x.budgets,
             x.budget_json, lambda k: k, short=("pdb",)),
    Resource("pods", "PodMetrics", "metrics.k8s.io", "v1beta1", True, x.measured_pods,
             x.pod_metrics_json, _ns_name, columns="podmetrics"),
    Resource("nodes", "NodeMetrics", "metrics.k8s.io", "v1beta1", False, x.measured_nodes,
             x.node_metrics_json, lambda n: ("", n.name), columns="nodemetrics"),
]
BY_PATH: dict[tuple[str, str], Resource] = {(res.group_version, res.name): res for res in RESOURCES}
GROUPS: dict[str, list[str]] = {}
for _res in RESOURCES:
    if _res.group:
        GROUPS.setdefault(_res.group, [])
        if _res.version not in GROUPS[_res.group]:
            GROUPS[_res.group].append(_res.version)


# Create-only reviews, answered by sandbox.kube.access rather than read from the world.
REVIEWS = [{"name": n, "singularName": "", "namespaced": False, "kind": k, "verbs": ["create"]}
           for n, k in (("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                        ("selfsubjectrulesreviews", "SelfSubjectRulesReview"))]
GROUPS["authorization.k8s.io"] = ["v1"]


def resource_list(group_version: str) -> Json:
    """The APIResourceList discovery document of one group/version."""
    entries = list(REVIEWS) if group_version == "authorization.k8s.io/v1" else []
    for res in RESOURCES:
        if res.group_version != group_version:
            continue
        entries.append({"name": res.name, "singularName": res.kind.lower(), "namespaced": res.namespaced,
                        "kind": res.kind, "verbs": list(res.verbs), "shortNames": list(res.short),
                        **({"categories": ["all"]} if res.name in ("pods", "services", "deployments",
                                                                     "replicasets", "statefulsets")
                           else {})})
        for sub, verbs in res.subresources:
            kind = {"log": "Pod", "eviction": "Eviction", "status": res.kind, "scale": "Scale"}[sub]
            extra = {"group": "policy", "version": "v1"} if sub == "eviction" else {}
            if sub == "scale":
                extra = {"group": "autoscaling", "version": "v1"}
            entries.append({"name": f"{res.name}/{sub}", "singularName": "", "namespaced": True,
                            "kind": kind, "verbs": list(verbs), **extra})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": entries}
