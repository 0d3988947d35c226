"""What an investigation produces: a typed Diagnosis (after AIOpsLab's task levels) and the
calls it was based on, in the one message format (OpenAI chat messages with `tool_calls`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Evidence(BaseModel):
    tool: str
    finding: str = Field(description="what the tool result showed, in one line")


class Diagnosis(BaseModel):
    is_incident: bool
    hypothesis: str = Field(description="short name of the fault, e.g. 'memory leak in a release'")
    components: list[str] = Field(description="namespace/Kind/name of the faulty objects")
    level: str | None = Field(default=None, description="Hardware | Operating System | "
                              "Virtualization | Application")
    fault_type: str | None = Field(default=None, description="Misconfiguration | Code Defect | "
                                   "Authentication Issue | Network/Storage Issue | Operation Error | "
                                   "Dependency Problem")
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    remediation: list[dict[str, Any]] = Field(
        default_factory=list, description="proposed tool calls: {tool, args, why}; empty: escalate")


class Transcript(BaseModel):
    messages: list[dict[str, Any]]
    diagnosis: Diagnosis | None = None
    tool_calls: int = 0
    malformed_calls: int = 0
