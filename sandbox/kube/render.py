"""The world's objects as Kubernetes API JSON, field for field as a real API server returns
them (the subset troubleshooting reads)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from opsagent.sandbox import quantity
from opsagent.sandbox.logtext import iso
from opsagent.sandbox.objects import (
    PVC,
    ConfigMap,
    ContainerSpec,
    Event,
    Node,
    Pod,
    PodTemplate,
    Probe,
    Resources,
    Secret,
    Service,
    Toleration,
    admitted_tolerations,
)
from opsagent.sandbox.world import World

Json = dict[str, Any]
_UID_NS = uuid.UUID("6f1c1f3e-9a51-4c1e-8c56-0d1b3f0e7a11")


def uid(kind: str, namespace: str, name: str, created: float) -> str:
    """Stable uids for objects the simulation does not give one."""
    return str(uuid.uuid5(_UID_NS, f"{kind}/{namespace}/{name}/{created:.0f}"))


def ts(t: float) -> str:
    return iso(t)[:19] + "Z"


def _meta(name: str, namespace: str | None, created: float, uid_: str, **extra: Any) -> Json:
    meta: Json = {"name": name, "uid": uid_, "resourceVersion": str(int(created) % 10**7 + 1),
                  "creationTimestamp": ts(created)}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v})
    return meta


def _resources(req: Resources, lim: Resources) -> Json:
    out: Json = {"requests": {"cpu": quantity.cpu(req.cpu), "memory": quantity.memory(req.memory)}}
    limits = {}
    if lim.cpu:
        limits["cpu"] = quantity.cpu(lim.cpu)
    if lim.memory:
        limits["memory"] = quantity.memory(lim.memory)
    if limits:
        out["limits"] = limits
    return out


def _probe(p: Probe | None) -> Json | None:
    if p is None:
        return None
    if p.path.startswith("tcp:"):
        action: Json = {"tcpSocket": {"port": p.port}}
    elif p.path.startswith("exec:"):
        action = {"exec": {"command": p.path.removeprefix("exec:").split()}}
    else:
        action = {"httpGet": {"path": p.path, "port": p.port, "scheme": "HTTP"}}
    return {**action, "initialDelaySeconds": p.initial_delay, "periodSeconds": p.period,
            "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": p.failure_threshold}


def container_json(c: ContainerSpec) -> Json:
    out: Json = {
        "name": c.name, "image": c.image, "imagePullPolicy": c.pull_policy,
        "ports": [{"containerPort": c.port, "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in c.env.items()],
        "resources": _resources(c.requests, c.limits),
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    for key, probe in (("readinessProbe", c.readiness), ("livenessProbe", c.liveness),
                       ("startupProbe", c.startup)):
        rendered = _probe(probe)
        if rendered:
            out[key] = rendered
    return out


def _toleration(t: Toleration) -> Json:
    out: Json = {"key": t.key, "operator": t.operator, "value": t.value, "effect": t.effect,
                 "tolerationSeconds": t.seconds}
    return {k: v for k, v in out.items() if v not in ("", None)}


def pod_spec(tpl: PodTemplate, admitted: bool = False) -> Json:
    """A template's pod spec; `admitted`: as a pod's, with the tolerations admission added."""
    volumes = [{"name": s, "secret": {"secretName": s}} for s in tpl.secrets]
    volumes += [{"name": c, "configMap": {"name": c}} for c in tpl.configmaps]
    spec: Json = {
        "containers": [container_json(c) for c in tpl.containers],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "schedulerName": "default-scheduler",
    }
    if tpl.node_selector:
        spec["nodeSelector"] = dict(tpl.node_selector)
    tolerations = admitted_tolerations(tpl.tolerations) if admitted else tpl.tolerations
    if tolerations:
        spec["tolerations"] = [_toleration(t) for t in tolerations]
    if volumes:
        spec["volumes"] = volumes
    return spec


def template_json(tpl: PodTemplate, extra_labels: dict[str, str] | None = None) -> Json:
    meta: Json = {"labels": {**tpl.labels, **(extra_labels or {})}}
    if tpl.annotations:
        meta["annotations"] = dict(tpl.annotations)
    return {"metadata": meta, "spec": pod_spec(tpl)}


def _state(state: str, reason: str, message: str, started: float, code: int, finished: float) -> Json:
    if state == "running":
        return {"running": {"startedAt": ts(started)}}
    if state == "waiting":
        return {"waiting": {k: v for k, v in (("reason", reason), ("message", message)) if v}}
    return {"terminated": {"exitCode": code, "reason": reason, "startedAt": ts(started),
                           "finishedAt": ts(finished)}}


def pod_json(world: World, p: Pod) -> Json:
    stateful = p.owner_kind == "StatefulSet"
    meta = _meta(p.name, p.namespace, p.created_at, p.uid, labels=p.labels, annotations=dict(p.annotations),
                 generateName=None if stateful else p.name.rsplit("-", 1)[0] + "-")
    if p.owner_kind:  # a released pod has no owner
        owner_created = world.workloads[(p.namespace, p.workload)].created_at
        if not stateful and (p.namespace, p.owner_name) in world.replicasets:
            owner_created = world.replicasets[(p.namespace, p.owner_name)].created_at
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": p.owner_kind, "name": p.owner_name,
                                    "uid": uid(p.owner_kind, p.namespace, p.owner_name, owner_created),
                                    "controller": True, "blockOwnerDeletion": True}]
    if p.deleting_at is not None:
        meta["deletionTimestamp"] = ts(p.deleting_at + 30)
        meta["deletionGracePeriodSeconds"] = 30
    statuses = []
    for c, spec in zip(p.containers, p.template.containers, strict=True):
        cs: Json = {
            "name": c.name, "image": c.image, "imageID": "", "ready": c.ready,
            "started": c.state == "running", "restartCount": c.restarts,
            "state": _state(c.state, c.reason, c.message, c.started_at, c.exit_code,
                            c.last_finished_at),
            "lastState": {},
        }
        if c.state == "running" or c.restarts:
            cs["containerID"] = "containerd://" + uid("c", p.name, c.name, c.started_at).replace("-", "")
            digest = uid("i", "", spec.image, 0).replace("-", "") * 2
            cs["imageID"] = f"{spec.image.split(':')[0]}@sha256:{digest}"
        if c.last_reason:
            cs["lastState"] = _state("terminated", c.last_reason, "", c.last_started_at,
                                     c.last_exit_code, c.last_finished_at)
        statuses.append(cs)
    scheduled = p.node is not None
    started = min((c.started_at for c in p.containers if c.started_at), default=p.created_at)
    ready = p.ready
    conditions = [
        ("PodScheduled", scheduled, p.scheduled_at or p.created_at,
         "" if scheduled else "Unschedulable"),
        ("Initialized", scheduled, p.scheduled_at or p.created_at, ""),
        ("ContainersReady", ready, started, "" if ready else "ContainersNotReady"),
        ("Ready", ready, started, "" if ready else "ContainersNotReady"),
    ]
    status: Json = {
        "phase": p.phase,
        "conditions": [
            {"type": t, "status": "True" if ok else "False", "lastProbeTime": None,
             "lastTransitionTime": ts(when), **({"reason": why} if why else {})}
            for t, ok, when, why in conditions
        ],
        "qosClass": "Burstable",
    }
    if scheduled:
        node = world.nodes[p.node]  # type: ignore[index]
        status.update(hostIP=node.ip, hostIPs=[{"ip": node.ip}], startTime=ts(p.scheduled_at))
        if p.ip:
            status.update(podIP=p.ip, podIPs=[{"ip": p.ip}])
        status["containerStatuses"] = statuses
    if p.reason:
        status.update(reason=p.reason, message=p.message)
    spec = pod_spec(p.template, admitted=True)
    if scheduled:
        spec["nodeName"] = p.node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def node_json(world: World, n: Node) -> Json:
    now = ts(world.now)
    since = ts(n.not_ready_since or n.created_at)

    def cond(kind: str, bad: bool, ok_reason: str, bad_reason: str, msg: str) -> Json:
        return {"type": kind, "status": "True" if bad else "False", "lastHeartbeatTime": now,
                "lastTransitionTime": since, "reason": bad_reason if bad else ok_reason,
                "message": msg}

    ready = ({"type": "Ready", "status": "True", "reason": "KubeletReady",
              "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
              "lastTransitionTime": ts(n.created_at)} if n.ready else
             {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
              "message": "Kubelet stopped posting node status.",
              "lastHeartbeatTime": ts(n.last_heartbeat), "lastTransitionTime": since})
    conditions = [
        cond("MemoryPressure", n.memory_pressure, "KubeletHasSufficientMemory",
             "KubeletHasInsufficientMemory", "kubelet has sufficient memory available"),
        cond("DiskPressure", n.disk_pressure, "KubeletHasNoDiskPressure", "KubeletHasDiskPressure",
             "kubelet has disk pressure" if n.disk_pressure else "kubelet has no disk pressure"),
        cond("PIDPressure", False, "KubeletHasSufficientPID", "", "kubelet has sufficient PID available"),
        ready,
    ]
    taints = [{"key": key, **({"value": value} if value else {}), "effect": effect,
               **({"timeAdded": since} if "unreachable" in key else {})}
              for key, value, effect in n.taints()]
    spec: Json = {"providerID": f"aws:///{n.zone}/i-0{uid('n', '', n.name, 0)[:16]}"}
    if n.unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    capacity = {"cpu": quantity.cpu(n.cpu), "memory": quantity.memory(n.memory),
                "ephemeral-storage": quantity.memory(n.disk), "pods": str(n.MAX_PODS)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": _meta(n.name, None, n.created_at, uid("Node", "", n.name, n.created_at),
                          labels=n.labels),
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": {**capacity, "cpu": quantity.cpu(n.allocatable.cpu),
                            "memory": quantity.memory(n.allocatable.memory)},
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": n.ip},
                          {"type": "Hostname", "address": n.name}],
            "nodeInfo": {"kubeletVersion": "v1.30.4", "kubeProxyVersion": "v1.30.4",
                         "machineID": uid("m", "", n.name, 0).replace("-", ""),
                         "systemUUID": uid("s", "", n.name, 0).upper(),
                         "bootID": uid("b", "", n.name, n.created_at),
                         "osImage": "Amazon Linux 2023",
                         "containerRuntimeVersion": "containerd://1.7.20",
                         "kernelVersion": "6.1.102", "operatingSystem": "linux",
                         "architecture": "amd64"},
        },
    }


def service_json(world: World, s: Service) -> Json:
    created = world.workloads.get((s.namespace, s.selector.get("app.kubernetes.io/name", "")))
    when = created.created_at if created else world.now
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(s.name, s.namespace, when, uid("Service", s.namespace, s.name, when),
                          labels=s.labels),
        "spec": {"type": "ClusterIP", "clusterIP": s.cluster_ip, "clusterIPs": [s.cluster_ip],
                 "selector": dict(s.selector),
                 "ports": [{"name": "dns" if s.port == 53 else "http", "port": s.port,
                            "targetPort": s.target_port,
                            "protocol": "UDP" if s.port == 53 else "TCP"}]},
        "status": {"loadBalancer": {}},
    }


def endpoints_json(world: World, s: Service) -> Json:
    pods = [p for p in world.pods.values()
            if p.namespace == s.namespace and p.deleting_at is None and p.ip
            and all(p.labels.get(k) == v for k, v in s.selector.items())]

    def address(p: Pod) -> Json:
        return {"ip": p.ip, "nodeName": p.node,
                "targetRef": {"kind": "Pod", "namespace": p.namespace, "name": p.name, "uid": p.uid}}

    subset: Json = {"ports": [{"name": "http", "port": s.target_port, "protocol": "TCP"}]}
    ready = [address(p) for p in pods if p.ready]
    not_ready = [address(p) for p in pods if not p.ready]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    base = service_json(world, s)["metadata"]
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {**base, "uid": uid("Endpoints", s.namespace, s.name, 0)},
            "subsets": [subset] if pods else []}


def configmap_json(world: World, c: ConfigMap) -> Json:
    created = world.now - 86400 * 30
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(c.name, c.namespace, created, uid("ConfigMap", c.namespace, c.name, 0)),
            "data": dict(c.data)}


def secret_json(world: World, s: Secret) -> Json:
    """Secret values are placeholders: the sandbox never holds real credentials."""
    created = world.now - 86400 * 30
    data = {k: base64.b64encode(f"sandbox-{s.name}-{k}-v{s.version}".encode()).decode()
            for k in s.keys}
    meta = _meta(s.name, s.namespace, created, uid("Secret", s.namespace, s.name, 0))
    if s.not_after:
        meta["annotations"] = {"cert-manager.io/certificate-name": s.name,
                               "cert-manager.io/not-after": ts(s.not_after)}
    return {"apiVersion": "v1", "kind": "Secret", "type": s.type, "metadata": meta, "data": data}


def pvc_json(world: World, v: PVC) -> Json:
    created = world.now - 86400 * 30
    size = quantity.memory(v.capacity)
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": _meta(v.name, v.namespace, created, uid("PVC", v.namespace, v.name, 0)),
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": v.storage_class,
                 "volumeName": v.volume_name, "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}},
    }


def event_json(world: World, e: Event) -> Json:
    api = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1",
           "HorizontalPodAutoscaler": "autoscaling/v2"}.get(e.kind, "v1")
    ns = e.namespace if e.kind != "Node" else "default"
    involved: Json = {"kind": e.kind, "name": e.name, "apiVersion": api}
    if e.kind != "Node":
        involved["namespace"] = e.namespace
    obj = world.pods.get((e.namespace, e.name)) if e.kind == "Pod" else None
    if obj is not None:
        involved["uid"] = obj.uid
    component, host = (e.source, "") if e.source != "kubelet" else ("kubelet", "")
    if e.kind == "Pod" and obj is not None and obj.node:
        host = obj.node
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": _meta(f"{e.name}.{e.uid[:16]}", ns, e.first_timestamp, e.uid),
        "involvedObject": involved, "reason": e.reason, "message": e.message,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": ts(e.first_timestamp), "lastTimestamp": ts(e.last_timestamp),
        "count": e.count, "type": e.type, "eventTime": None, "reportingComponent": component,
        "reportingInstance": host,
    }
