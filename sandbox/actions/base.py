"""Shared parts of actions: the base model, results, names."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from opsagent.sandbox.world import World

Name = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]


class ActionResult(BaseModel):
    action: str
    target: str
    changed: list[str]
    rollback: list[dict] = Field(default_factory=list, description="actions that undo this one")


class Action(BaseModel):
    """Base of every action: frozen, strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target_kind: ClassVar[str] = "Deployment"

    @property
    def target(self) -> str:
        """`namespace/Kind/name` (or `Kind/name` for cluster-scoped objects)."""
        ns = getattr(self, "namespace", None)
        kind = getattr(self, "kind", None) or self.target_kind
        name = getattr(self, "name", None) or getattr(self, "node", "")
        return f"{ns}/{kind}/{name}" if ns else f"{kind}/{name}"

    def apply(self, world: World) -> ActionResult:
        raise NotImplementedError(type(self).__name__)

    def _result(self, changed: list[str], rollback: list[Action] | None = None) -> ActionResult:
        return ActionResult(
            action=self.action,  # type: ignore[attr-defined]
            target=self.target, changed=changed,
            rollback=[a.model_dump() for a in rollback or []],
        )
