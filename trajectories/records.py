"""The records an incident accumulates, declared once: the graph's state holds them (LangGraph's
JSON state, so plain dicts typed as TypedDicts), the trajectory stores them, and the grader, the
exporter, the timeline and the metrics read them. Pydantic validates them wherever a record is
loaded (`Trajectory`): every key typed, unknown keys refused, so a shape cannot drift unnoticed.
Keys are optional (total=False) so that records from older versions, and partial ones written
by hand (an SRE's import, a test), still load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it (not typing's) on Python < 3.12

_STRICT = ConfigDict(extra="forbid")


@with_config(_STRICT)
class ToolCall(TypedDict, total=False):
    """An action as a tool call: what is proposed, approved, executed or refused."""

    tool: str
    args: dict[str, Any]


@with_config(_STRICT)
class ProposedCall(ToolCall, total=False):
    """A call validated against its tool, with the risk class and targets the registry gives."""

    risk: str
    touches: list[str]


@with_config(_STRICT)
class DecisionRecord(TypedDict, total=False):
    """The action gate's verdict on one proposed action (agent.gate.Decision, dumped)."""

    verdict: Literal["allow", "approve", "deny"]
    rule: str
    reason: str
    approver: Literal["approver", "security-approver"] | None
    action: ProposedCall
    at: float
    facts: dict[str, Any]  # what the gate read: pods affected, what a drain evicts
    recheck: bool  # judged again right before an approved action ran


@with_config(_STRICT)
class ApprovalRecord(TypedDict, total=False):
    """An SRE's decision on a pending action."""

    approval_id: str
    action: ToolCall
    decision: Literal["approve", "reject", "edit"]
    by: str
    role: str
    reason: str | None
    args: dict[str, Any] | None
    at: float


@with_config(_STRICT)
class ExecutionRecord(ToolCall, total=False):
    """An action carried out (or found carried out by an earlier process: `replayed`)."""

    proposed: dict[str, Any]  # the policy's arguments, where pinning changed them
    status: str
    text: str
    rollback: list[dict[str, Any]]
    at: float
    replayed: bool


@with_config(_STRICT)
class RefusalRecord(ToolCall, total=False):
    """An action that must not be proposed again: denied, rejected, or failed on the cluster."""

    proposed: dict[str, Any]  # the policy's arguments, where pinning changed them
    by: str
    reason: str | None


@with_config(_STRICT)
class VerificationRecord(TypedDict, total=False):
    """Whether the symptoms cleared after acting, round by round at the environment's clock."""

    cleared: bool
    checks: list[str]
    rounds: list[dict[str, Any]]
    after_s: float
    still_failing: dict[str, str]
    note: str


@with_config(_STRICT)
class EscalationRecord(TypedDict, total=False):
    """A page to the on-call: sent when impact lasts too long, or when the agent hands over."""

    kind: Literal["page", "escalation"]
    reason: str
    at: float
    channel: str
    delivered: bool
    status: int
    error: str


@with_config(_STRICT)
class Usage(TypedDict, total=False):
    """What the policy spent; `malformed` counts calls and answers that could never be used."""

    steps: int
    tool_calls: int
    tokens: int
    malformed: int
    malformed_streak: int


class RecordedState(TypedDict, total=False):
    """The part of an incident's state a trajectory keeps (the rest is the graph's bookkeeping)."""

    messages: list[dict[str, Any]]
    model_calls: list[dict[str, Any]]
    triage: dict[str, Any] | None
    diagnosis: dict[str, Any] | None
    diagnoses: list[dict[str, Any]]  # each round's diagnosis (several faults: several rounds)
    stuck: str | None                # why diagnosing ended without a diagnosis
    runbook: dict[str, Any] | None
    decisions: list[DecisionRecord]
    approvals: list[ApprovalRecord]
    executed: list[ExecutionRecord]
    verification: VerificationRecord | None
    verifications: list[VerificationRecord]  # earlier rounds' verifications
    escalations: list[EscalationRecord]
    usage: Usage
    outcome: str | None
    report: str | None
    # When each step happened, on the environment's clock (agent/stamps.py): "call:<tool call
    # id>", "diagnosis:<i>", "decision:<i>", "executed:<i>", "refused:<i>", "verification:<i>"
    # (i: index in its list), and the latest "triage", "runbook", "stuck", "outcome".
    stamps: dict[str, float]


RECORDED_FIELDS: tuple[str, ...] = tuple(RecordedState.__annotations__)


def new_usage() -> Usage:
    return Usage(steps=0, tool_calls=0, tokens=0, malformed=0, malformed_streak=0)
