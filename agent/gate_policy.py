"""The gate's policy file as typed records: what may run, what waits for whom, and the budgets
an incident may spend. Loaded once; a field the file misspells is an error, not a default."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from opsagent.tools.base import Risk

DEFAULT_POLICY = Path(__file__).with_name("gate_default.yaml")


class Verdict(StrEnum):
    ALLOW = "allow"
    APPROVE = "approve"
    DENY = "deny"

    @property
    def strictness(self) -> int:
        return list(Verdict).index(self)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DenyRule(Strict):
    name: str
    tools: list[str]
    when: dict[str, Any]
    reason: str
    on_eviction: Literal["approve", "deny"] = Field(
        "approve", description="the verdict when the rule matches only a pod the action would evict "
                               "(a drain), not its own target")


class IncidentBudget(Strict):
    max_actions: int = 6
    max_targets: int = 4
    max_pods: int = 12


class WorkloadBudget(Strict):
    max_actions: int = 2


class Budgets(Strict):
    """Spent over an incident's executed actions plus the whole runbook being judged; beyond a
    budget every action needs approval, and a runbook longer than `runbook_max_actions` is
    refused whole."""

    runbook_max_actions: int = 6
    incident: IncidentBudget = IncidentBudget()
    workload: WorkloadBudget = WorkloadBudget()


class GatePolicy(Strict):
    environments: dict[str, str]
    default_environment: str = "prod"
    verdicts: dict[str, dict[Risk, Verdict]]
    deny: list[DenyRule] = []
    rate_limit: dict[str, int] = {"max": 3, "window_s": 600}
    change_windows: dict[str, list[dict[str, str]]] = {"freezes": []}
    blast_radius: dict[str, int] = {"max_pods": 10}
    budgets: Budgets = Budgets()
    security_sensitive: dict[str, list[str]] = {"target_kinds": [], "tools": []}
    forbid_self_approval: bool = Field(
        False, description="an approver may not approve an action they asked for (separation of duties)")

    @classmethod
    def load(cls, path: Path | None = None) -> GatePolicy:
        return cls.model_validate(yaml.safe_load((path or DEFAULT_POLICY).read_text()))
