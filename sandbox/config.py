"""Settings of the simulated cluster (part of the one `Settings` object in serve.settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=7, description="seed of the demo scenario")
    fault: str = Field(default="memory_leak", description="fault the demo plays out")
    target: str | None = Field(default="catalog", description="its target; None: seeded choice")
    history_s: int = Field(default=1800, ge=0, description="history before 'now', seconds")
    dt_s: float = Field(default=15.0, ge=1, le=60, description="simulated seconds per tick")
    recovery_s: int = Field(default=600, ge=0, description="how long the demo watches recovery")
