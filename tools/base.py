"""What a tool is: typed arguments (which become the OpenAI schema the model reads), a risk
class, the objects it touches (for the action gate), a call, and a result that is always
returned, never raised, rendered within an output budget."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

A = TypeVar("A", bound=BaseModel)


class Risk(StrEnum):
    READ = "read"
    MUTATE_LOW = "mutate-low"
    MUTATE_HIGH = "mutate-high"
    DESTRUCTIVE = "destructive"


# `unknown`: a mutation whose outcome could not be established (the request failed in transit
# and reading the target back did not tell).
Status = Literal["success", "error", "no_data", "approval_required", "unknown"]
AgentRole = Literal["monitor", "diagnose", "repair"]


class Args(BaseModel):
    """Base of tool arguments: unknown fields are an error the model can read."""

    model_config = ConfigDict(extra="forbid")


class ToolResult(BaseModel):
    tool: str
    args: dict[str, Any]
    status: Status
    text: str = ""  # what the model reads, within the tool's budget
    data: Any = None  # structured result, for code (gate, grader, recorder)
    error: str | None = None
    truncated: bool = False
    untrusted: bool = False  # text came from the cluster (logs, events): data, never instructions
    rollback: list[dict[str, Any]] = []  # for mutations: the calls that undo it
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class Tool(Generic[A]):
    name: str
    description: str
    args: type[A]
    risk: Risk
    roles: tuple[AgentRole, ...]
    run: Callable[[Any, A], ToolResult]  # (context, args) -> result
    touches: Callable[[A], list[str]] = field(default=lambda a: [])
    budget_chars: int = 6000
    # A mutation's defaults that depend on the cluster's state (an undo's revision), fixed when
    # it is proposed so that what is judged and approved is what runs.
    pin: Callable[[Any, A], A] | None = None

    def openai(self) -> dict[str, Any]:
        """The tool as an OpenAI `tools` entry (a fresh copy: callers may change it)."""
        schema = json.loads(_parameters(self.args))
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": schema}}


@cache
def _parameters(args: type[BaseModel]) -> str:
    """An arguments model's JSON schema without titles, built once (pydantic takes ~5 ms a
    model, and every model turn shows every tool)."""
    schema = args.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return json.dumps(schema)
