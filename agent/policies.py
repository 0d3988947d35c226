"""Policies by name: `expert` (rule-based baseline and teacher), `perturbed` (the teacher with
one deliberate mistake, for preference pairs), `llm` (an OpenAI-compatible endpoint), `oracle`
(privileged: reads the sandbox scenario's ground truth, so only a sandbox episode builds it, in
agent.sim)."""

from __future__ import annotations

from opsagent.agent.config import LLMConfig
from opsagent.agent.expert import Expert
from opsagent.agent.llm import LLMPolicy
from opsagent.agent.models import PolicyName
from opsagent.agent.perturbed import Perturbed
from opsagent.agent.react import Policy

NAMES = tuple(p.value for p in PolicyName)


def make_policy(name: str, llm: LLMConfig) -> Policy:
    if name == "expert":
        return Expert()
    if name == "llm":
        return LLMPolicy(llm)
    if name == "perturbed":
        return Perturbed()
    if name == "oracle":
        raise ValueError("the oracle policy reads a sandbox scenario's ground truth: "
                         "use it with --scenario")
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(NAMES)}")
