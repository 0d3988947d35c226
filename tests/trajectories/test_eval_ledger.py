"""An evaluation's ledger of graded episodes: what a later run with the same folder reuses."""

from __future__ import annotations

import pytest

from opsagent.trajectories.eval_ledger import ConditionsChanged, EvalLedger, LedgerEpisode
from opsagent.trajectories.models import Grade

SAME = {"policy": "llm", "weights": "ab12", "guided": False}


def episode(name: str, scenario: str, conditions: dict = SAME, mitigated: bool = True) -> LedgerEpisode:
    return LedgerEpisode(name=name, split="held-out", scenario=scenario, conditions=conditions,
                         grade=Grade(source="ground-truth", detected=True, mitigated=mitigated))


def test_episodes_come_back_by_split_and_scenario_for_their_name_only(tmp_path):
    ledger = EvalLedger(tmp_path / "e" / "episodes.jsonl")
    assert ledger.done("sft", SAME) == {}  # no folder yet
    ledger.add(episode("sft", "s1"))
    ledger.add(episode("sft", "s2", mitigated=False))
    ledger.add(episode("dpo", "s1"))
    done = EvalLedger(tmp_path / "e" / "episodes.jsonl").done("sft", SAME)
    assert set(done) == {("held-out", "s1"), ("held-out", "s2")}
    assert done[("held-out", "s2")].mitigated is False


def test_other_conditions_under_the_same_name_are_refused_with_what_differs(tmp_path):
    ledger = EvalLedger(tmp_path / "episodes.jsonl")
    ledger.add(episode("sft", "s1"))
    with pytest.raises(ConditionsChanged, match=r"sft run under other conditions \(guided, weights differ\)"):
        ledger.done("sft", {**SAME, "weights": "ffff", "guided": True})
    assert ledger.done("dpo", {**SAME, "weights": "ffff"}) == {}


def test_a_line_cut_short_by_a_kill_is_left_out_and_the_next_one_reads(tmp_path):
    path = tmp_path / "episodes.jsonl"
    ledger = EvalLedger(path)
    ledger.add(episode("sft", "s1"))
    whole = path.read_text()
    path.write_text(whole + whole[: len(whole) // 2])  # killed half way through the second line
    assert set(ledger.done("sft", SAME)) == {("held-out", "s1")}
    ledger.add(episode("sft", "s3"))
    assert set(ledger.done("sft", SAME)) == {("held-out", "s1"), ("held-out", "s3")}
    assert len(path.read_text().splitlines()) == 3
