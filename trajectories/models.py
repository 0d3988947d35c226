"""A trajectory: exactly what the model saw and did in one incident, with everything around it
that grading and training need. Ground truth, when there is one, is stored beside the
messages for graders only; it never enters an exported row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from opsagent.trajectories.records import (
    ApprovalRecord,
    DecisionRecord,
    EscalationRecord,
    ExecutionRecord,
    Usage,
    VerificationRecord,
)


class Environment(BaseModel):
    kind: str = Field(description="sandbox | cluster")
    scenario: str | None = None
    seed: int | None = None
    faults: list[str] = []
    targets: list[str] = Field(default=[], description="each fault's target, in the order of `faults`")
    variant: str | None = Field(default=None, description="how the input was varied for data collection: "
                                "chat-en | chat-zh | paraphrase (None: the alerts as delivered)")
    cluster: str | None = None


class Grade(BaseModel):
    """Against sandbox ground truth, or an SRE's resolution label for a real incident."""

    source: str = Field(description="ground-truth | sre-label")
    incident: bool = Field(default=True, description="the scenario (or the label) holds an incident")
    faults: int = Field(default=1, description="incident faults in the scenario")
    detected: bool | None = None
    failure: str | None = Field(default=None, description="why the policy gave no answer: budget | "
                                "endpoint | malformed | unsupported | unfinished")
    outcome: str | None = None
    localised: bool | None = None
    localised_at_k: dict[str, bool] = {}
    analysed: bool | None = None
    mitigated: bool | None = None
    denied: int = 0
    rejected: int = 0
    harmful_proposed: int = 0
    harmful_executed: int = 0
    steps: int = 0
    tool_calls: int = 0
    tokens: int = 0
    malformed: int = 0
    seconds: float = 0.0
    validity: float = Field(default=1.0, description="share of tool calls that were well-formed")


class Trajectory(BaseModel):
    id: str
    incident: str
    created: float
    finished: float | None = None
    complete: bool = False
    source: str = Field(description="alertmanager | chat | scenario")
    input: dict[str, Any] = Field(description="the task text and the alert payload")
    environment: Environment
    policy: str
    checkpoint: str | None = None
    tools: list[dict[str, Any]] = Field(default=[], description="OpenAI tool schemas offered")
    profile: str = Field(default="full", description="the prompt profile the model saw (agent.profiles)")
    messages: list[dict[str, Any]] = []
    model_calls: list[dict[str, Any]] = []
    triage: dict[str, Any] | None = None
    diagnosis: dict[str, Any] | None = None
    diagnoses: list[dict[str, Any]] = Field(default=[], description="each round's diagnosis, in order")
    stuck: str | None = Field(default=None, description="why diagnosing ended without a diagnosis")
    runbook: dict[str, Any] | None = None
    decisions: list[DecisionRecord] = []
    approvals: list[ApprovalRecord] = []
    executed: list[ExecutionRecord] = []
    verification: VerificationRecord | None = None
    verifications: list[VerificationRecord] = Field(default=[], description="earlier rounds' verifications")
    escalations: list[EscalationRecord] = []
    usage: Usage | None = None
    outcome: str | None = None
    report: str | None = None
    stamps: dict[str, float] = {}
    ground_truth: list[dict[str, Any]] | None = Field(default=None, description="graders only")
    grade: Grade | None = None
    resolution: dict[str, Any] | None = Field(default=None, description="the SRE's label, if given")
