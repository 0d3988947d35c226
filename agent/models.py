"""What an investigation produces: a typed Diagnosis (after AIOpsLab's task levels) and the
calls it was based on, in the one message format (OpenAI chat messages with `tool_calls`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from opsagent.trajectories.redact import Redactor

# Who may do what, lowest first: the service's tokens carry one, and a decision records it.
AccessRole = Literal["viewer", "approver", "security-approver", "admin"]


class PolicyName(StrEnum):
    EXPERT = "expert"
    LLM = "llm"
    ORACLE = "oracle"
    PERTURBED = "perturbed"  # the expert with one deliberate mistake (agent.perturbed)



# The root cause's level and type, after AIOpsLab (the simulator's ground truth uses the same).
LEVELS = ("Hardware", "Operating System", "Virtualization", "Application")
FAULT_TYPES = ("Misconfiguration", "Code Defect", "Authentication Issue", "Network/Storage Issue",
               "Operation Error", "Dependency Problem")


class Evidence(BaseModel):
    tool: str
    finding: str = Field(description="what the tool result showed, in one line")


class Diagnosis(BaseModel):
    """Fields in the order a model writes them: the conclusion first, then the evidence. Evidence
    first was tried (bench/loop_gemma.md, sft2-gemma): the 270M model stopped naming every fault
    "bad configuration" but broke its JSON more often and localised worse. The optional `symptom`
    puts the decisive finding (often a tool-result line, copied: what small models do well) right
    before the conclusion; of the compact profiles only `compact-symptom` asks for it."""

    is_incident: bool
    symptom: str | None = Field(default=None, description="the decisive tool-result finding, in one line, "
                                "written before concluding")
    hypothesis: str = Field(description="short name of the fault, e.g. 'memory leak in a release'")
    components: list[str] = Field(description="namespace/Kind/name of the faulty objects")
    level: str | None = Field(default=None, description=" | ".join(LEVELS))
    fault_type: str | None = Field(default=None, description=" | ".join(FAULT_TYPES))
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    remediation: list[dict[str, Any]] = Field(
        default_factory=list, description="proposed tool calls: {tool, args, why}; empty: escalate")


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit}


def answer_schema() -> dict[str, Any]:
    """The Diagnosis as guided decoding holds an answer to it (agent.llm): the fields in the same
    order, every string, list and remediation argument bounded, level and fault type one of their
    values. Unbounded, a degenerate model runs one string until max_tokens and the answer is
    still broken; every answer this schema admits is a valid Diagnosis."""
    optional = {"anyOf": [_text(200), {"type": "null"}]}
    evidence = {"type": "object", "properties": {"tool": _text(40), "finding": _text(200)},
                "required": ["tool", "finding"], "additionalProperties": False}
    number = {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}
    mapping = {"type": "object", "propertyNames": {"maxLength": 64}, "maxProperties": 8,
               "additionalProperties": _text(200)}  # e.g. k8s_patch_env's `set`
    value = {"anyOf": [_text(200), number, {"type": "boolean"}, mapping,
                       {"type": "array", "items": _text(200), "maxItems": 8}]}
    args = {"type": "object", "propertyNames": {"maxLength": 32}, "maxProperties": 6,
            "additionalProperties": value}
    action = {"type": "object", "properties": {"tool": _text(40), "args": args, "why": _text(120)},
              "required": ["tool", "args", "why"], "additionalProperties": False}
    properties = {
        "is_incident": {"type": "boolean"},
        "symptom": optional,
        "hypothesis": _text(80),
        "components": {"type": "array", "items": _text(80), "maxItems": 4},
        "level": {"anyOf": [{"enum": list(LEVELS)}, {"type": "null"}]},
        "fault_type": {"anyOf": [{"enum": list(FAULT_TYPES)}, {"type": "null"}]},
        "summary": _text(300),
        "evidence": {"type": "array", "items": evidence, "maxItems": 3},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "remediation": {"type": "array", "items": action, "maxItems": 6},
    }
    required = [name for name, field in Diagnosis.model_fields.items() if field.is_required()]
    return {"title": "Diagnosis", "type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


class Triage(BaseModel):
    """The monitor's verdict on the input, before any tool is called."""

    is_incident: bool
    severity: str = Field(description="critical | warning | info | none")
    services: list[str] = Field(description="affected services, namespaces, nodes from the labels")
    alerts: list[str] = Field(description="distinct firing alerts (deduplicated by fingerprint)")
    impact_since: float | None = Field(default=None, description="earliest firing start on a core service")
    reason: str


class RunbookAction(BaseModel):
    tool: str
    args: dict[str, Any]
    why: str = ""
    risk: str
    touches: list[str]
    proposed: dict[str, Any] | None = None  # the policy's arguments, where pinning changed them


class Runbook(BaseModel):
    """The seed's runbook shape: what to check, why, what to do, how to verify and undo."""

    checklist: list[str]
    analysis: str
    actions: list[RunbookAction]
    verification: list[str] = Field(description="PromQL expressions that return nothing once healthy")
    scope: dict[str, list[dict[str, str]]] = Field(
        default_factory=dict, description="check -> label sets of the alert instances it stands for: "
        "only result series that agree with one of them on their shared labels still count")
    rollback: list[str]
    invalid: list[dict[str, Any]] = Field(default_factory=list,
                                          description="proposed calls that could never run, and why")


redact = Redactor()


def complete_decision(d: Any) -> Any:
    """A rejection carries its reason and an edit its arguments (the API's request, too)."""
    if d.decision == "reject" and not (d.reason or "").strip():
        raise ValueError("a rejection needs a reason (it goes back to the agent)")
    if d.decision == "edit" and not d.args:
        raise ValueError("an edit needs the changed arguments in `args`")
    if d.args and redact(d.args) != d.args:
        raise ValueError("the edited arguments hold a secret-shaped value, which would be stored with the "
                         "approval; reference a Secret (or rotate it in the secret store) instead")
    if d.reason:
        d.reason = redact.text(d.reason)
    return d


class ApprovalDecision(BaseModel):
    """An SRE's answer to a pending action: approve, reject (with a reason) or edit (new
    arguments, gated again)."""

    decision: str = Field(pattern="^(approve|reject|edit)$")
    by: str = Field(min_length=1, max_length=200)
    role: AccessRole = "approver"
    reason: str | None = Field(default=None, max_length=2000)
    args: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ApprovalDecision:
        return complete_decision(self)
