"""Log grouping accuracy (LogPAI's GA) of the `logs_patterns` miner over the Loghub-2k systems
in bench/data/loghub-2k, one generic configuration for all of them, and its speed.

GA: a message counts as correct when the group it was put in holds exactly the messages of its
ground-truth event (Zhu et al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019;
data: Loghub, Zhu et al., ISSRE 2023)."""

from __future__ import annotations

import csv
import gzip
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drain3 import TemplateMiner

from opsagent.tools.log_templates import LogGrouper

# The eight systems, gzipped, with Loghub's LICENSE and CITATION; OPSAGENT_LOGHUB points at a
# folder of <System>.csv or <System>.csv.gz (Loghub's *_2k.log_structured.csv) to score others.
DATA = Path(os.environ.get("OPSAGENT_LOGHUB") or Path(__file__).with_name("data") / "loghub-2k")


def _file(data: Path, name: str) -> Path:
    plain = data / f"{name}.csv"
    return plain if plain.is_file() else data / f"{name}.csv.gz"


def load(path: Path) -> tuple[list[str], list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def grouping_accuracy(predicted: list[Any], truth: list[str]) -> float:
    """Share of messages whose predicted group equals their ground-truth group as a set."""
    sizes = Counter(truth)
    members: dict[Any, list[str]] = defaultdict(list)
    for group, event in zip(predicted, truth, strict=True):
        members[group].append(event)
    correct = sum(len(events) for events in members.values()
                  if len(set(events)) == 1 and sizes[events[0]] == len(events))
    return correct / len(truth)


def systems(data: Path = DATA) -> list[str]:
    names = {p.name.split(".")[0] for p in data.glob("*.csv*")}
    return sorted(n for n in names if not n.endswith("_templates"))


class _Drain3Defaults:
    """The baseline beside it: drain3's TemplateMiner as it ships."""

    def __init__(self) -> None:
        self.miner = TemplateMiner()

    def add(self, message: str) -> int:
        return self.miner.add_log_message(message)["cluster_id"]


def measure(make: Callable[[], Any], data: Path = DATA) -> dict[str, Any]:
    per: dict[str, float] = {}
    lines = 0
    seconds = 0.0
    for name in systems(data):
        messages, truth = load(_file(data, name))
        grouper = make()
        start = time.perf_counter()
        groups = [grouper.add(m) for m in messages]
        seconds += time.perf_counter() - start
        lines += len(messages)
        per[name] = grouping_accuracy(groups, truth)
    return {"ga": per, "mean_ga": sum(per.values()) / len(per), "lines_per_s": lines / seconds}


def run(data: Path = DATA) -> dict[str, Any]:
    """GA per system, their mean, and lines per second over all of them (grouping only), for
    the tool's grouper and for drain3's defaults."""
    return {**measure(LogGrouper, data), "drain3_defaults": measure(_Drain3Defaults, data)}
