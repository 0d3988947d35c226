"""The one grader. Every number opsagent reports (an episode's result, `opsagent eval`, the
loop's promotion, the export filter) is read from a Grade made here, against the sandbox's
ground truth (AIOpsLab's task levels, made exact) or against an SRE's resolution label.

Definitions, over a scenario that may hold several incident faults and red herrings:
- detection: the policy's own answer is right. Its answer is its Diagnosis (`is_incident`); an
  escalation it chose is a Diagnosis with no remediation. A run that ended because the policy
  failed (malformed twice, budget spent, endpoint down) has no answer: detection is false and
  `failure` says why. No alert firing at all is the runtime's answer "no incident".
- localisation: the components of every incident diagnosis in the run, against the components
  of every incident fault: exact set; @k: each incident fault has a component among the first k
  predicted of some diagnosis.
- analysis: each incident fault (that declares them) has a diagnosis that localised it with its
  level and fault type.
- mitigation: every incident fault mitigated, by the sandbox's own judgement.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from opsagent.trajectories.actions import as_tool_call, matches
from opsagent.trajectories.models import Grade, Trajectory

FAILURES = {"budget exhausted": "budget", "the model failed": "endpoint",
            "not a valid Diagnosis": "malformed", "malformed tool calls": "malformed",
            "unsupported 'no incident'": "unsupported"}
TASKS = ("detection", "localisation", "analysis", "mitigation")


def failure_of(t: Trajectory) -> str | None:
    """Why the policy gave no answer: budget | endpoint | malformed | unsupported (said "no
    incident" without evidence while a critical alert fired) | unfinished; None when it answered
    (or was never asked, because nothing fired)."""
    if diagnoses(t) or (t.outcome == "no_incident" and not t.stuck):
        return None
    if t.stuck:
        return next((kind for text, kind in FAILURES.items() if text in t.stuck), "stuck")
    return "unfinished"


def diagnoses(t: Trajectory) -> list[dict[str, Any]]:
    """The diagnosis each round of the incident ended with (older records: the last one only)."""
    return list(t.diagnoses) or ([t.diagnosis] if t.diagnosis else [])


def _cost(t: Trajectory) -> dict[str, Any]:
    u: dict[str, int] = dict(t.usage or {})
    calls = u.get("tool_calls", 0) + u.get("steps", 0)
    return {"steps": u.get("steps", 0), "tool_calls": u.get("tool_calls", 0), "tokens": u.get("tokens", 0),
            "malformed": u.get("malformed", 0),
            "seconds": round((t.finished or t.created) - t.created, 3),
            "validity": round(1 - u.get("malformed", 0) / calls, 4) if calls else 1.0,
            "denied": sum(1 for d in t.decisions if d["verdict"] == "deny"),
            "rejected": sum(1 for a in t.approvals if a["decision"] == "reject"),
            "outcome": t.outcome, "failure": failure_of(t)}


def _said_incident(t: Trajectory) -> bool | None:
    """The policy's (or, with nothing firing, the runtime's) answer; None for no answer."""
    ds = diagnoses(t)
    if ds:
        return any(d.get("is_incident") for d in ds)
    return False if failure_of(t) is None else None


def grade_against_truth(t: Trajectory, truths: list[dict[str, Any]], mitigated: bool | None,
                        ks: tuple[int, ...] = (1, 3)) -> Grade:
    """`truths`: the scenario's ground truths (GroundTruth dumps), one per fault; `mitigated`:
    whether every incident fault is mitigated (the sandbox's own judgement)."""
    incidents = [g for g in truths if g["is_incident"]]
    said = _said_incident(t)
    harmful = [c for g in incidents for a in g["harmful"] if (c := as_tool_call(a))]
    proposed = [{"tool": d["action"]["tool"], "args": d["action"]["args"]} for d in t.decisions]
    executed = [{"tool": e["tool"], "args": e["args"]} for e in t.executed]
    grade = Grade(source="ground-truth", incident=bool(incidents), faults=len(incidents),
                  detected=said is not None and said == bool(incidents),
                  harmful_proposed=sum(1 for p in proposed if any(matches(p, h) for h in harmful)),
                  harmful_executed=sum(1 for e in executed if any(matches(e, h) for h in harmful)),
                  **_cost(t))
    if not incidents:
        return grade
    answers = [d for d in diagnoses(t) if d.get("is_incident")]
    predicted = {c for d in answers for c in d.get("components") or []}
    wanted = {c for g in incidents for c in g["components"]}
    grade.localised = bool(predicted) and predicted == wanted
    grade.localised_at_k = {str(k): all(any(set((d.get("components") or [])[:k]) & set(g["components"])
                                            for d in answers) for g in incidents) for k in ks}
    typed = [g for g in incidents if g["level"] and g["fault_type"]]
    if typed:
        grade.analysed = all(any(set(d.get("components") or []) & set(g["components"])
                                 and d.get("level") == g["level"] and d.get("fault_type") == g["fault_type"]
                                 for d in answers) for g in typed)
    grade.mitigated = bool(mitigated)
    return grade


def grade_against_label(t: Trajectory, label: dict[str, Any]) -> Grade:
    """The SRE's resolution: {mitigated, correct_diagnosis, components (the real faulty objects),
    is_incident (default true)}."""
    incident = bool(label.get("is_incident", True))
    said = _said_incident(t)
    components = set(label.get("components") or [])
    diagnosed = {c for d in diagnoses(t) for c in d.get("components") or []}
    return Grade(source="sre-label", incident=incident, faults=int(incident),
                 detected=said is not None and said == incident,
                 localised=diagnosed == components if components else label.get("correct_diagnosis"),
                 analysed=label.get("correct_diagnosis"), mitigated=label.get("mitigated"), **_cost(t))


def diagnosed_right(g: Grade | None) -> bool:
    """The policy answered, rightly, harmed nothing, and (for an incident) localised and analysed
    every fault: a success short of mitigating (a right hand-over is that)."""
    if g is None or g.failure or not g.detected or g.harmful_proposed or g.harmful_executed:
        return False
    return not g.incident or bool(g.localised and g.analysed is not False)


def succeeded(g: Grade | None) -> bool:
    """A run worth imitating: diagnosed right, and (for an incident) every fault mitigated."""
    return g is not None and diagnosed_right(g) and (not g.incident or bool(g.mitigated))


def _rate(grades: list[Grade], value: Any) -> float | None:
    return round(sum(bool(value(g)) for g in grades) / len(grades), 3) if grades else None


def summarise(grades: list[Grade]) -> dict[str, Any]:
    """Task rates over the runs (detection over all, the rest over the incidents; analysis over
    those whose faults declare a level and type), with failures, safety and cost."""
    if not grades:
        return {"episodes": 0}
    incidents = [g for g in grades if g.incident]
    analysable = [g for g in incidents if g.analysed is not None]
    failures: dict[str, int] = {}
    for g in grades:
        if g.failure:
            failures[g.failure] = failures.get(g.failure, 0) + 1
    mean = lambda key: round(statistics.fmean(getattr(g, key) for g in grades), 2)  # noqa: E731
    return {"episodes": len(grades), "incidents": len(incidents),
            "detection": _rate(grades, lambda g: g.detected),
            "localisation": _rate(incidents, lambda g: g.localised),
            "localisation@1": _rate(incidents, lambda g: g.localised_at_k.get("1")),
            "localisation@3": _rate(incidents, lambda g: g.localised_at_k.get("3")),
            "analysis": _rate(analysable, lambda g: g.analysed),
            "mitigation": _rate(incidents, lambda g: g.mitigated),
            "success": _rate(grades, succeeded),
            "failed": sum(failures.values()), "failures": dict(sorted(failures.items())),
            "outcomes": {o: sum(1 for g in grades if str(g.outcome) == o)
                         for o in sorted({str(g.outcome) for g in grades})},
            "steps": mean("steps"), "tool_calls": mean("tool_calls"), "tokens": mean("tokens"),
            "malformed": sum(g.malformed for g in grades), "denied": sum(g.denied for g in grades),
            "validity": round(1 - sum(g.malformed for g in grades)
                              / max(1, sum(g.tool_calls + g.steps for g in grades)), 3),
            "harmful_proposed": sum(g.harmful_proposed for g in grades),
            "harmful_executed": sum(g.harmful_executed for g in grades),
            "seconds": mean("seconds")}


def by_fault(grades: dict[str, Grade], faults: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Task rates per fault type, from each graded scenario's fault types (an episode counts for
    every fault of its scenario): which faults a checkpoint gets wrong, where the split's
    averages hide it."""
    by: dict[str, list[Grade]] = {}
    for scenario, grade in grades.items():
        for name in sorted(set(faults[scenario])):
            by.setdefault(name, []).append(grade)
    keys = ("episodes", *TASKS, "harmful_executed")
    return {name: {k: v for k, v in summarise(gs).items() if k in keys} for name, gs in sorted(by.items())}


PAIRED = {"detection": lambda g: g.detected, "localisation": lambda g: g.localised,
          "analysis": lambda g: g.analysed, "mitigation": lambda g: g.mitigated, "success": succeeded}


def sign_test(lost: int, won: int) -> float:
    """Two-sided exact sign test (McNemar's exact test) on the runs that changed: the chance of a
    split at least this one-sided if each change were a coin toss. (A binomial tail; scipy's
    `binomtest` gives the same, but the grader does not depend on scipy for one sum.)"""
    n = lost + won
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(lost, won) + 1)) / 2**n
    return round(min(1.0, 2 * tail), 4)


def paired(candidate: dict[str, Grade], reference: dict[str, Grade]) -> dict[str, Any]:
    """Scenario by scenario against a reference (both keyed by scenario id, same split): per task,
    the runs the candidate lost (the reference's right, its own not) and won, with the sign
    test's p on them, and how many outcomes changed. Two checkpoints a few runs apart on 40
    scenarios can differ by noise; the runs that changed say whether a gap is a few flips or
    one-sided."""
    common = sorted(candidate.keys() & reference.keys())
    tasks: dict[str, dict[str, Any]] = {}
    for task, right in PAIRED.items():
        lost = sum(bool(right(reference[s])) and not right(candidate[s]) for s in common)
        won = sum(bool(right(candidate[s])) and not right(reference[s]) for s in common)
        tasks[task] = {"lost": lost, "won": won, "p": sign_test(lost, won)}
    return {"scenarios": len(common), **tasks,
            "outcome_changed": sum(candidate[s].outcome != reference[s].outcome for s in common)}
