"""Output budgets: a tool's text is cut to its budget at a line boundary, with a visible marker
that says how much was left out and how to narrow the query."""

from __future__ import annotations


def fit(text: str, budget: int, hint: str) -> tuple[str, bool]:
    if len(text) <= budget:
        return text, False
    marker_room = 200
    keep = text[: max(0, budget - marker_room)]
    cut = keep.rfind("\n")
    if cut > len(keep) // 2:
        keep = keep[:cut]
    dropped = len(text) - len(keep)
    lines = text.count("\n") - keep.count("\n")
    return (f"{keep}\n[truncated: {dropped} more characters ({lines} lines) not shown; {hint}]",
            True)
