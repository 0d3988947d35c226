"""Cleaning an export (the seed's steps): one message schema with canonical tool-call arguments,
near-duplicates removed, a variant with independent parallel calls reordered, and a scan of
every exported row that fails the export when anything secret-shaped survived redaction
(detect-secrets' detectors, without the entropy ones that flag every pod hash, plus the
redactor's own patterns)."""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from typing import Any

from datasketch import MinHash, MinHashLSH

from opsagent.trajectories.actions import canonical_arguments
from opsagent.trajectories.redact import MASK, redact_text

_VOLATILE = re.compile(r"\b[0-9a-f]{6,}\b|\b[a-z0-9]{5}\b(?=[\s\"',)])|\d+(?:\.\d+)?")
_SKIPPED_DETECTORS = {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}


class SecretLeak(Exception):
    """An exported row still holds something secret-shaped; nothing was written."""


def canonical(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable tool-call ids (call_0, call_1, ... per conversation), arguments as canonical JSON
    (sorted keys; text that is not JSON kept verbatim), and only the keys a chat template reads,
    so identical behaviour gives identical rows."""
    ids: dict[str, str] = {}
    out = []
    for m in messages:
        row: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            row["tool_calls"] = []
            for c in m["tool_calls"]:
                ids[c["id"]] = f"call_{len(ids)}"
                args = canonical_arguments(c["function"]["arguments"])
                row["tool_calls"].append({"id": ids[c["id"]], "type": "function",
                                          "function": {"name": c["function"]["name"], "arguments": args}})
        if m["role"] == "tool":
            row["tool_call_id"] = ids.get(m.get("tool_call_id", ""), m.get("tool_call_id", ""))
            row["name"] = m.get("name", "")
        out.append(row)
    return out


def reorder_parallel(messages: list[dict[str, Any]], seed: int) -> list[dict[str, Any]] | None:
    """The conversation with each turn's independent tool calls (and their results) in another
    order, or None when no turn has two calls. Calls of one turn do not see each other's
    results, so any order is as valid as the recorded one."""
    rng = random.Random(seed)
    out, i, changed = [], 0, False
    while i < len(messages):
        m = messages[i]
        calls = m.get("tool_calls") or []
        results = messages[i + 1:i + 1 + len(calls)]
        if len(calls) > 1 and len(results) == len(calls) and all(r["role"] == "tool" for r in results):
            order = list(range(len(calls)))
            while order == sorted(order):
                rng.shuffle(order)
            out.append({**m, "tool_calls": [calls[k] for k in order]})
            by_id = {r["tool_call_id"]: r for r in results}
            out += [by_id[calls[k]["id"]] for k in order]
            i += 1 + len(calls)
            changed = True
            continue
        out.append(m)
        i += 1
    return canonical(out) if changed else None


def _shingles(messages: list[dict[str, Any]]) -> set[bytes]:
    """Word 5-grams of the conversation with volatile tokens (numbers, hashes, pod suffixes)
    masked, so two runs that differ only in those look alike."""
    words = _VOLATILE.sub("#", json.dumps(messages, sort_keys=True)).split()
    return {" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))}


class NearDuplicates:
    """MinHash LSH over the masked shingles: a row whose estimated Jaccard similarity to one
    already kept is at least `threshold` is a near-duplicate."""

    def __init__(self, threshold: float = 0.95, num_perm: int = 64):
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm = num_perm
        self.exact: set[str] = set()

    def seen(self, key: str, messages: list[dict[str, Any]]) -> bool:
        """Whether the conversation (near-)duplicates one kept; if not, it is kept."""
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        if digest in self.exact:
            return True
        m = MinHash(num_perm=self.num_perm)
        m.update_batch(list(_shingles(messages)))
        if self.lsh.query(m):
            return True
        self.exact.add(digest)
        self.lsh.insert(key, m)
        return False


@functools.cache
def _detectors() -> list[Any]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return [cls() for cls in get_mapping_from_secret_type_to_class().values()
            if cls.__name__ not in _SKIPPED_DETECTORS]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def secrets_in(row: dict[str, Any]) -> list[str]:
    """What in a row looks like a secret: detector names (or the redactor pattern that still
    matches), never the secret itself."""
    found = []
    for text in _strings(row):
        if redact_text(text) != text:
            found.append("redactor pattern")
        for line in text.replace(MASK, "").splitlines():
            found += _line_secrets(line)
    return found


@functools.lru_cache(maxsize=1 << 18)
def _line_secrets(line: str) -> tuple[str, ...]:
    """(Rows repeat most of their lines: the system prompt, the tool schemas, triage results.)"""
    return tuple(d.secret_type for d in _detectors() if d.analyze_line(filename="row.json", line=line))


def scan(rows: list[dict[str, Any]], name: str) -> None:
    """Raise SecretLeak naming the rows (by id) that still hold something secret-shaped."""
    leaks = {str(r.get("id", i)): kinds for i, r in enumerate(rows) if (kinds := secrets_in(r))}
    if leaks:
        sample = "; ".join(f"{k}: {', '.join(sorted(set(v)))}" for k, v in list(leaks.items())[:5])
        raise SecretLeak(f"{len(leaks)} {name} row(s) hold secret-shaped text after redaction ({sample}); "
                         "nothing was exported")
