"""The action gate: `allow`, `approve` or `deny` for each proposed action, decided by a policy
file from the action itself, the incident's plan and the cluster's facts. The model's words
never reach it: an action is a tool name and arguments validated against the tool, with its
risk class and targets taken from the registry, not from whoever proposed it.

Rules after the verdict table (freezes, blast radius, budgets, the security role) only ever
make a verdict stricter, and a fact the gate cannot read counts against the action."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from opsagent.agent.gate_policy import DEFAULT_POLICY, GatePolicy, Verdict
from opsagent.tools.base import Risk
from opsagent.tools.registry import ToolRegistry

__all__ = ["DEFAULT_POLICY", "Decision", "Gate", "GatePolicy", "Plan", "ProposedAction", "Verdict",
           "propose"]
NODE_TOOLS = ("k8s_drain", "k8s_cordon")
Approver = Literal["approver", "security-approver"]


class UnknownFact(Exception):
    """A fact the gate needs could not be read (the API refused, failed or timed out)."""


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    args: dict[str, Any]
    risk: Risk
    touches: list[str]


class Plan(BaseModel):
    """The incident around an action: what it already executed and the whole runbook the
    action belongs to. Budgets and plan-wide rules are judged over both."""

    done: list[ProposedAction] = []
    runbook: list[ProposedAction] = []


class Evicted(BaseModel):
    namespace: str
    name: str
    owner_kind: str | None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} ({self.owner_kind or 'no owner'})"


class Decision(BaseModel):
    verdict: Verdict
    rule: str
    reason: str
    approver: Approver | None = None
    action: ProposedAction
    at: float
    facts: dict[str, Any] = {}
    recheck: bool = False  # judged again right before an approved action ran


class Facts(Protocol):
    """What the gate may know about the cluster (read through the same clients as the tools).
    Each raises UnknownFact when it cannot be read."""

    def owner_kind(self, namespace: str, pod: str) -> str | None: ...
    def workload_of(self, namespace: str, pod: str) -> str | None: ...
    def pods_affected(self, action: ProposedAction) -> int: ...
    def schedulable_nodes(self) -> set[str]: ...
    def evictions(self, node: str) -> list[Evicted]: ...


class History(Protocol):
    """Executed actions per target, shared by every process that executes (the store)."""

    def record_targets(self, key: str, targets: list[str], at: float) -> None: ...
    def executions_on(self, target: str, since: float) -> int: ...


class MemoryHistory:
    """One process's history, for a gate nothing else shares (tests, one-off runs)."""

    def __init__(self) -> None:
        self._at: dict[str, dict[str, float]] = {}

    def record_targets(self, key: str, targets: list[str], at: float) -> None:
        for target in targets:
            self._at.setdefault(target, {})[key] = at

    def executions_on(self, target: str, since: float) -> int:
        return sum(1 for at in self._at.get(target, {}).values() if at >= since)


def propose(registry: ToolRegistry, tool: str, args: dict[str, Any]) -> ProposedAction:
    """The action as the gate sees it; raises KeyError / pydantic.ValidationError for a call
    that could never run (the gate judges only well-formed actions)."""
    spec = registry.tools[tool]
    parsed = spec.args.model_validate(args)
    return ProposedAction(tool=tool, args=parsed.model_dump(exclude_none=True), risk=spec.risk,
                          touches=spec.touches(parsed))


Target = tuple[str | None, str, str]
Candidate = tuple[Verdict, str, str, Approver | None]  # verdict, rule, reason, role it needs


