"""Operator actions on the simulated cluster, as one discriminated union."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from opsagent.sandbox.actions.base import Action, ActionResult
from opsagent.sandbox.actions.cluster import (
    Cordon,
    Drain,
    ExpandPVC,
    PatchConfigMap,
    PatchHPA,
    PatchService,
    PruneNodeDisk,
    RefreshSecret,
    RenewCertificate,
    Uncordon,
)
from opsagent.sandbox.actions.workloads import (
    DeletePod,
    PatchEnv,
    PatchResources,
    RolloutRestart,
    RolloutUndo,
    Scale,
    SetImage,
)

AnyAction = Annotated[
    DeletePod | RolloutRestart | Scale | RolloutUndo | SetImage | PatchResources | PatchEnv
    | Cordon | Uncordon | Drain | PruneNodeDisk | PatchService | PatchConfigMap | PatchHPA
    | ExpandPVC | RenewCertificate | RefreshSecret,
    Field(discriminator="action"),
]
_ADAPTER: TypeAdapter[AnyAction] = TypeAdapter(AnyAction)


def parse_action(data: dict[str, Any]) -> Action:
    """Validate an action given as data; raises pydantic.ValidationError naming the field."""
    return _ADAPTER.validate_python(data)


__all__ = [
    "Action", "ActionResult", "AnyAction", "Cordon", "DeletePod", "Drain", "ExpandPVC",
    "PatchConfigMap", "PatchEnv", "PatchHPA", "PatchResources", "PatchService", "PruneNodeDisk",
    "RefreshSecret", "RenewCertificate", "RolloutRestart", "RolloutUndo", "Scale", "SetImage",
    "Uncordon", "parse_action",
]
