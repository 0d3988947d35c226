"""Recording: an incident's trajectory is opened when it starts (so a kill leaves an
`incomplete` record with its input) and written whole when it ends, redacted both times.
Tool-call arguments are normalised to one form: canonical JSON text."""

from __future__ import annotations

import time
from typing import Any

from opsagent.trajectories.actions import canonical_arguments
from opsagent.trajectories.grade import grade_against_label
from opsagent.trajectories.models import Environment, Grade, Trajectory
from opsagent.trajectories.records import RECORDED_FIELDS
from opsagent.trajectories.redact import Redactor
from opsagent.trajectories.store import TrajectoryStore


def normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                text = canonical_arguments(c["function"]["arguments"])
                calls.append({**c, "function": {**c["function"], "arguments": text}})
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


class Recorder:
    def __init__(self, store: TrajectoryStore, redactor: Redactor | None = None):
        self.store = store
        self.redact = redactor or Redactor()

    def start(self, incident: str, source: str, task: str, alerts: list[dict[str, Any]],
              environment: Environment, policy: str, tools: list[dict[str, Any]],
              checkpoint: str | None = None, profile: str = "full") -> Trajectory:
        record = Trajectory(id=incident, incident=incident, created=time.time(), source=source,
                            input=self.redact({"task": task, "alerts": alerts}), environment=environment,
                            policy=policy, checkpoint=checkpoint, tools=tools, profile=profile)
        self.store.put(record)
        return record

    def finish(self, incident: str, state: dict[str, Any]) -> Trajectory:
        """The run, written over the record as it is now: a resolution an SRE posted while the
        incident ran is kept (and grades the finished run)."""
        fields = {k: state.get(k) for k in RECORDED_FIELDS if state.get(k) is not None}
        fields["messages"] = normalise(fields.get("messages") or [])
        fields = {**self.redact(fields), "finished": time.time(), "complete": True}

        def finished(record: Trajectory) -> Trajectory:
            done = Trajectory.model_validate(record.model_copy(update=fields).model_dump())
            if done.resolution:
                done = done.model_copy(update={"grade": grade_against_label(done, done.resolution)})
            return done

        try:
            return self.store.update(incident, finished)
        except KeyError:
            raise KeyError(f"no trajectory was started for incident {incident}") from None

    def label(self, incident: str, resolution: dict[str, Any]) -> Trajectory:
        """An SRE's resolution of a real incident, and the grade it gives."""
        resolution = self.redact(resolution)  # a note may quote what the SRE saw
        return self.store.update(incident, lambda r: r.model_copy(
            update={"resolution": resolution, "grade": grade_against_label(r, resolution)}))

    def grade(self, incident: str, grade: Grade,
              ground_truth: list[dict[str, Any]] | None = None) -> Trajectory:
        return self.store.update(incident, lambda r: r.model_copy(
            update={"grade": grade, "ground_truth": ground_truth}))
