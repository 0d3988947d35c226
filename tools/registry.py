"""The registry: tools by name and role, rendered as OpenAI `tools`, called safely: whatever
happens, a call returns a ToolResult the model can read; nothing raises into the agent."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import ValidationError

from opsagent.tools.base import AgentRole, Tool, ToolResult
from opsagent.tools.budget import fit


class ToolRegistry:
    def __init__(self, tools: list[Tool]):
        self.tools = {t.name: t for t in tools}
        if len(self.tools) != len(tools):
            raise ValueError("two tools share a name")

    def for_role(self, role: AgentRole | None = None) -> list[Tool]:
        return [t for t in self.tools.values() if role is None or role in t.roles]

    def openai(self, role: AgentRole | None = None) -> list[dict[str, Any]]:
        return [t.openai() for t in self.for_role(role)]

    def pin(self, ctx: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments with their state-dependent defaults fixed (`Tool.pin`), read now; raises
        what the read raises."""
        tool = self.tools[name]
        if tool.pin is None:
            return args
        return tool.pin(ctx, tool.args.model_validate(args)).model_dump(exclude_none=True)

    def call(self, ctx: Any, name: str, args: dict[str, Any] | str | None) -> ToolResult:
        started = time.perf_counter()
        raw: Any = args or {}
        tool = self.tools.get(name)
        if tool is None:
            return _refused(name, {}, f"unknown tool {name!r}; available: {', '.join(sorted(self.tools))}")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                return _refused(name, {}, f"arguments are not valid JSON: {exc.msg} at position {exc.pos}")
        if not isinstance(raw, dict):
            return _refused(name, {}, "arguments must be a JSON object")
        try:
            parsed = tool.args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                                 for e in exc.errors())
            return _refused(name, raw, f"invalid arguments: {problems}")
        try:
            result = tool.run(ctx, parsed)
        except Exception as exc:  # the contract: a tool never raises into the loop
            result = ToolResult(tool=name, args=raw, status="error", error=f"{type(exc).__name__}: {exc}")
        result.args = parsed.model_dump(exclude_none=True)
        text = result.text if result.status != "error" else f"error: {result.error}"
        result.text, result.truncated = fit(text, tool.budget_chars,
                                            "narrow the query (filters, time range, limit) to see more")
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result


def _refused(name: str, args: dict[str, Any], error: str) -> ToolResult:
    """A call that never ran: the model reads why, in the same `error: ...` form."""
    return ToolResult(tool=name, args=args, status="error", error=error, text=f"error: {error}")
