"""The HTTP API: alerts in (Alertmanager webhook v4, generic JSON), chat out (SSE), incidents
with their timelines and resolutions, the approval queue, health and metrics. Routes validate
and authorise; the engine does the work."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from opsagent.agent.models import ApprovalDecision
from opsagent.agent.store import PermissionDenied
from opsagent.serve.auth import Principal, require
from opsagent.serve.charts import charts
from opsagent.serve.engine import Engine
from opsagent.serve.links import links
from opsagent.serve.schemas import (
    Accepted,
    AlertmanagerWebhook,
    Approval,
    Charts,
    ChatRequest,
    DecisionRequest,
    GenericAlerts,
    Incident,
    IncidentDetail,
    ResolutionRequest,
)
from opsagent.serve.timeline import timeline

router = APIRouter()
Viewer = Annotated[Principal, Depends(require("viewer"))]
Approver = Annotated[Principal, Depends(require("approver"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Sender = Annotated[Principal, Depends(require("alertmanager"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such record"}}


def engine(request: Request) -> Engine:
    return request.app.state.engine


Eng = Annotated[Engine, Depends(engine)]


# ---- alerts ---------------------------------------------------------------------------------
@router.post("/v1/alerts/alertmanager", status_code=202, response_model=Accepted, tags=["alerts"])
def alertmanager(body: AlertmanagerWebhook, eng: Eng, _: Sender) -> Accepted:
    """Alertmanager's webhook receiver. Stored durably, then handled in the background: firing
    alerts open or update the group's incident (deduplicated by fingerprint), resolved ones
    annotate it."""
    item = eng.accept("alertmanager", body.model_dump(mode="json"))
    return Accepted(accepted=item, alerts=len(body.alerts))


@router.post("/v1/alerts", status_code=202, response_model=Accepted, tags=["alerts"])
def generic(body: GenericAlerts, eng: Eng, _: Sender) -> Accepted:
    """Alerts from any other source, in a small JSON shape."""
    alerts = [a.as_alertmanager() for a in body.alerts]
    payload: dict[str, Any] = {
        "source": body.source,
        "alerts": alerts,
        "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing",
    }
    if body.group:
        payload["groupKey"] = f"{body.source}:{body.group}"
    item = eng.accept(body.source if body.source != "alertmanager" else "generic", payload)
    return Accepted(accepted=item, alerts=len(alerts))


# ---- chat -----------------------------------------------------------------------------------
@router.post("/v1/chat", tags=["chat"], responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND})
async def chat(body: ChatRequest, eng: Eng, who: Approver) -> EventSourceResponse:
    """Ask or instruct; the agent answers with its tools. Server-sent events: one per graph step
    (`monitor`, `diagnose`, `tools`, `gate`, ...), then `waiting` (an action awaits approval),
    `done` (with the report) or `error`. The first event, `incident`, names the chat's incident.
    An open stream holds no worker thread (it awaits its events), and one whose client has gone
    stops listening at once."""
    if body.incident is not None and eng.store.incident(body.incident) is None:
        raise HTTPException(404, f"no incident {body.incident!r}")
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def listener(kind: str, data: dict[str, Any]) -> None:  # called from incident workers
        loop.call_soon_threadsafe(events.put_nowait, (kind, data))

    incident = await run_in_threadpool(eng.chat, body.message, body.incident, who.name, listener)

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"event": "incident", "data": json.dumps({"incident": incident, "by": who.name})}
            while True:
                kind, data = await events.get()
                yield {"event": kind, "data": json.dumps(data, default=str)}
                if kind in ("done", "waiting", "error"):
                    return
        finally:
            eng.unlisten(incident, listener)

    return EventSourceResponse(stream(), ping=15)


# ---- incidents ------------------------------------------------------------------------------
def _incident(eng: Engine, row: dict[str, Any]) -> Incident:
    return Incident(**row, alerts_resolved=eng.inbox.alerts_resolved(row["id"]))


@router.get("/v1/incidents", response_model=list[Incident], tags=["incidents"])
def incidents(
    eng: Eng,
    _: Viewer,
    status: Annotated[str | None, Query(max_length=20)] = None,
    source: Annotated[str | None, Query(max_length=40, description="alertmanager, chat, ...")] = None,
    since: Annotated[float | None, Query(ge=0, description="opened at or after (unix time)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Incident]:
    """Newest first."""
    rows = [r for r in eng.store.incidents(status)[::-1]
            if (source is None or r["source"] == source) and (since is None or r["created"] >= since)]
    return [_incident(eng, r) for r in rows[:limit]]


@router.get(
    "/v1/incidents/{incident_id}", response_model=IncidentDetail, responses=NOT_FOUND, tags=["incidents"]
)
def incident(incident_id: str, eng: Eng, _: Viewer) -> IncidentDetail:
    row = eng.store.incident(incident_id)
    if row is None:
        raise HTTPException(404, f"no incident {incident_id!r}")
    state = eng.checkpoint_state(incident_id)
    return IncidentDetail(
        **_incident(eng, row).model_dump(),
        timeline=timeline(events := eng.inbox.events(incident_id), state),
        links=links(events, state, eng.cfg.dashboard_url),
        pending_approvals=eng.store.approvals("pending", incident_id),
        report=state.get("report"),
        trajectory=incident_id if eng.trajectories.get(incident_id) else None,
    )


@router.get("/v1/incidents/{incident_id}/charts", response_model=Charts, responses=NOT_FOUND,
            tags=["incidents"])
def incident_charts(incident_id: str, eng: Eng, _: Viewer) -> Charts:
    """The alert rules' expressions and the affected services' golden signals over the incident
    window, with its steps (fault onset where the environment knows it, firing, diagnosis,
    approval, actions, verification, resolution)."""
    if eng.store.incident(incident_id) is None:
        raise HTTPException(404, f"no incident {incident_id!r}")
    state = eng.checkpoint_state(incident_id)
    entries = timeline(eng.inbox.events(incident_id), state)
    return charts(eng.ctx, eng.registry, state, entries, eng.clock(), eng.onsets())


@router.post("/v1/incidents/{incident_id}/resolution", responses=NOT_FOUND, tags=["incidents"])
def resolution(incident_id: str, body: ResolutionRequest, eng: Eng, who: Approver) -> dict[str, Any]:
    """The SRE's label: was it mitigated, was the diagnosis right, what was really at fault.
    Grading (and so the next training round) uses it."""
    if eng.trajectories.get(incident_id) is None:
        raise HTTPException(404, f"no recorded trajectory for incident {incident_id!r} (yet)")
    labelled = eng.recorder.label(incident_id, {**body.model_dump(), "by": who.name, "at": time.time()})
    return {
        "incident": incident_id,
        "resolution": labelled.resolution,
        "grade": labelled.grade.model_dump(exclude_defaults=True) if labelled.grade else None,
    }


# ---- approvals ------------------------------------------------------------------------------
@router.get("/v1/approvals", response_model=list[Approval], tags=["approvals"])
def approvals(
    eng: Eng,
    _: Viewer,
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected|edited|all)$")] = "pending",
    incident: Annotated[str | None, Query(max_length=200)] = None,
) -> list[Approval]:
    rows = eng.store.approvals(None if status == "all" else status, incident)
    return [Approval(**{k: r[k] for k in Approval.model_fields}) for r in rows]


@router.post(
    "/v1/approvals/{approval_id}",
    response_model=Approval,
    tags=["approvals"],
    responses={
        **NOT_FOUND,
        403: {"description": "the role may not decide this action"},
        409: {"description": "already decided"},
    },
)
def decide(approval_id: str, body: DecisionRequest, eng: Eng, who: Approver) -> Approval:
    """Approve, reject (with a reason) or edit (changed arguments, gated again). The incident
    resumes in the background."""
    decision = ApprovalDecision(
        decision=body.decision, by=who.name, role=who.role, reason=body.reason, args=body.args
    )
    try:
        r = eng.decide(approval_id, decision)
    except KeyError:
        raise HTTPException(404, f"no approval {approval_id!r}") from None
    except PermissionDenied as exc:
        raise HTTPException(403, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return Approval(**{k: r[k] for k in Approval.model_fields})


# ---- operations -----------------------------------------------------------------------------
@router.get("/healthz", tags=["operations"])
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "not ready"}})
def readyz(eng: Eng, response: Response) -> dict[str, Any]:
    """Ready to take alerts: the inbox dispatcher runs and the service is not stopping."""
    state = eng.ready()
    ok = state["dispatcher"] and not state["stopping"]
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not ready", **state}


@router.get("/metrics", tags=["operations"], response_class=Response)
def metrics(eng: Eng) -> Response:
    return Response(generate_latest(eng.metrics.registry), media_type=CONTENT_TYPE_LATEST)
