"""Acting on a diagnosis: repair builds the runbook, gate judges each action, approval waits
for an SRE (LangGraph interrupt), execute carries it out once (the ledger records it before the
side effect), verify checks that the symptoms cleared."""

from __future__ import annotations

import json
from typing import Any

from langgraph.types import interrupt
from pydantic import ValidationError

from opsagent.agent import runbook as runbooks
from opsagent.agent.changes import changes
from opsagent.agent.deps import Deps
from opsagent.agent.gate import Decision, Plan, ProposedAction, UnknownFact, Verdict, propose
from opsagent.agent.models import ApprovalDecision, Diagnosis, Runbook
from opsagent.agent.state import IncidentState, usage_of
from opsagent.agent.store import ROLES_FOR, action_key
from opsagent.agent.verify import verify as check_until_clear


def repair(d: Deps, s: IncidentState) -> dict[str, Any]:
    if s.get("replan"):
        if s["repairs"] >= d.config.budgets.max_repairs:
            return {"escalate": f"no acceptable remediation after {s['repairs']} re-plans "
                                f"(last: {s['replan']})", "replan": None, "route": "coordinator"}
        feedback = {"role": "user", "content": f"{s['replan']}. Propose a different remediation in a "
                    "new Diagnosis, or none (an empty remediation) to hand over to a human."}
        return {"messages": [*s["messages"], feedback], "diagnosis": None, "replan": None,
                "repairs": s["repairs"] + 1, "route": "coordinator"}
    diagnosis = Diagnosis.model_validate(s["diagnosis"])
    rules = d.alert_rules((s.get("triage") or {}).get("alerts") or [])
    book = _pinned(d, s, runbooks.build(diagnosis, d.registry, s["refused"], s["executed"], rules,
                                        runbooks.instances(s.get("alerts") or [])))
    usage = usage_of(s)
    usage["malformed"] += len(book.invalid)
    update = {"runbook": book.model_dump(), "cursor": 0, "usage": usage, "route": "coordinator"}
    if not book.actions:
        why = ("the diagnosis proposes no remediation the tools can carry out"
               if not diagnosis.remediation else "every proposed action was refused, done or invalid")
        update["escalate"] = why
    return update


def _pinned(d: Deps, s: IncidentState, book: Runbook) -> Runbook:
    """Each action's state-dependent target fixed now (an undo's revision): the gate judges and
    the approver sees exactly what will run. One whose target cannot be read is set aside; one
    that pins to an action already refused or done is not proposed again."""
    actions, invalid = [], list(book.invalid)
    for a in book.actions:
        try:
            args = d.registry.pin(d.ctx, a.tool, a.args)
        except Exception as exc:  # any failed read: the action cannot be fixed, so it is not proposed
            invalid.append({"call": {"tool": a.tool, "args": a.args},
                            "reason": f"its target could not be read: {type(exc).__name__}: {exc}"})
            continue
        pinned = {"tool": a.tool, "args": args}
        if not any(runbooks.same(pinned, r) for r in [*s["refused"], *s["executed"]]):
            proposed = a.args if args != a.args else None
            actions.append(a.model_copy(update={"args": args, "proposed": proposed}))
    return book.model_copy(update={"actions": actions, "invalid": invalid})


def _action(d: Deps, s: IncidentState) -> ProposedAction:
    a = s["runbook"]["actions"][s["cursor"]]
    return propose(d.registry, a["tool"], a["args"])


def _plan(d: Deps, s: IncidentState) -> Plan:
    """What the incident executed and the whole runbook: the gate judges the batch, not only
    the action in front of it."""
    def valid(calls: list[dict[str, Any]]) -> list[ProposedAction]:
        out = []
        for c in calls:
            try:
                out.append(propose(d.registry, c["tool"], c["args"]))
            except (KeyError, ValidationError):
                continue
        return out
    return Plan(done=valid(s["executed"]), runbook=valid(s["runbook"]["actions"]))


def gate(d: Deps, s: IncidentState) -> dict[str, Any]:
    decision = d.gate.judge(_action(d, s), _plan(d, s))
    decisions = [*s["decisions"], decision.model_dump(mode="json")]
    if decision.verdict == Verdict.ALLOW:
        return {"decisions": decisions, "route": "execute"}
    if decision.verdict == Verdict.APPROVE:
        return {"decisions": decisions, "route": "approval"}
    return {"decisions": decisions, **_denied(s, decision, "The action gate denied")}


def _denied(s: IncidentState, decision: Decision, what: str) -> dict[str, Any]:
    refused = {**_plain(s), "by": "gate", "reason": f"{decision.rule}: {decision.reason}"}
    return {"refused": [*s["refused"], refused], "runbook": None, "route": "coordinator",
            "replan": f"{what} {refused['tool']} {json.dumps(refused['args'])} ({refused['reason']})"}


def _plain(s: IncidentState) -> dict[str, Any]:
    a = s["runbook"]["actions"][s["cursor"]]
    pinned = {"proposed": a["proposed"]} if a.get("proposed") else {}
    return {"tool": a["tool"], "args": a["args"], **pinned}


