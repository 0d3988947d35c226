"""The agent's settings: the model endpoint, budgets, the gate policy, where incidents are
checkpointed, and who is paged. Read once through serve.settings.Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from opsagent.agent.profiles import PromptProfile

GuidedMode = Literal["off", "retry", "always"]


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="OpenAI-compatible API (vLLM)")
    model: str = Field(default="current", description="served model name (a checkpoint id); `current`: the "
                       "registry's current checkpoint at the start of each run")
    api_key: SecretStr = Field(default=SecretStr("EMPTY"), description="vLLM ignores it unless --api-key")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=16, le=32768, description="per model call")
    timeout_s: float = Field(default=120.0, gt=0)
    guided: GuidedMode = Field(default="retry", description="vLLM structured outputs. retry: free decoding, "
                               "but the retry after an answer that was not a valid Diagnosis is decoded to "
                               "the Diagnosis schema; always: every answer is either tool calls whose "
                               "arguments match the tools' schemas or a Diagnosis JSON (vLLM then leaves no "
                               "room for a thought before the calls); off: never")

    @field_validator("guided", mode="before")
    @classmethod
    def _bool_guided(cls, value: object) -> object:
        """`guided: true|false` (the earlier boolean setting) still means always|off."""
        return {True: "always", False: "off"}.get(value, value) if isinstance(value, bool) else value


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(default=10, ge=1, description="model calls while diagnosing")
    max_tool_calls: int = Field(default=40, ge=1)
    max_tokens: int = Field(default=60000, ge=1, description="prompt + completion, all calls")
    max_repairs: int = Field(default=2, ge=0, description="re-plans after a denial or rejection")
    max_rounds: int = Field(default=3, ge=1, description="diagnoses in one incident: symptoms still "
                            "failing after acting start another round (several faults at once)")


class EscalationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    core_services: list[str] = Field(default=["ingress-nginx-controller", "frontend", "checkout",
                                              "payment", "auth"])
    page_after_minutes: float = Field(default=15, ge=0,
                                      description="impact on a core service for longer pages on-call")
    webhook_url: str | None = Field(default=None, description="on-call pager webhook; None: log only")
    webhook_token: SecretStr | None = None


class VerifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(default=60, gt=0, description="between checks after acting")
    timeout_s: float = Field(default=900, gt=0, description="give up and escalate after this")
    consecutive: int = Field(default=2, ge=1, description="clear rounds in a row that count as cleared")


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    llm: LLMConfig = LLMConfig()
    profile: PromptProfile = Field(default_factory=PromptProfile, description="the prompt the diagnosing "
                                   "model sees (a served checkpoint's own, recorded with it)")
    budgets: Budgets = Budgets()
    gate_policy: Path | None = Field(default=None, description="None: agent/gate_default.yaml")
    checkpoint_url: str | None = Field(
        default=None, description="postgresql://... for Postgres; None: SQLite in data_dir/agent.db")
    escalation: EscalationConfig = EscalationConfig()
    verify: VerifyConfig = VerifyConfig()

    def served_by(self, base_url: str | None = None, model: str | None = None,
                  profile: PromptProfile | None = None) -> AgentConfig:
        """The same settings with the llm policy pointed at a served checkpoint (and its profile)."""
        update = {k: v for k, v in {"base_url": base_url, "model": model}.items() if v is not None}
        return self.model_copy(update={"llm": self.llm.model_copy(update=update),
                                       **({"profile": profile} if profile is not None else {})})
