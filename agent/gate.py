"""The action gate: `allow`, `approve` or `deny` for each proposed action, decided by a policy
file from the action itself and the cluster's facts. The model's words never reach it: an
action is a tool name and arguments validated against the tool, with its risk class and
targets taken from the registry, not from whoever proposed it."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field

from opsagent.tools.base import Risk
from opsagent.tools.registry import ToolRegistry

DEFAULT_POLICY = Path(__file__).with_name("gate_default.yaml")


class Verdict(StrEnum):
    ALLOW = "allow"
    APPROVE = "approve"
    DENY = "deny"


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    args: dict[str, Any]
    risk: Risk
    touches: list[str]


class Decision(BaseModel):
    verdict: Verdict
    rule: str = Field(description="the policy rule that decided")
    reason: str
    approver: Literal["approver", "security-approver"] | None = None
    action: ProposedAction
    at: float


class Facts(Protocol):
    """What the gate may know about the cluster (read through the same clients as the tools)."""

    def owner_kind(self, namespace: str, pod: str) -> str | None: ...
    def pods_affected(self, action: ProposedAction) -> int: ...
    def schedulable_nodes(self) -> int: ...


class DenyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tools: list[str]
    when: dict[str, Any]
    reason: str


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environments: dict[str, str]
    default_environment: str = "prod"
    verdicts: dict[str, dict[Risk, Verdict]]
    deny: list[DenyRule] = []
    rate_limit: dict[str, int] = {"max": 3, "window_s": 600}
    change_windows: dict[str, list[dict[str, str]]] = {"freezes": []}
    blast_radius: dict[str, int] = {"max_pods": 10}
    security_sensitive: dict[str, list[str]] = {"target_kinds": [], "tools": []}

    @classmethod
    def load(cls, path: Path | None = None) -> GatePolicy:
        return cls.model_validate(yaml.safe_load((path or DEFAULT_POLICY).read_text()))


def propose(registry: ToolRegistry, tool: str, args: dict[str, Any]) -> ProposedAction:
    """The action as the gate sees it; raises KeyError / pydantic.ValidationError for a call
    that could never run (the gate judges only well-formed actions)."""
    spec = registry.tools[tool]
    parsed = spec.args.model_validate(args)
    return ProposedAction(tool=tool, args=parsed.model_dump(exclude_none=True), risk=spec.risk,
                          touches=spec.touches(parsed))


def _target(touched: str) -> tuple[str | None, str, str]:
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
    def __init__(self, policy: GatePolicy, facts: Facts, clock: Callable[[], float] = time.time):
        self.policy = policy
        self.facts = facts
        self.clock = clock
        self.executed: dict[str, list[float]] = {}
        self.decisions: list[Decision] = []

    def environment(self, namespace: str | None) -> str:
        if namespace is None:
            return self.policy.default_environment
        for pattern, env in self.policy.environments.items():
            if fnmatch.fnmatch(namespace, pattern):
                return env
        return self.policy.default_environment

    def record_execution(self, action: ProposedAction) -> None:
        """Count an executed action against its targets' rate limits."""
        for touched in action.touches:
            self.executed.setdefault(touched, []).append(self.clock())

    def judge(self, action: ProposedAction) -> Decision:
        decision = self._judge(action)
        self.decisions.append(decision)
        return decision

    def _decide(self, action: ProposedAction, verdict: Verdict, rule: str, reason: str,
                approver: str | None = None) -> Decision:
        if verdict == Verdict.APPROVE and approver is None:
            approver = "approver"
        return Decision(verdict=verdict, rule=rule, reason=reason, action=action, at=self.clock(),
                        approver=approver if verdict == Verdict.APPROVE else None)  # type: ignore[arg-type]

    def _judge(self, action: ProposedAction) -> Decision:
        targets = [_target(t) for t in action.touches]
        namespace = next((ns for ns, _, _ in targets if ns), None)
        env = self.environment(namespace)
        if action.risk != Risk.READ:
            for rule in self.policy.deny:
                if any(fnmatch.fnmatch(action.tool, p) for p in rule.tools) and \
                        self._matches(rule.when, action, targets, env):
                    return self._decide(action, Verdict.DENY, f"deny:{rule.name}", rule.reason)
            limit, window = self.policy.rate_limit["max"], self.policy.rate_limit["window_s"]
            for touched in action.touches:
                recent = [t for t in self.executed.get(touched, []) if self.clock() - t < window]
                if len(recent) >= limit:
                    return self._decide(action, Verdict.DENY, "rate-limit",
                                        f"{len(recent)} actions on {touched} in the last {window}s "
                                        f"(limit {limit}); escalate to a human instead")
        verdict = self.policy.verdicts.get(env, self.policy.verdicts["prod"])[action.risk]
        rule, reason = f"risk:{env}:{action.risk.value}", f"{action.risk.value} action in {env}"
        if verdict == Verdict.ALLOW and action.risk != Risk.READ:
            now = self.clock()
            for freeze in self.policy.change_windows.get("freezes", []):
                start, end = (_epoch(freeze["start"]), _epoch(freeze["end"]))
                if start <= now <= end:
                    return self._decide(action, Verdict.APPROVE, f"change-freeze:{freeze['name']}",
                                        f"inside the change freeze {freeze['name']}")
            affected = self.facts.pods_affected(action)
            if affected > self.policy.blast_radius["max_pods"]:
                return self._decide(action, Verdict.APPROVE, "blast-radius",
                                    f"affects {affected} pods (more than "
                                    f"{self.policy.blast_radius['max_pods']})")
        sensitive = self.policy.security_sensitive
        if action.risk != Risk.READ and (action.tool in sensitive.get("tools", []) or any(
                kind in sensitive.get("target_kinds", []) for _, kind, _ in targets)):
            return self._decide(action, Verdict.APPROVE, "security-sensitive",
                                "touches security-sensitive objects", "security-approver")
        return self._decide(action, verdict, rule, reason)

    def _matches(self, when: dict[str, Any], action: ProposedAction,
                 targets: list[tuple[str | None, str, str]], env: str) -> bool:
        checks = {
            "environment": lambda v: env == v,
            "namespace": lambda v: any(ns == v for ns, _, _ in targets),
            "target_kind": lambda v: any(kind == v for _, kind, _ in targets),
            "replicas_below": lambda v: "replicas" in action.args and action.args["replicas"] < v,
            "owner_kind": lambda v: any(kind == "Pod" and self.facts.owner_kind(ns or "", name) == v
                                        for ns, kind, name in targets),
            "argument_matches": lambda v: any(re.search(v, s) for s in _strings(action.args)),
            "schedulable_nodes_below": lambda v: self.facts.schedulable_nodes() - 1 < v,
        }
        unknown = set(when) - set(checks)
        if unknown:
            raise ValueError(f"unknown gate condition(s): {sorted(unknown)}")
        return all(checks[key](value) for key, value in when.items())


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
