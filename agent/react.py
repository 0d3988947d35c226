"""The ReAct protocol every policy speaks: OpenAI chat messages, an assistant turn being a
thought and tool calls, or a final JSON Diagnosis. The graph's diagnose/tools nodes run it."""

from __future__ import annotations

import json
from typing import Any, Protocol

# The user turn that opens a new round of diagnosis in the same incident (agent.coordinator).
ROUND = "Still failing after the actions taken"


def this_round(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation since the current round began (all of it in the first round)."""
    starts = [i for i, m in enumerate(messages)
              if m.get("role") == "user" and str(m.get("content") or "").startswith(ROUND)]
    return messages[starts[-1]:] if starts else messages


class Policy(Protocol):
    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        """The next assistant message given the conversation so far; `answer`: the last one was
        not a valid Diagnosis and one is asked for again (a policy may then constrain itself)."""
        ...


def tool_results(messages: list[dict[str, Any]]) -> dict[str, list[tuple[dict[str, Any], str]]]:
    """Tool name -> [(arguments, result text)] from a conversation, in order."""
    args: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            raw = call["function"]["arguments"]
            args[call["id"]] = (call["function"]["name"], json.loads(raw) if isinstance(raw, str) else raw)
    out: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for m in messages:
        if m.get("role") == "tool" and m["tool_call_id"] in args:
            name, a = args[m["tool_call_id"]]
            out.setdefault(name, []).append((a, m["content"]))
    return out
