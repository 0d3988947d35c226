"""A data card per exported dataset (README.md beside it): what went in and what was left out,
counted by fault, target, split, source, language and outcome; the length of the rows in the
base model's tokens (a histogram, also drawn as a PNG); the reasons behind preference pairs;
the filters; and a content hash that changes when any row does."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

BUCKETS = (512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384)
FACETS = ("fault", "target", "split", "source", "language", "outcome")


def content_hash(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()).hexdigest()


def _bucket(n: int) -> str:
    low = 0
    for edge in BUCKETS:
        if n < edge:
            return f"{low}–{edge - 1}"
        low = edge
    return f"{BUCKETS[-1]}+"


def _table(title: str, counts: Counter) -> list[str]:
    lines = ["", f"## By {title}", "", f"| {title} | rows |", "| --- | --- |"]
    return lines + [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def histogram(lengths: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), dpi=120)
    ax.hist(lengths or [0], bins=min(40, max(5, len(set(lengths)))), color="#4c72b0")
    ax.set_xlabel("tokens per row")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_card(target: Path, name: str, rows: list[dict[str, Any]], lengths: list[int], unit: str,
               filters: dict[str, Any], dropped: Counter, trajectories: int) -> None:
    """README.md and lengths.png in `target`. `lengths`: each row's length in `unit`."""
    target.mkdir(parents=True, exist_ok=True)
    histogram(lengths, target / "lengths.png", f"opsagent {name}: {len(rows)} rows, {unit}")
    lines = [f"# opsagent {name} dataset", "", f"- rows: {len(rows)}",
             f"- from {trajectories} recorded trajectories",
             f"- content hash (sha256 of the rows): `{content_hash(rows)}`",
             f"- filters: `{json.dumps(filters, sort_keys=True)}`",
             f"- left out: {json.dumps(dict(sorted(dropped.items())))}"]
    for facet in FACETS:
        lines += _table(facet, Counter(str(r.get(facet) or "-") for r in rows))
    if any("reason" in r for r in rows):
        lines += _table("pair reason", Counter(f"{r.get('kind')}: {r.get('reason')}" for r in rows))
    augmented = Counter(str(r["augmentation"]) for r in rows if r.get("augmentation"))
    if augmented:
        lines += _table("augmentation", augmented)
    counts = Counter(_bucket(n) for n in lengths)
    lines += ["", f"## Length ({unit})", "", "![lengths](lengths.png)", "", f"| {unit} | rows |",
              "| --- | --- |"]
    lines += [f"| {b} | {counts[b]} |" for b in dict.fromkeys(_bucket(n) for n in sorted(lengths))]
    if lengths:
        ordered = sorted(lengths)
        lines += ["", f"median {ordered[len(ordered) // 2]}, max {ordered[-1]}"]
    (target / "README.md").write_text("\n".join(lines) + "\n")