def _changes(d: Deps, action: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return changes(d.ctx, action["tool"], action["args"])
    except UnknownFact as exc:
        return [{"field": "(could not read the current state)", "before": str(exc), "after": ""}]


def approval(d: Deps, s: IncidentState) -> dict[str, Any]:
    action = s["runbook"]["actions"][s["cursor"]]
    decision = s["decisions"][-1]
    diagnosis = s["diagnosis"] or {}
    payload = {"incident": s["incident_id"], "action": action, "rule": decision["rule"],
               "reason": decision["reason"], "approver": decision["approver"], "risk": action["risk"],
               "diagnosis": {k: diagnosis.get(k) for k in ("hypothesis", "summary", "components",
                                                           "confidence", "evidence")},
               "rollback": runbooks.ROLLBACK.get(action["tool"], "restore the previous value"),
               "facts": decision.get("facts") or {}, "runbook": {"analysis": s["runbook"]["analysis"]},
               "requested_by": s.get("requested_by"),
               "forbid_self_approval": d.gate.policy.forbid_self_approval}
    key = action_key(s["incident_id"], "approval", s["cursor"], action, len(s["decisions"]))
    opened = d.store.approval(key)  # a resumed node finds what the approver was shown
    payload["changes"] = opened["payload"].get("changes", []) if opened else _changes(d, action)
    approval_id = d.store.open_approval(key, s["incident_id"], payload)
    answer = ApprovalDecision.model_validate(interrupt({"approval_id": approval_id, **payload}))
    record = {"approval_id": approval_id, "action": _plain(s), **answer.model_dump(),
              "at": d.clock()}
    update: dict[str, Any] = {"approvals": [*s["approvals"], record]}
    if answer.decision == "approve":
        return {**update, "route": "execute"}
    if answer.decision == "edit":
        book = dict(s["runbook"])
        actions = list(book["actions"])
        try:
            edited = propose(d.registry, action["tool"], answer.args or {})
        except (KeyError, ValidationError) as exc:
            refused = {**_plain(s), "by": answer.by,
                       "reason": f"edited arguments are invalid: {exc}"}
            return {**update, "refused": [*s["refused"], refused], "runbook": None,
                    "replan": f"The SRE's edit could not be used ({exc})", "route": "coordinator"}
        actions[s["cursor"]] = {**action, "args": edited.args, "touches": edited.touches,
                                "why": f"{action['why']} (edited by {answer.by})"}
        return {**update, "runbook": {**book, "actions": actions}, "route": "gate"}
    refused = {**_plain(s), "by": answer.by, "reason": answer.reason}
    return {**update, "refused": [*s["refused"], refused], "runbook": None,
            "replan": f"The SRE {answer.by} rejected {action['tool']} {json.dumps(action['args'])}: "
                      f"{answer.reason}", "route": "coordinator"}


def _recheck(d: Deps, s: IncidentState) -> dict[str, Any]:
    """An approved action is judged again before it runs: the world may have changed while it
    waited (a freeze began, other incidents spent the rate limit, a pod moved). Returns the
    update that stops it, or only the decisions (with this one) when it may go on."""
    decision = d.gate.judge(_action(d, s), _plan(d, s)).model_copy(update={"recheck": True})
    decisions = [*s["decisions"], decision.model_dump(mode="json")]
    if decision.verdict == Verdict.DENY:
        return {"decisions": decisions, **_denied(s, decision, "Re-checked before it ran, the gate denied")}
    roles = ROLES_FOR.get(decision.approver or "approver", {"admin"})
    covered = any(a["decision"] == "approve" and a["role"] in roles and a["action"] == _plain(s)
                  for a in s["approvals"])
    if decision.verdict == Verdict.APPROVE and not covered:
        return {"decisions": decisions, "route": "approval"}
    return {"decisions": decisions}


def execute(d: Deps, s: IncidentState) -> dict[str, Any]:
    action = _plain(s)
    key = action_key(s["incident_id"], "execute", s["cursor"], action, len(s["decisions"]))
    rechecked: dict[str, Any] = {}
    if s["decisions"][-1]["verdict"] == Verdict.APPROVE and d.store.execution(key) is None:
        rechecked = _recheck(d, s)
        if "route" in rechecked:
            return rechecked
    earlier = d.store.begin(key, s["incident_id"], action["tool"], action["args"])
    if earlier is None:
        result = d.registry.call(d.ctx, action["tool"], action["args"])
        outcome = {"status": result.status, "text": result.text, "rollback": result.rollback}
        d.store.finish(key, outcome)
        d.gate.record_execution(_action(d, s), key)
    elif earlier["result"] is not None:
        outcome = {**earlier["result"], "replayed": True}
    else:
        outcome = {"status": "unknown", "text": "interrupted while executing; not repeated "
                   "(check the target's state before acting again)", "rollback": []}
    done = {**action, **outcome, "at": d.clock()}
    update: dict[str, Any] = {**rechecked, "executed": [*s["executed"], done], "cursor": s["cursor"] + 1,
                              "route": "coordinator"}
    if outcome["status"] == "error":
        update.update(refused=[*s["refused"], {**action, "by": "cluster", "reason": outcome["text"]}],
                      runbook=None, cursor=0,
                      replan=f"{action['tool']} {json.dumps(action['args'])} failed: {outcome['text']}")
    return update


def verify(d: Deps, s: IncidentState) -> dict[str, Any]:
    book = Runbook.model_validate(s["runbook"])
    checks = book.verification
    if not checks:
        return {"verification": {"cleared": False, "checks": [], "rounds": [],
                                 "note": "nothing to check against"}, "route": "coordinator"}
    result = check_until_clear(d.registry, d.ctx, checks, d.config.verify, d.wait, book.scope)
    return {"verification": result, "route": "coordinator"}
