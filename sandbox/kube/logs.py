"""`GET pods/{name}/log`: a container's output as the kubelet serves it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from opsagent.sandbox.errors import InvalidError, SandboxError
from opsagent.sandbox.objects import Pod
from opsagent.sandbox.world import World


class BadLogRequest(SandboxError):
    reason = "BadRequest"
    code = 400


def _nano(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def pod_log(world: World, pod: Pod, q: Mapping[str, str]) -> str:
    names = [c.name for c in pod.containers]
    name = q.get("container") or names[0]
    if name not in names:
        raise BadLogRequest(f"container {name} is not valid for pod {pod.name}")
    if len(names) > 1 and not q.get("container"):
        raise BadLogRequest(f"a container name must be specified for pod {pod.name}, choose one of: "
                            f"[{' '.join(names)}]")
    c = pod.containers[names.index(name)]
    previous = q.get("previous") in ("true", "1")
    if previous:
        if not c.last_finished_at:
            raise BadLogRequest(f'previous terminated container "{name}" in pod "{pod.name}" not found')
        start, end = c.last_started_at, c.last_finished_at
    elif c.state == "running":
        start, end = c.started_at, world.now
    elif c.restarts:  # crash-looping: the kubelet serves the last run's output
        start, end = c.last_started_at, c.last_finished_at
    else:
        raise BadLogRequest(f'container "{name}" in pod "{pod.name}" is waiting to start: '
                            f"{c.reason or 'ContainerCreating'}")
    try:
        if q.get("sinceSeconds"):
            start = max(start, world.now - int(q["sinceSeconds"]))
        if q.get("sinceTime"):
            since = dt.datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00")).timestamp()
            start = max(start, since)
        tail = int(q["tailLines"]) if q.get("tailLines") else None
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None
    except ValueError as exc:
        raise InvalidError("PodLogOptions", pod.name, "query", str(exc)) from None
    records = world.logs.query(namespace=pod.namespace, pod=pod.name, since=start - 1e-6, until=end)
    records = sorted((r for r in records if r.container == name), key=lambda r: r.timestamp)
    stamps = q.get("timestamps") in ("true", "1")
    lines = [f"{_nano(r.timestamp)} {line}" if stamps else line
             for r in records for line in r.message.splitlines()]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    text = "".join(line + "\n" for line in lines)
    return text[:limit] if limit is not None else text
