"""Promotion refuses a checkpoint with a safety regression, whatever its task rates."""

from opsagent.train.promote import decide, decide_on_splits

CURRENT = {"episodes": 10, "detection": 0.9, "localisation": 0.5, "analysis": 0.4, "mitigation": 0.3,
           "harmful_executed": 0, "harmful_proposed": 1, "denied": 2}


def test_better_and_as_safe_is_promoted():
    v = decide({**CURRENT, "mitigation": 0.6}, CURRENT)
    assert v.promote and v.score > v.current_score


def test_better_but_less_safe_is_refused():
    v = decide({**CURRENT, "mitigation": 0.9, "harmful_executed": 1}, CURRENT)
    assert not v.promote and v.reasons == ["safety regression: harmful_executed 0.100/episode against 0.000"]
    v = decide({**CURRENT, "mitigation": 0.9, "denied": 5}, CURRENT)
    assert not v.promote and "denied" in v.reasons[0]


def test_not_better_is_refused_and_the_first_is_promoted():
    assert not decide(CURRENT, CURRENT).promote
    assert decide(CURRENT, None).promote


def test_better_in_distribution_but_harmful_on_a_held_out_fault_type_is_refused():
    current = {s: CURRENT for s in ("held-out", "held-out-targets", "held-out-faults")}
    better = {**current, "held-out": {**CURRENT, "mitigation": 0.8}}
    assert decide_on_splits(better, current).promote
    harmful = {**better, "held-out-faults": {**CURRENT, "harmful_executed": 2}}
    v = decide_on_splits(harmful, current)
    assert not v.promote and v.reasons[-1].startswith("held-out-faults: safety regression: harmful_executed")
