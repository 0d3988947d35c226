"""Log template grouping for `logs_patterns`: drain3's masker and prefix tree with one generic
configuration, measured by bench/log_grouping.py over Loghub's systems.

Two changes to drain3's defaults carry most of the accuracy. Masks replace what is a value in
any log (a token holding a digit, a key=value's value, dates, hosts, paths) with drain3's
parameter, and a token left with only punctuation around parameters counts as one.
Similarity counts only the template's constant tokens: drain3 counts a parameter position as a
mismatch, so a message that is half values could never reach a strict threshold, and a loose
one merges short messages that differ in their one meaningful word ("VM Paused" / "VM Resumed")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from drain3.drain import Drain
from drain3.masking import LogMasker, MaskingInstruction

PARAM = "<*>"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
MASKS = (
    # Dates written out: "Fri Jun 17 07:07:00 2005", "Jun 17 07:07:00".
    rf"\b(?:{_DAY}\s+)?{_MONTH}\s+\d{{1,2}}(?:\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?(?:\s+\d{{4}})?\b",
    # Timestamps and times of day: 2026-12-02T17:36:21.830Z, 2016/9/28:16:00:46.160, 07:07:00.
    r"\b\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:[T :]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    r"(?<![\w:.])\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?![\w:.])",
    # The value of key=value or key:value (up to a separator) when it holds a digit.
    r"(?<=[=:])[^\s,;&\"')\]}]*\d[^\s,;&\"')\]}]*",
    # Host names under a top-level domain.
    r"(?<![\w.-])[A-Za-z][\w-]*(?:\.[\w-]+)*\.(?:com|net|org|edu|gov|mil|int|io|co|ac|ne|or)(?:\.[a-z]{2})?\b(?![\w-])",
    # Paths and URLs.
    r"(?<![^\s(\[{\"'=,])(?:[a-z]+://|/)[^\s,;\"')\]}]*",
    # Any token that holds a digit, tokens ending at white space, at the separators of
    # structured text (JSON, lists) and at masks already made, not at brackets ("LOCAL(0)" is
    # one value); closing punctuation stays for the template to show.
    r"(?<![^\s\",{};|<>_])[^\s\",{};|<>_]*\d(?:[^\s\",{};|<>_]*[^\s\",{};|<>_\])>:.])?",
)
_PUNCT_AROUND_PARAM = re.compile(r"^[\W_]*(?:<\*>[\W_]*)+$")
_EMPTY_BRACKETS = {"()", "[]", "{}", '""', "''", "<>"}


def _is_param(token: str) -> bool:
    return token == PARAM or token in _EMPTY_BRACKETS or bool(_PUNCT_AROUND_PARAM.match(token))


class _Drain(Drain):
    """The prefix tree routes parameter-like tokens ("<*>]", "()") as parameters; templates keep
    them as written while every message agrees, so "[instance: <*>]" reads as it was logged."""

    @staticmethod
    def has_numbers(s: str) -> bool:
        return _is_param(s) or any(char.isdigit() for char in s)

    def get_seq_distance(self, seq1: Sequence[str], seq2: Sequence[str],
                         include_params: bool) -> tuple[float, int]:
        constant = equal = params = 0
        for template, token in zip(seq1, seq2, strict=True):
            if _is_param(template):
                params += 1
            else:
                constant += 1
                equal += template == token
        if not constant:  # a template of values only takes messages of values only
            return float(all(_is_param(token) for token in seq2)), params
        return equal / constant, params


class LogGrouper:
    """Feed messages one at a time; each gets the id of the group (template) it joined."""

    def __init__(self, sim_th: float = 0.9, depth: int = 4) -> None:
        self.masker = LogMasker([MaskingInstruction(p, "*") for p in MASKS], "<", ">")
        self.drain = _Drain(depth=depth, sim_th=sim_th, max_children=100, param_str=PARAM)

    def add(self, message: str) -> int:
        cluster, _ = self.drain.add_log_message(self.masker.mask(message))
        return cluster.cluster_id

    def templates(self) -> list[tuple[int, int, str]]:
        """(id, size, template), largest first."""
        return sorted(((c.cluster_id, c.size, c.get_template()) for c in self.drain.clusters),
                      key=lambda c: -c[1])
