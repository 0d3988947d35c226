"""Trajectory recording settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrajectoriesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pseudonymise_ips: bool = Field(default=False,
                                   description="replace IPv4 addresses by consistent pseudonyms")
