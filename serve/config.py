"""The service's settings (`service:` in the config file, OPSAGENT_SERVICE__* in the
environment): where it listens, who may do what, and how much work it takes on at once."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from opsagent.agent.models import AccessRole
from opsagent.serve.links import check_dashboard


class TokenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="who holds it; recorded with their decisions")
    token: SecretStr = Field(description="the bearer token (at least 16 characters)")
    role: AccessRole

    def model_post_init(self, _: object) -> None:
        if len(self.token.get_secret_value()) < 16:
            raise ValueError(f"service.tokens: the token of {self.name!r} is shorter than 16 characters")


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(default=None, description="how SREs reach the pages; printed in links")
    tokens: list[TokenConfig] = Field(default=[], description="bearer tokens and their roles")
    alertmanager_token: SecretStr | None = Field(
        default=None,
        description="what Alertmanager sends (http_config.authorization); None: only "
        "admin tokens may post alerts",
    )
    policy: Literal["expert", "llm"] = Field(
        default="llm", description="who diagnoses: the served model (llm) or the rule-based expert"
    )
    auto_approve: bool = Field(default=False, description="approve every gated action at once (demo only)")
    correlate_minutes: float = Field(
        default=15, ge=0, description="alerts of another group on the same workload join an incident that "
        "is open or ended this recently, instead of opening a second one that acts on the same object")
    workers: int = Field(default=4, ge=1, le=64, description="incidents handled at the same time")
    dashboard_url: str | None = Field(
        default=None, description="a cluster dashboard's address for one object, with {namespace}, {kind} "
        "(pod, deployment, ...) and {name}, e.g. https://dash.example/#/{kind}/{namespace}/{name}; "
        "incident pages link the pods and workloads they name")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger requests get 413")

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, value: str | None) -> str | None:
        return check_dashboard(value) if value else value