def _target(touched: str) -> Target:
    parts = touched.split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else (None, parts[0], parts[-1])


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class Gate:
    def __init__(self, policy: GatePolicy, facts: Facts, clock: Callable[[], float] = time.time,
                 history: History | None = None):
        self.policy = policy
        self.facts = facts
        self.clock = clock
        self.history = history or MemoryHistory()
        self.decisions: list[Decision] = []

    def environment(self, namespace: str | None) -> str:
        if namespace is None:
            return self.policy.default_environment
        for pattern, env in self.policy.environments.items():
            if fnmatch.fnmatch(namespace, pattern):
                return env
        return self.policy.default_environment

    def record_execution(self, action: ProposedAction, key: str) -> None:
        """Count an executed action against its targets' rate limits (once per ledger key)."""
        self.history.record_targets(key, action.touches, self.clock())

    def judge(self, action: ProposedAction, plan: Plan | None = None) -> Decision:
        decision = self._judge(action, plan or Plan())
        self.decisions.append(decision)
        return decision

    def _judge(self, action: ProposedAction, plan: Plan) -> Decision:
        targets = [_target(t) for t in action.touches]
        env = self.environment(next((ns for ns, _, _ in targets if ns), None))
        base = (self.policy.verdicts.get(env, self.policy.verdicts["prod"])[action.risk],
                f"risk:{env}:{action.risk.value}", f"{action.risk.value} action in {env}", None)
        facts: dict[str, Any] = {}
        if action.risk == Risk.READ:
            return self._decide(action, [base], facts)
        planned = [*plan.runbook] if action in plan.runbook else [*plan.runbook, action]
        limit = self.policy.budgets.runbook_max_actions
        if len(planned) > limit:
            return self._deny(action, "budget:runbook-length",
                              f"a runbook of {len(planned)} actions (at most {limit}); propose fewer", facts)
        evicted: list[Evicted] = []
        if action.tool == "k8s_drain":
            try:
                evicted = self.facts.evictions(action.args["node"])
            except UnknownFact as exc:
                return self._deny(action, "unknown-facts",
                                  f"what the drain would evict is unknown ({exc})", facts)
            facts["evicts"] = [str(p) for p in evicted]
        raised: list[Candidate] = []
        for rule in self.policy.deny:
            if not any(fnmatch.fnmatch(action.tool, p) for p in rule.tools):
                continue
            try:
                if self._matches(rule.when, action, targets, env, planned):
                    return self._deny(action, f"deny:{rule.name}", rule.reason, facts)
                owners = {(p.namespace, p.name): p.owner_kind for p in evicted}
                hit = next((p for p in evicted if self._matches(
                    rule.when, action, [(p.namespace, "Pod", p.name)], env, planned, owners)), None)
            except UnknownFact as exc:
                return self._deny(action, f"deny:{rule.name}", f"{rule.reason}; whether it applies is "
                                  f"unknown ({exc}), so it is taken to apply", facts)
            if hit is not None:
                raised.append((Verdict(rule.on_eviction), f"deny:{rule.name}",
                               f"evicts {hit}: {rule.reason}", None))
        if denied := self._rate_limited(action):
            return self._deny(action, "rate-limit", denied, facts)
        now = self.clock()
        for freeze in self.policy.change_windows.get("freezes", []):
            if _epoch(freeze["start"]) <= now <= _epoch(freeze["end"]):
                raised.append((Verdict.APPROVE, f"change-freeze:{freeze['name']}",
                               f"inside the change freeze {freeze['name']}", None))
        raised += self._blast_radius(action, facts)
        raised += [(Verdict.APPROVE, rule, reason, None)
                   for rule, reason in self._over_budget(plan.done, planned)]
        sensitive = self.policy.security_sensitive
        if action.tool in sensitive.get("tools", []) or any(
                kind in sensitive.get("target_kinds", []) for _, kind, _ in targets):
            raised.append((Verdict.APPROVE, "security-sensitive", "touches security-sensitive objects",
                           "security-approver"))
        return self._decide(action, [base, *raised], facts)

    def _decide(self, action: ProposedAction, candidates: list[Candidate], facts: dict[str, Any]) -> Decision:
        """The strictest candidate decides (the verdict table's first among equals); every rule
        that reached that verdict is named in the reason, and the security role is asked for
        when any of them needs it."""
        verdict = max((c[0] for c in candidates), key=lambda v: v.strictness)
        deciding = [c for c in candidates if c[0] == verdict]
        approver: Approver | None = None
        if verdict == Verdict.APPROVE:
            security = any(c[3] == "security-approver" for c in candidates)
            approver = "security-approver" if security else "approver"
        return Decision(verdict=verdict, rule=deciding[0][1], reason="; ".join(c[2] for c in deciding),
                        approver=approver, action=action, at=self.clock(), facts=facts)

    def _deny(self, action: ProposedAction, rule: str, reason: str, facts: dict[str, Any]) -> Decision:
        return Decision(verdict=Verdict.DENY, rule=rule, reason=reason, action=action, at=self.clock(),
                        facts=facts)

    def _rate_limited(self, action: ProposedAction) -> str | None:
        limit, window = self.policy.rate_limit["max"], self.policy.rate_limit["window_s"]
        for touched in action.touches:
            recent = self.history.executions_on(touched, self.clock() - window)
            if recent >= limit:
                return (f"{recent} actions on {touched} in the last {window}s (limit {limit}); "
                        "escalate to a human instead")
        return None

    def _blast_radius(self, action: ProposedAction, facts: dict[str, Any]) -> list[Candidate]:
        most = self.policy.blast_radius["max_pods"]
        try:
            affected = facts["pods_affected"] = self.facts.pods_affected(action)
        except UnknownFact as exc:
            return [(Verdict.APPROVE, "blast-radius", f"the pods it affects are unknown ({exc})", None)]
        if affected > most:
            return [(Verdict.APPROVE, "blast-radius", f"affects {affected} pods (more than {most})", None)]
        return []

    def _over_budget(self, done: list[ProposedAction],
                     planned: list[ProposedAction]) -> list[tuple[str, str]]:
        """The incident's budgets, spent by what it executed plus the whole runbook."""
        budget = self.policy.budgets
        actions = [*done, *planned]
        out = []
        if len(actions) > budget.incident.max_actions:
            out.append(("budget:incident-actions", f"{len(actions)} actions in this incident with the "
                        f"runbook (budget {budget.incident.max_actions})"))
        targets = {t for a in actions for t in a.touches}
        if len(targets) > budget.incident.max_targets:
            out.append(("budget:incident-targets", f"{len(targets)} distinct targets in this incident "
                        f"(budget {budget.incident.max_targets})"))
        try:
            pods = sum(self.facts.pods_affected(a) for a in actions)
            per_workload = Counter(w for a in actions for w in self._workloads(a))
        except UnknownFact as exc:
            return [*out, ("budget:unknown", f"the incident's budget cannot be counted ({exc})")]
        if pods > budget.incident.max_pods:
            out.append(("budget:incident-pods", f"{pods} pods affected in this incident "
                        f"(budget {budget.incident.max_pods})"))
        over = sorted(w for w, n in per_workload.items() if n > budget.workload.max_actions)
        if over:
            out.append(("budget:workload-actions", f"more than {budget.workload.max_actions} actions on "
                        f"{', '.join(over)} in this incident"))
        return out

    def _workloads(self, action: ProposedAction) -> list[str]:
        out = []
        for ns, kind, name in (_target(t) for t in action.touches):
            owner = self.facts.workload_of(ns or "", name) if kind == "Pod" else None
            out.append(owner or "/".join(p for p in (ns, kind, name) if p))
        return out

    def _matches(self, when: dict[str, Any], action: ProposedAction, targets: list[Target], env: str,
                 planned: list[ProposedAction],
                 owners: dict[tuple[str, str], str | None] | None = None) -> bool:
        owners = owners or {}

        def owner(ns: str | None, name: str) -> str | None:
            key = (ns or "", name)
            return owners[key] if key in owners else self.facts.owner_kind(*key)

        def nodes_left() -> int:
            leaving = {a.args["node"] for a in planned if a.tool in NODE_TOOLS}
            return len(self.facts.schedulable_nodes() - leaving)

        checks = {
            "environment": lambda v: env == v,
            "namespace": lambda v: any(ns == v for ns, _, _ in targets),
            "target_kind": lambda v: any(kind == v for _, kind, _ in targets),
            "replicas_below": lambda v: "replicas" in action.args and action.args["replicas"] < v,
            "owner_kind": lambda v: any(kind == "Pod" and owner(ns, name) == v for ns, kind, name in targets),
            "argument_matches": lambda v: any(re.search(v, s) for s in _strings(action.args)),
            "schedulable_nodes_below": lambda v: nodes_left() < v,
        }
        unknown = set(when) - set(checks)
        if unknown:
            raise ValueError(f"unknown gate condition(s): {sorted(unknown)}")
        return all(checks[key](value) for key, value in when.items())


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
