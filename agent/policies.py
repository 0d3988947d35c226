"""Policies by name: `expert` (rule-based baseline and teacher), `llm` (an OpenAI-compatible
endpoint), `oracle` (privileged: reads the sandbox scenario's ground truth)."""

from __future__ import annotations

from typing import Any

from agent.config import LLMConfig
from agent.expert import Expert
from agent.llm import LLMPolicy
from agent.oracle import Oracle
from agent.react import Policy

NAMES = ("expert", "llm", "oracle")


def make_policy(name: str, llm: LLMConfig, scenario: Any = None) -> Policy:
    if name == "expert":
        return Expert()
    if name == "llm":
        return LLMPolicy(llm)
    if name == "oracle":
        if scenario is None:
            raise ValueError("the oracle policy reads a sandbox scenario's ground truth: "
                             "use it with --scenario")
        return Oracle(scenario)
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(NAMES)}")
