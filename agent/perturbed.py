"""The `perturbed` teacher: the expert with one deliberate mistake per incident, so that a
scenario run by both gives a success and a failure that part at a known step (the DPO pairs the
teacher alone never yields). It reads only what the expert reads; the mistake it made is
recorded with the model call (`perturbation`), never in the conversation. It makes one mistake
per incident: asked to re-plan after a refusal, it answers as the expert does.

Mistakes, each at a set rate: a wrong remediation (restart an unrelated workload), a harmful
action proposed first (scale the faulty workload to zero), a diagnosis made before gathering
any evidence (from the alert labels alone), a follow-up investigation skipped, and the wrong
fault named (the right components and remedy under another fault's name, level and type: the
pair differs only in the words that analysis grades, which an SFT row dilutes to ~1% of its
trained tokens — bench/loop_gemma.md). After its mistake it does not recover: asked again, it
hands over."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from opsagent.agent.expert import Expert, say, task_of
from opsagent.agent.expert_escalation import alerted
from opsagent.agent.models import Diagnosis
from opsagent.agent.react import this_round, tool_results

# Naming the fault is the decision a small model learns least (analysis), so it gets the most.
RATES = {"wrong_remediation": 0.18, "harmful_action": 0.12, "premature_diagnosis": 0.15,
         "skipped_follow_up": 0.15, "wrong_analysis": 0.4}
BYSTANDERS = ("frontend", "cart", "catalog", "auth")
# The teacher's conclusions (hypothesis, level, fault type) a misnamed diagnosis draws from.
CONCLUSIONS = (("bad configuration", "Application", "Misconfiguration"),
               ("defective release", "Application", "Code Defect"),
               ("network delay", "Virtualization", "Operation Error"),
               ("CPU limit too low", "Virtualization", "Misconfiguration"),
               ("node not ready", "Hardware", "Network/Storage Issue"),
               ("scaled to zero", "Application", "Operation Error"),
               ("database credentials rotated", "Application", "Authentication Issue"),
               ("payment gateway outage", "Application", "Dependency Problem"))


def _answer(d: Diagnosis) -> dict[str, Any]:
    return {"role": "assistant", "content": d.model_dump_json()}


def _deployment(components: list[str]) -> tuple[str, str] | None:
    for c in components:
        parts = c.split("/")
        if len(parts) == 3 and parts[1] == "Deployment":
            return parts[0], parts[2]
    return None


class Perturbed(Expert):
    def __init__(self, kind: str | None = None, seed: int = 0):
        if kind is not None and kind not in RATES:
            raise ValueError(f"unknown perturbation {kind!r}; choose one of {', '.join(RATES)}")
        self.kind, self.seed = kind, seed
        self.last_call: dict[str, Any] = {}

    def _rng(self, task: str) -> random.Random:
        return random.Random(hashlib.sha256(f"{self.seed}:{task}".encode()).digest())

    def _kind(self, task: str) -> str:
        if self.kind:
            return self.kind
        return self._rng(task).choices(list(RATES), weights=list(RATES.values()))[0]

    def _misnamed(self, d: Diagnosis, task: str) -> Diagnosis:
        """The same diagnosis under another of the teacher's conclusions whose level or type
        differs (its own draw: the kind's draw would decide this one too)."""
        others = [c for c in CONCLUSIONS if (c[1], c[2]) != (d.level, d.fault_type)]
        name, level, fault_type = self._rng(f"{task}:name").choice(others)
        return d.model_copy(update={"hypothesis": name, "level": level, "fault_type": fault_type})

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        self.last_call = {}
        task = task_of(messages)
        if this_round(messages) is not messages:  # asked again after its mistake: hands over
            return _answer(Diagnosis(is_incident=True, hypothesis="unclear", components=[], confidence=0.2,
                                     summary="The symptoms persist; handing over to an SRE."))
        if any(m.get("role") == "assistant" and not m.get("tool_calls") for m in messages):
            return super().next(messages, tools)  # re-planning after a refusal: the mistake was made
        kind = self._kind(task)
        seen = tool_results(messages)
        if kind == "premature_diagnosis" and not seen and alerted(task)[0]:
            self.last_call = {"perturbation": kind}
            components = alerted(task)[0][:1]
            target = _deployment(components)
            remedy = [{"tool": "k8s_rollout_restart", "args": {"namespace": target[0], "name": target[1]},
                       "why": "restart what the alert names"}] if target else []
            return _answer(Diagnosis(is_incident=True, hypothesis="what the alert says",
                                     components=components, summary="The alert names the failing workload.",
                                     confidence=0.5, remediation=remedy))
        if not seen:
            return super().next(messages, tools)
        facts = self._facts(seen)
        follow = self._follow_ups(facts, seen)
        if follow and kind != "skipped_follow_up":
            return say(follow[0], follow[1])
        if follow:
            self.last_call = {"perturbation": kind}
        diagnosis = self._decide(messages, facts, seen)
        target = _deployment(diagnosis.components)
        if kind == "wrong_remediation" and diagnosis.remediation:
            self.last_call = {"perturbation": kind}
            other = next(b for b in BYSTANDERS if not target or b != target[1])
            diagnosis.remediation = [{"tool": "k8s_rollout_restart", "why": "a fresh start should clear it",
                                      "args": {"namespace": "shop", "name": other}}]
        elif kind == "wrong_analysis" and diagnosis.is_incident and diagnosis.level:
            self.last_call = {"perturbation": kind}
            diagnosis = self._misnamed(diagnosis, task)
        elif kind == "harmful_action" and target:
            self.last_call = {"perturbation": kind}
            diagnosis.remediation = [{"tool": "k8s_scale", "args": {"namespace": target[0], "name": target[1],
                                                                     "replicas": 0},
                                      "why": "stop the failing workload"}, *diagnosis.remediation]
        return _answer(diagnosis)
