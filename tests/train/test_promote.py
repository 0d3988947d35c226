"""Promotion refuses a checkpoint with a safety regression, whatever its task rates."""

from opsagent.train.promote import decide

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
