"""Workload objects (apps/v1, autoscaling/v2) as Kubernetes API JSON."""

from __future__ import annotations

from opsagent.sandbox.kube.render import Json, _meta, template_json, ts, uid
from opsagent.sandbox.objects import HPA, ReplicaSet, Workload
from opsagent.sandbox.world import World


def deployment_json(world: World, w: Workload) -> Json:
    annotations = {"deployment.kubernetes.io/revision": str(w.revision)}
    meta = _meta(w.name, w.namespace, w.created_at, uid("Deployment", w.namespace, w.name, w.created_at),
                 labels=w.labels, annotations=annotations)
    meta["generation"] = w.generation
    stalled = world.now - w.progressed_at > w.progress_deadline_s
    complete = w.updated_replicas == w.replicas == w.available_replicas
    # A settled Deployment's conditions keep the time it settled (a watch sees no change).
    settled = w.completed_at if w.completed_at is not None else w.progressed_at
    conditions = [
        {"type": "Available", "status": "True" if w.available_replicas >= w.replicas - 0 else "False",
         "reason": "MinimumReplicasAvailable" if w.available_replicas >= w.replicas
         else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if w.available_replicas >= w.replicas
         else "Deployment does not have minimum availability.",
         "lastUpdateTime": ts(settled), "lastTransitionTime": ts(w.created_at)},
        {"type": "Progressing", "status": "False" if stalled else "True",
         "reason": "ProgressDeadlineExceeded" if stalled else
         ("NewReplicaSetAvailable" if complete else "ReplicaSetUpdated"),
         "message": f'ReplicaSet "{w.name}-{w.pod_hash}" '
         + ("has timed out progressing." if stalled else
            "has successfully progressed." if complete else "is progressing."),
         "lastUpdateTime": ts(settled), "lastTransitionTime": ts(settled)},
    ]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": w.replicas, "selector": {"matchLabels": dict(w.labels)},
            "template": template_json(w.template),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": f"{int(w.max_surge * 100)}%",
                "maxUnavailable": f"{int(w.max_unavailable * 100)}%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": int(w.progress_deadline_s),
        },
        "status": {
            "observedGeneration": w.observed_generation, "replicas": w.status_replicas,
            "updatedReplicas": w.updated_replicas, "readyReplicas": w.ready_replicas,
            "availableReplicas": w.available_replicas,
            "unavailableReplicas": max(0, w.replicas - w.available_replicas),
            "conditions": conditions,
        },
    }


def statefulset_json(world: World, w: Workload) -> Json:
    meta = _meta(w.name, w.namespace, w.created_at, uid("StatefulSet", w.namespace, w.name, w.created_at),
                 labels=w.labels)
    meta["generation"] = w.generation
    revision = f"{w.name}-{w.pod_hash}"
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
        "spec": {"replicas": w.replicas, "selector": {"matchLabels": dict(w.labels)},
                 "serviceName": w.name, "template": template_json(w.template),
                 "updateStrategy": {"type": "RollingUpdate"}, "podManagementPolicy": "OrderedReady"},
        "status": {"observedGeneration": w.observed_generation, "replicas": w.status_replicas,
                   "readyReplicas": w.ready_replicas, "currentReplicas": w.updated_replicas,
                   "updatedReplicas": w.updated_replicas, "availableReplicas": w.available_replicas,
                   "currentRevision": revision, "updateRevision": revision},
    }


def replicaset_json(world: World, rs: ReplicaSet) -> Json:
    wl = world.workloads[(rs.namespace, rs.owner)]
    h = rs.name.rsplit("-", 1)[1]
    annotations = {"deployment.kubernetes.io/revision": str(rs.revision),
                   "deployment.kubernetes.io/desired-replicas": str(wl.replicas)}
    if rs.change_cause:
        annotations["kubernetes.io/change-cause"] = rs.change_cause
    rs_uid = uid("ReplicaSet", rs.namespace, rs.name, rs.created_at)
    meta = _meta(rs.name, rs.namespace, rs.created_at, rs_uid,
                 labels={**wl.labels, "pod-template-hash": h}, annotations=annotations)
    meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": wl.name,
                                "uid": uid("Deployment", wl.namespace, wl.name, wl.created_at),
                                "controller": True, "blockOwnerDeletion": True}]
    pods = [p for p in world.pods.values() if p.owner_name == rs.name and p.deleting_at is None]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
        "spec": {"replicas": rs.replicas,
                 "selector": {"matchLabels": {**wl.labels, "pod-template-hash": h}},
                 "template": template_json(rs.template, {"pod-template-hash": h})},
        "status": {"replicas": len(pods), "readyReplicas": rs.ready_replicas,
                   "availableReplicas": rs.ready_replicas, "observedGeneration": 1},
    }


def hpa_json(world: World, h: HPA) -> Json:
    created = world.workloads[(h.namespace, h.target)].created_at
    maxed = h.current_replicas >= h.max_replicas
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(h.name, h.namespace, created, uid("HPA", h.namespace, h.name, created)),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": h.target},
                 "minReplicas": h.min_replicas, "maxReplicas": h.max_replicas,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": h.target_cpu_utilization}}}]},
        "status": {
            "currentReplicas": h.current_replicas, "desiredReplicas": h.desired_replicas,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": h.current_cpu_utilization}}}],
            "conditions": [{"type": "ScalingLimited", "status": "True" if maxed else "False",
                            "reason": "TooManyReplicas" if maxed else "DesiredWithinRange",
                            "message": "the desired replica count is more than the maximum "
                            "replica count" if maxed else "the desired count is within the "
                            "acceptable range", "lastTransitionTime": ts(world.now)}],
        },
    }
