"""An evaluation's episodes, one graded line each as it finishes (`episodes.jsonl` in the eval's
folder), so a stopped or extended evaluation runs only the episodes it does not have yet. A
60-scenario suite of three checkpoints takes hours on a CPU: it can be spread over several runs
or machines (the folder can be committed). A line counts for a later run only under the same
conditions (the model's weights, guided decoding, the prompt profile, the budgets)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from opsagent.trajectories.models import Grade


class LedgerEpisode(BaseModel):
    """One graded episode of one policy (or checkpoint) on one scenario of one split."""

    name: str
    split: str
    scenario: str
    conditions: dict[str, Any]
    grade: Grade


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys of two runs' conditions whose values differ, sorted."""
    return sorted(k for k in {*a, *b} if a.get(k) != b.get(k))


class ConditionsChanged(ValueError):
    """The folder holds episodes of the same name run under other conditions."""


class EvalLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[LedgerEpisode]:
        """Every whole line; a line cut short (the process killed mid-write) is left out."""
        if not self.path.is_file():
            return []
        episodes = []
        for line in self.path.read_text().splitlines():
            try:
                episodes.append(LedgerEpisode.model_validate_json(line))
            except ValidationError:
                continue
        return episodes

    def done(self, name: str, conditions: dict[str, Any]) -> dict[tuple[str, str], Grade]:
        """(split, scenario) → grade of `name`'s episodes; raises ConditionsChanged when they ran
        under other conditions (other weights under the same id, guided decoding, ...)."""
        found: dict[tuple[str, str], Grade] = {}
        for episode in self.read():
            if episode.name != name:
                continue
            if differ := differing(episode.conditions, conditions):
                raise ConditionsChanged(
                    f"{self.path.parent} holds episodes of {name} run under other conditions "
                    f"({', '.join(differ)} differ): give another --out")
            found[(episode.split, episode.scenario)] = episode.grade
        return found

    def add(self, episode: LedgerEpisode) -> None:
        """Appended and synced before the next episode counts: a kill loses at most the line
        being written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(episode.model_dump(mode="json"), sort_keys=True) + "\n"
        with self.path.open("a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line cut short by a kill: end it, it stays unread
                    line = "\n" + line
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
