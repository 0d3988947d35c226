"""Mutations run once. A request that fails in transit (a timeout, a dropped connection) may
still have been applied by the apiserver, so it is never sent again blindly: the target is read
back (reads are safe to retry) and the result says what is true now. Recomputing a mutation
from the state it produced is how a retried `rollout undo` redeploys the bad revision."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes.client.rest import ApiException

from opsagent.tools.base import Args, ToolResult
from opsagent.tools.context import ToolContext, Transient
from opsagent.tools.kubernetes_read import TRANSIENT, guard

ReadBack = Callable[[], tuple[bool | None, str]]  # (applied, what the target shows now)


def mutate(ctx: ToolContext, tool: str, a: Args, run: Callable[[], ToolResult],
           missing: Callable[[], list[str]] | None = None, read_back: ReadBack | None = None) -> ToolResult:
    try:
        return guard(ctx, tool, a, run, missing, retry=False)
    except TRANSIENT as exc:
        lead = (f"the request failed in transit ({type(exc).__name__}) and may have been applied; "
                "it was not sent again")
    if read_back is None:
        return ToolResult(tool=tool, args=a.model_dump(), status="unknown",
                          text=f"{lead}. Check the target's state before acting again.")
    try:
        applied, now = ctx.retry(read_back, TRANSIENT)
    except (Transient, ApiException) as exc:
        return ToolResult(tool=tool, args=a.model_dump(), status="unknown",
                          text=f"{lead}, and reading the target back failed too ({exc}). Check it "
                               "before acting again.")
    if applied is True:
        return ToolResult(tool=tool, args=a.model_dump(), status="success", data={"changed": now},
                          text=f"{lead}. Read back: it was applied — {now}\nrollback: not known (see the "
                               "target's history)")
    if applied is False:
        return ToolResult(tool=tool, args=a.model_dump(), status="error",
                          error=f"{lead}. Read back: it was not applied — {now}")
    return ToolResult(tool=tool, args=a.model_dump(), status="unknown", text=f"{lead}. Read back: {now}")
