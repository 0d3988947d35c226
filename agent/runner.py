"""Drives incidents through the graph: start one, stream its transitions, stop at an approval,
and resume it when a decision arrives (from this process, another one, or after a restart).
One incident is one LangGraph thread, keyed by the incident id."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from opsagent.agent.graph import Deps, build_graph
from opsagent.agent.models import ApprovalDecision, redact
from opsagent.agent.notify import Page
from opsagent.trajectories.models import Environment
from opsagent.trajectories.recorder import Recorder

log = logging.getLogger(__name__)
Update = Callable[[str, dict[str, Any]], None]
Decider = Callable[[dict[str, Any]], ApprovalDecision | None]


def failure(exc: Exception) -> str:
    """What a crash says on the timeline, in the page and the chat's error event (redacted)."""
    return redact.text(f"{type(exc).__name__}: {exc}")[:2000]


class IncidentRunner:
    def __init__(self, deps: Deps, checkpointer: BaseCheckpointSaver, recorder: Recorder | None = None):
        self.deps = deps
        self.store = deps.store
        self.recorder = recorder
        self.graph = build_graph(deps).compile(checkpointer=checkpointer)

    @staticmethod
    def _config(incident: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": incident}, "recursion_limit": 200}

    def _stream(self, value: Any, incident: str, on_update: Update | None) -> dict[str, Any]:
        try:
            for chunk in self.graph.stream(value, self._config(incident), stream_mode="updates"):
                for node, update in chunk.items():
                    if on_update is not None and node != "__interrupt__":
                        on_update(node, update or {})
        except Exception as exc:  # a defect in a node: the incident ends, loudly, and frees its workload
            self.fail(incident, exc)
            raise
        state = self.state(incident)
        if self.waiting(incident) is not None:
            self.store.set_incident(incident, "waiting")
        elif state.get("report") is not None:
            self.store.set_incident(incident, "done", state.get("outcome"))
            if self.recorder is not None:
                self.recorder.finish(incident, state)
        return state

    def start(self, incident: str, task: str, alerts: list[dict[str, Any]] | None = None,
              source: str = "chat", on_update: Update | None = None,
              environment: Environment | None = None, title: str | None = None,
              requested_by: str | None = None) -> dict[str, Any]:
        """`requested_by`: who asked (a chat), recorded so they cannot approve their own request
        where the gate policy forbids it."""
        task, alerts = redact.text(task), redact(alerts or [])  # what was asked enters redacted
        title = redact.text(title) if title else (task.splitlines()[0] if task else source)
        if not self.store.open_incident(incident, source, title) and self.graph.get_state(
                self._config(incident)).values:
            raise ValueError(f"incident {incident} already exists")  # (opened, never checkpointed: go on)
        if self.recorder is not None:
            self.recorder.start(incident, source, task, alerts or [],
                                environment or Environment(kind="cluster"), self.deps.policy_name,
                                self.deps.config.profile.schemas(self.deps.registry),
                                getattr(self.deps.policy, "checkpoint", None), self.deps.config.profile.name)
        return self._stream({"incident_id": incident, "task": task, "alerts": alerts or [], "source": source,
                             "requested_by": requested_by}, incident, on_update)

    def state(self, incident: str) -> dict[str, Any]:
        return dict(self.graph.get_state(self._config(incident)).values)

    def waiting(self, incident: str) -> dict[str, Any] | None:
        """The approval this incident waits for (the interrupt's payload), if any."""
        snapshot = self.graph.get_state(self._config(incident))
        for task in snapshot.tasks:
            for pending in task.interrupts:
                return pending.value
        return None

    def resume(self, incident: str, on_update: Update | None = None) -> dict[str, Any]:
        """Continue an incident whose pending approval has been decided in the store."""
        waiting = self.waiting(incident)
        if waiting is None:
            raise ValueError(f"incident {incident} is not waiting for an approval")
        record = self.store.approval(waiting["approval_id"])
        if record is None or record["decision"] is None:
            raise ValueError(f"approval {waiting['approval_id']} is still pending")
        if not self.store.claim_resume(record["id"]):
            return self.state(incident)  # another worker is continuing it
        self.store.set_incident(incident, "running")
        state = self._stream(Command(resume=record["decision"]), incident, on_update)
        self.store.mark_resumed(record["id"])
        return state

    def fail(self, incident: str, exc: Exception) -> None:
        """End an incident that crashed: `failed`, with the error, and the on-call paged (no
        later alert joins it; recovery does not retry it)."""
        error = failure(exc)
        self.store.set_incident(incident, "failed", "failed")
        self.deps.notifier.page(Page(incident=incident, severity="critical", summary=error,
                                     reason="the agent failed on this incident; it needs a human"))

    def recover(self, on_update: Update | None = None) -> list[str]:
        """After a restart: continue every incident that was cut off mid-step (from its last
        checkpoint; executions already begun are not repeated), and resume every incident
        whose approval was decided while it slept. One that fails again ends as `failed`;
        recovery goes on with the others."""
        done = []
        for incident in self.to_recover():
            try:
                if self.recover_one(incident, on_update):
                    done.append(incident)
            except Exception:
                log.exception("recovering incident %s failed; it is marked failed", incident)
        return done

    def to_recover(self) -> list[str]:
        """The incidents a restart must continue: not done, or with a decided approval not yet
        resumed (approvals that no longer match their incident are marked resumed)."""
        todo = self.store.unstarted()  # accepted, never opened: the process died first
        todo += [row["id"] for row in self.store.incidents() if row["status"] not in ("done", "failed")]
        for record in self.store.unresumed():
            waiting = self.waiting(record["incident"])
            if waiting is not None and waiting["approval_id"] == record["id"]:
                todo.append(record["incident"])
            else:
                self.store.mark_resumed(record["id"])
        return list(dict.fromkeys(todo))

    def recover_one(self, incident: str, on_update: Update | None = None) -> bool:
        """Continue one incident if, as of now, it was cut off mid-step or its approval was
        decided; False when there is nothing to do (another worker got there first). The
        caller makes this exclusive per incident."""
        snapshot = self.graph.get_state(self._config(incident))
        if not snapshot.values:  # accepted (maybe opened) but cut off before its first step
            request = self.store.start_request(incident)
            if request is None:
                return False
            self.start(incident, on_update=on_update, **request)
            return True
        if snapshot.next and self.waiting(incident) is None:
            self._stream(None, incident, on_update)
            return True
        waiting = self.waiting(incident)
        record = self.store.approval(waiting["approval_id"]) if waiting else None
        if record is not None and record["decision"] is not None and not record["resumed"]:
            self.resume(incident, on_update)
            return True
        return False

    def drive(self, incident: str, decide: Decider, on_update: Update | None = None,
              poll_s: float = 0.5, give_up_s: float | None = None) -> dict[str, Any]:
        """Run until the incident ends. At each approval, `decide` may answer at once (auto,
        prompt); when it returns None the decision is awaited in the store (queue)."""
        started = time.monotonic()
        state = self.state(incident)
        while (waiting := self.waiting(incident)) is not None:
            record = self.store.approval(waiting["approval_id"])
            if record and record["status"] == "pending":
                answer = decide(waiting)
                if answer is not None:
                    self.store.decide(waiting["approval_id"], answer)
                else:
                    if give_up_s is not None and time.monotonic() - started > give_up_s:
                        return state
                    time.sleep(poll_s)
                    continue
            state = self.resume(incident, on_update)
            if (self.waiting(incident) or {}).get("approval_id") == waiting["approval_id"]:
                time.sleep(poll_s)  # another worker holds this resume; wait for it to move on
        return state


def auto_approve(waiting: dict[str, Any]) -> ApprovalDecision:
    """--approve auto: the operator accepted every gated action in advance."""
    return ApprovalDecision(decision="approve", by="auto", role="admin", reason="--approve auto")
