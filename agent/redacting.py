"""Where tool results enter the agent, secrets leave them: every result is redacted once, here,
before the graph stores it (checkpoints, the ledger, approval payloads), shows it (timeline, chat
events) or sends it (the model endpoint), so every sink holds the same redacted text. A rollback
whose arguments held a secret is withheld: replaying it would write the mask into the cluster."""

from __future__ import annotations

from typing import Any

from opsagent.tools.base import ToolResult
from opsagent.tools.registry import ToolRegistry
from opsagent.trajectories.redact import Redactor


class RedactingRegistry(ToolRegistry):
    def __init__(self, inner: ToolRegistry, redactor: Redactor | None = None):
        self.tools = inner.tools
        self.inner = inner
        self.redact = redactor or Redactor()

    def call(self, ctx: Any, name: str, args: dict[str, Any] | str | None) -> ToolResult:
        return redact_result(self.inner.call(ctx, name, args), self.redact)


def redact_result(result: ToolResult, redact: Redactor) -> ToolResult:
    rollback = redact(result.rollback)
    kept = [r for r, clean in zip(result.rollback, rollback, strict=True) if r == clean]
    text = redact.text(result.text)
    if len(kept) < len(result.rollback):
        text += "\n(a rollback that holds a secret value is withheld; restore it from the secret store)"
    return result.model_copy(update={
        "text": text, "error": redact.text(result.error) if result.error else result.error,
        "data": redact(result.data), "rollback": kept, "args": redact(result.args)})

