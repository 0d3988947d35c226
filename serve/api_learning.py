"""The learning side of the service: the model registry (lineage, datasets, evaluations, which
checkpoint is current; an admin promotes with the rules of `opsagent model promote`) and the
trajectory store (browse, filter, read one as a conversation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from opsagent.serve.api import NOT_FOUND, Admin, Eng, Viewer
from opsagent.serve.schemas import ModelInfo, Models, PromoteRequest, PromoteResult
from opsagent.train.promote import held_out_verdict
from opsagent.train.registry import ModelRegistry

router = APIRouter()


def _registry(eng: Eng) -> ModelRegistry:
    return ModelRegistry(eng.settings.data_dir / "models")


Registry = Annotated[ModelRegistry, Depends(_registry)]


@router.get("/v1/models", response_model=Models, tags=["models"])
def models(reg: Registry, _: Viewer) -> Models:
    """Every checkpoint, newest first, with its lineage back to its base."""
    current = reg.current()
    rows = [ModelInfo(**c.model_dump(include={"id", "kind", "base", "parent", "datasets", "profile",
                                              "eval_metrics", "created", "commit"}),
                      path=str(c.path), current=current is not None and c.id == current.id,
                      learning_curve=c.learning_curve is not None,
                      lineage=[x.id for x in reg.lineage(c.id)],
                      train_metrics={k: v for k, v in c.train_metrics.items()
                                     if isinstance(v, (int, float, str))})
            for c in sorted(reg.list(), key=lambda c: -c.created)]
    return Models(current=current.id if current else None, checkpoints=rows)


@router.get("/v1/models/{checkpoint_id}/curve", response_class=FileResponse, tags=["models"],
            responses={**NOT_FOUND, 200: {"content": {"image/png": {}}}})
def curve(checkpoint_id: str, reg: Registry, _: Viewer) -> FileResponse:
    """The learning curve of the loop run that trained the checkpoint (loss by step, task rates
    per checkpoint and split)."""
    try:
        path = reg.get(checkpoint_id).learning_curve
    except KeyError:
        raise HTTPException(404, f"no checkpoint {checkpoint_id!r}") from None
    if path is None or not Path(path).is_file():
        raise HTTPException(404, f"{checkpoint_id} has no learning curve")
    return FileResponse(path, media_type="image/png")


@router.post("/v1/models/{checkpoint_id}/promote", response_model=PromoteResult,
             responses={**NOT_FOUND, 409: {"description": "refused: not better, or less safe"},
                        422: {"description": "no held-out evaluation to compare"}}, tags=["models"])
def promote(checkpoint_id: str, body: PromoteRequest, reg: Registry, who: Admin) -> PromoteResult:
    """Make a checkpoint current if its held-out figures beat the current one's and it is as
    safe (train.promote.decide)."""
    try:
        candidate = reg.get(checkpoint_id)
    except KeyError:
        raise HTTPException(404, f"no checkpoint {checkpoint_id!r}") from None
    try:
        split, verdict = held_out_verdict(candidate, reg.current(), body.split)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if not verdict.promote:
        raise HTTPException(409, "; ".join(verdict.reasons))
    reg.set_current(checkpoint_id)
    return PromoteResult(current=checkpoint_id, split=split, reasons=verdict.reasons, by=who.name)


@router.get("/v1/trajectories", tags=["trajectories"])
def trajectories(
    eng: Eng,
    _: Viewer,
    policy: Annotated[str | None, Query(max_length=80)] = None,
    checkpoint: Annotated[str | None, Query(max_length=200)] = None,
    fault: Annotated[str | None, Query(max_length=80, description="substring of the faults")] = None,
    outcome: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    """Index rows, newest first, and how many match."""
    filters = {"policy": policy, "checkpoint": checkpoint, "fault": fault, "outcome": outcome}
    return {"total": eng.trajectories.count(**filters),
            "rows": eng.trajectories.list(limit=limit, offset=offset, **filters)}


@router.get("/v1/trajectories/{trajectory_id}", responses=NOT_FOUND, tags=["trajectories"])
def trajectory(trajectory_id: str, eng: Eng, _: Viewer) -> dict[str, Any]:
    """One trajectory as recorded (redacted at the boundary where tool results entered)."""
    record = eng.trajectories.get(trajectory_id)
    if record is None:
        raise HTTPException(404, f"no trajectory {trajectory_id!r}")
    return record.model_dump(mode="json")
