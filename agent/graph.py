"""The incident graph (LangGraph): coordinator, monitor, diagnose (+ its tool step), repair,
gate, approval, execute, verify, escalate, report. Every node returns a partial update of a
JSON-only state, so each transition is a checkpoint an SRE (or a test) can read back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import ValidationError

from agent import runbook as runbooks
from agent.config import AgentConfig
from agent.gate import Gate, ProposedAction, Verdict, propose
from agent.models import ApprovalDecision, Diagnosis, Runbook
from agent.notify import Notifier, Page
from agent.react import SYSTEM, Policy
from agent.report import render
from agent.store import Store, action_key
from agent.triage import triage
from agent.verify import verify
from tools.registry import Registry


class IncidentState(TypedDict, total=False):
    incident_id: str
    source: str                      # alertmanager | chat | scenario
    task: str                        # what the user or the alert asked, as the model reads it
    alerts: list[dict[str, Any]]
    triage: dict[str, Any]
    messages: list[dict[str, Any]]   # OpenAI chat messages: what the model saw and did
    model_calls: list[dict[str, Any]]
    diagnosis: dict[str, Any] | None
    stuck: str | None                # why diagnosing ended without a diagnosis
    runbook: dict[str, Any] | None
    cursor: int
    decisions: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    executed: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    replan: str | None
    repairs: int
    verification: dict[str, Any] | None
    escalations: list[dict[str, Any]]
    usage: dict[str, int]
    started_at: float
    outcome: str | None
    escalate: str | None
    report: str | None
    route: str


@dataclass
class Deps:
    """What the nodes act through; none of it is in the state (the state stays JSON)."""

    policy: Policy
    registry: Registry
    ctx: Any
    gate: Gate
    store: Store
    notifier: Notifier
    config: AgentConfig
    wait: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    policy_name: str = "unknown"
    alert_rules: Callable[[list[str]], dict[str, str]] = field(default=lambda names: {})


def _usage(s: IncidentState) -> dict[str, int]:
    return dict(s.get("usage") or {"steps": 0, "tool_calls": 0, "tokens": 0, "malformed": 0,
                                   "malformed_streak": 0})


class Nodes:
    def __init__(self, deps: Deps):
        self.d = deps
        self.budgets = deps.config.budgets

    # ---- coordinator: owns routing, the budget and time-based escalation --------------------
    def coordinator(self, s: IncidentState) -> dict[str, Any]:
        update: dict[str, Any] = {}
        if "usage" not in s:
            update.update(usage=_usage(s), started_at=self.d.clock(), decisions=[], approvals=[],
                          executed=[], refused=[], escalations=[], messages=[], model_calls=[],
                          cursor=0, repairs=0, diagnosis=None, runbook=None, outcome=None)
        state = {**s, **update}
        page = self._page_if_long(state)  # type: ignore[arg-type]
        if page:
            update["escalations"] = [*state["escalations"], page]
        route, extra = self._route(state)  # type: ignore[arg-type]
        return {**update, **extra, "route": route}

    def _page_if_long(self, s: IncidentState) -> dict[str, Any] | None:
        since = (s.get("triage") or {}).get("impact_since")
        minutes = self.d.config.escalation.page_after_minutes
        if since is None or any(e["kind"] == "page" for e in s["escalations"]) or s.get("outcome"):
            return None
        if self.d.clock() - since < minutes * 60:
            return None
        reason = f"a core service is impacted for more than {minutes:g} minutes"
        return self._send_page(s, reason)

    def _send_page(self, s: IncidentState, reason: str) -> dict[str, Any]:
        t = s.get("triage") or {}
        summary = (s.get("diagnosis") or {}).get("summary") or s.get("task", "")[:500]
        sent = self.d.notifier.page(Page(incident=s["incident_id"], severity=t.get("severity", "warning"),
                                         reason=reason, summary=summary, services=t.get("services", [])))
        return {"kind": "page", "reason": reason, "at": self.d.clock(), **sent}

    def _route(self, s: IncidentState) -> tuple[str, dict[str, Any]]:
        if s.get("outcome") or s.get("escalate"):
            return ("escalate" if s.get("escalate") else "report"), {}
        if not s.get("triage"):
            return "monitor", {}
        if not s["triage"]["is_incident"]:
            return "report", {"outcome": "no_incident"}
        if s.get("diagnosis") is None:
            if s.get("stuck"):
                return "escalate", {"escalate": s["stuck"]}
            return "diagnose", {}
        if not s["diagnosis"]["is_incident"]:
            return "report", {"outcome": "no_incident"}
        if s.get("runbook") is None:
            return "repair", {}
        if s["cursor"] < len(s["runbook"]["actions"]):
            return "gate", {}
        if s.get("verification") is None:
            return "verify", {}
        if s["verification"].get("cleared"):
            return "report", {"outcome": "mitigated"}
        return "escalate", {"escalate": "actions were taken but the symptoms persist"}

    # ---- monitor --------------------------------------------------------------------------
    def monitor(self, s: IncidentState) -> dict[str, Any]:
        verdict = triage(s.get("alerts") or [], self.d.config.escalation.core_services)
        return {"triage": verdict.model_dump(), "route": "coordinator"}

    # ---- diagnose: one model step; its tool calls run in `tools` ------------------------------
    def diagnose(self, s: IncidentState) -> dict[str, Any]:
        usage = _usage(s)
        messages = list(s.get("messages") or [])
        if not messages:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": s["task"]}]
        b = self.budgets
        if usage["steps"] >= b.max_steps or usage["tool_calls"] >= b.max_tool_calls \
                or usage["tokens"] >= b.max_tokens:
            spent = f"{usage['steps']} steps, {usage['tool_calls']} tool calls, {usage['tokens']} tokens"
            return {"stuck": f"budget exhausted ({spent})", "messages": messages, "route": "coordinator"}
        try:
            message = self.d.policy.next(messages, self.d.registry.openai("diagnose"))
        except Exception as exc:  # the model endpoint is down: escalate with what is known
            return {"stuck": f"the model failed: {exc}", "messages": messages, "route": "coordinator"}
        call = dict(getattr(self.d.policy, "last_call", {}) or {})
        usage["steps"] += 1
        usage["tokens"] += call.get("prompt_tokens", 0) + call.get("completion_tokens", 0)
        messages.append(message)
        calls = [*(s.get("model_calls") or []), {"step": usage["steps"], **call}]
        update: dict[str, Any] = {"messages": messages, "usage": usage, "model_calls": calls}
        if message.get("tool_calls"):
            return {**update, "route": "tools"}
        try:
            diagnosis = Diagnosis.model_validate_json(message.get("content") or "")
        except ValidationError as exc:
            usage["malformed"] += 1
            usage["malformed_streak"] += 1
            if usage["malformed_streak"] >= 2:
                return {**update, "stuck": "the model's answers were not a valid Diagnosis twice",
                        "route": "coordinator"}
            messages.append({"role": "user", "content": "error: that answer is not a valid Diagnosis JSON "
                             f"({exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}); call tools or answer "
                             "with the Diagnosis JSON only."})
            return {**update, "route": "diagnose"}
        usage["malformed_streak"] = 0
        return {**update, "diagnosis": diagnosis.model_dump(), "route": "coordinator"}

    def tools(self, s: IncidentState) -> dict[str, Any]:
        usage = _usage(s)
        messages = list(s["messages"])
        allowed = {t.name for t in self.d.registry.for_role("diagnose")}
        bad = 0
        calls = messages[-1].get("tool_calls") or []
        for call in calls:
            name = call["function"]["name"]
            usage["tool_calls"] += 1
            if name not in allowed:
                bad += 1
                content = (f"error: tool {name!r} is not available while diagnosing; available: "
                           f"{', '.join(sorted(allowed))}")
            else:
                result = self.d.registry.call(self.d.ctx, name, call["function"]["arguments"])
                if result.status == "error" and result.error and result.error.startswith(
                        ("invalid arguments", "arguments are not valid JSON", "arguments must be")):
                    bad += 1
                content = result.text
            messages.append({"role": "tool", "tool_call_id": call["id"], "name": name, "content": content})
        usage["malformed"] += bad
        usage["malformed_streak"] = usage["malformed_streak"] + 1 if calls and bad == len(calls) else 0
        update = {"messages": messages, "usage": usage, "route": "diagnose"}
        if usage["malformed_streak"] >= 2:
            return {**update, "stuck": "repeated malformed tool calls", "route": "coordinator"}
        return update

    # ---- repair ---------------------------------------------------------------------------
    def repair(self, s: IncidentState) -> dict[str, Any]:
        if s.get("replan"):
            if s["repairs"] >= self.budgets.max_repairs:
                return {"escalate": f"no acceptable remediation after {s['repairs']} re-plans "
                                    f"(last: {s['replan']})", "replan": None, "route": "coordinator"}
            feedback = {"role": "user", "content": f"{s['replan']}. Propose a different remediation in a "
                        "new Diagnosis, or none (an empty remediation) to hand over to a human."}
            return {"messages": [*s["messages"], feedback], "diagnosis": None, "replan": None,
                    "repairs": s["repairs"] + 1, "route": "coordinator"}
        diagnosis = Diagnosis.model_validate(s["diagnosis"])
        rules = self.d.alert_rules((s.get("triage") or {}).get("alerts") or [])
        book = runbooks.build(diagnosis, self.d.registry, s["refused"], s["executed"], rules)
        usage = _usage(s)
        usage["malformed"] += len(book.invalid)
        update = {"runbook": book.model_dump(), "cursor": 0, "usage": usage, "route": "coordinator"}
        if not book.actions:
            why = ("the diagnosis proposes no remediation the tools can carry out"
                   if not diagnosis.remediation else "every proposed action was refused, done or invalid")
            update["escalate"] = why
        return update

    # ---- gate, approval, execute --------------------------------------------------------------
    def _action(self, s: IncidentState) -> ProposedAction:
        a = s["runbook"]["actions"][s["cursor"]]
        return propose(self.d.registry, a["tool"], a["args"])

    def gate(self, s: IncidentState) -> dict[str, Any]:
        decision = self.d.gate.judge(self._action(s))
        decisions = [*s["decisions"], decision.model_dump(mode="json")]
        if decision.verdict == Verdict.ALLOW:
            return {"decisions": decisions, "route": "execute"}
        if decision.verdict == Verdict.APPROVE:
            return {"decisions": decisions, "route": "approval"}
        refused = {**self._plain(s), "by": "gate", "reason": f"{decision.rule}: {decision.reason}"}
        return {"decisions": decisions, "refused": [*s["refused"], refused], "runbook": None,
                "replan": f"The action gate denied {refused['tool']} {json.dumps(refused['args'])} "
                          f"({refused['reason']})", "route": "coordinator"}

    def _plain(self, s: IncidentState) -> dict[str, Any]:
        a = s["runbook"]["actions"][s["cursor"]]
        return {"tool": a["tool"], "args": a["args"]}

    def approval(self, s: IncidentState) -> dict[str, Any]:
        action = s["runbook"]["actions"][s["cursor"]]
        decision = s["decisions"][-1]
        diagnosis = s["diagnosis"] or {}
        payload = {"incident": s["incident_id"], "action": action, "rule": decision["rule"],
                   "reason": decision["reason"], "approver": decision["approver"], "risk": action["risk"],
                   "diagnosis": {k: diagnosis.get(k) for k in ("hypothesis", "summary", "components",
                                                               "confidence", "evidence")},
                   "rollback": runbooks.ROLLBACK.get(action["tool"], "restore the previous value"),
                   "runbook": {"analysis": s["runbook"]["analysis"]}}
        key = action_key(s["incident_id"], "approval", s["cursor"], action, len(s["decisions"]))
        approval_id = self.d.store.open_approval(key, s["incident_id"], payload)
        answer = ApprovalDecision.model_validate(interrupt({"approval_id": approval_id, **payload}))
        record = {"approval_id": approval_id, "action": self._plain(s), **answer.model_dump(),
                  "at": self.d.clock()}
        update: dict[str, Any] = {"approvals": [*s["approvals"], record]}
        if answer.decision == "approve":
            return {**update, "route": "execute"}
        if answer.decision == "edit":
            book = dict(s["runbook"])
            actions = list(book["actions"])
            try:
                edited = propose(self.d.registry, action["tool"], answer.args or {})
            except (KeyError, ValidationError) as exc:
                refused = {**self._plain(s), "by": answer.by,
                           "reason": f"edited arguments are invalid: {exc}"}
                return {**update, "refused": [*s["refused"], refused], "runbook": None,
                        "replan": f"The SRE's edit could not be used ({exc})", "route": "coordinator"}
            actions[s["cursor"]] = {**action, "args": edited.args, "touches": edited.touches,
                                    "why": f"{action['why']} (edited by {answer.by})"}
            return {**update, "runbook": {**book, "actions": actions}, "route": "gate"}
        refused = {**self._plain(s), "by": answer.by, "reason": answer.reason}
        return {**update, "refused": [*s["refused"], refused], "runbook": None,
                "replan": f"The SRE {answer.by} rejected {action['tool']} {json.dumps(action['args'])}: "
                          f"{answer.reason}", "route": "coordinator"}

    def execute(self, s: IncidentState) -> dict[str, Any]:
        action = self._plain(s)
        key = action_key(s["incident_id"], "execute", s["cursor"], action, len(s["decisions"]))
        earlier = self.d.store.begin(key, s["incident_id"], action["tool"], action["args"])
        if earlier is None:
            result = self.d.registry.call(self.d.ctx, action["tool"], action["args"])
            outcome = {"status": result.status, "text": result.text, "rollback": result.rollback}
            self.d.store.finish(key, outcome)
            self.d.gate.record_execution(self._action(s))
        elif earlier["result"] is not None:
            outcome = {**earlier["result"], "replayed": True}
        else:
            outcome = {"status": "unknown", "text": "interrupted while executing; not repeated "
                       "(check the target's state before acting again)", "rollback": []}
        done = {**action, **outcome, "at": self.d.clock()}
        update: dict[str, Any] = {"executed": [*s["executed"], done], "cursor": s["cursor"] + 1,
                                  "route": "coordinator"}
        if outcome["status"] == "error":
            update.update(refused=[*s["refused"], {**action, "by": "cluster", "reason": outcome["text"]}],
                          runbook=None, cursor=0,
                          replan=f"{action['tool']} {json.dumps(action['args'])} failed: {outcome['text']}")
        return update

    # ---- verify, escalate, report ---------------------------------------------------------------
    def verify(self, s: IncidentState) -> dict[str, Any]:
        checks = Runbook.model_validate(s["runbook"]).verification
        if not checks:
            return {"verification": {"cleared": False, "checks": [], "rounds": [],
                                     "note": "nothing to check against"}, "route": "coordinator"}
        result = verify(self.d.registry, self.d.ctx, checks, self.d.config.verify, self.d.wait)
        return {"verification": result, "route": "coordinator"}

    def escalate(self, s: IncidentState) -> dict[str, Any]:
        reason = s.get("escalate") or "escalated"
        page = self._send_page(s, reason)
        return {"escalations": [*s["escalations"], {**page, "kind": "escalation"}],
                "outcome": "escalated", "escalate": None, "route": "report"}

    def report(self, s: IncidentState) -> dict[str, Any]:
        return {"report": render(s), "route": END}


ROUTES = ["coordinator", "monitor", "diagnose", "tools", "repair", "gate", "approval", "execute",
          "verify", "escalate", "report"]


def build_graph(deps: Deps) -> StateGraph:
    nodes = Nodes(deps)
    graph = StateGraph(IncidentState)
    for name in ROUTES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "coordinator")
    for name in ROUTES:
        graph.add_conditional_edges(name, _next, [*ROUTES, END])
    return graph


def _next(s: IncidentState) -> str:
    return s["route"]
