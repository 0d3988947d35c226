"""Which incident an alert notification belongs to. A group's firing alerts open its incident
(Alertmanager's `groupKey`); redeliveries, new fingerprints, truncation and resolved alerts
annotate it; a different group's alerts on the same workload join an open (or just mitigated)
incident rather than open a second one that would act on the same object. Everything is
recorded in the inbox database, so handling a notification twice (after a crash) is harmless."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsagent.agent.store import Store
from opsagent.agent.triage import NOT_INCIDENT, SCOPE_LABELS, fingerprint, workload
from opsagent.serve.inbox import Inbox


@dataclass
class Opened:
    """What routing asks the engine to do: start `incident` on `alerts`, or note a heartbeat."""

    incident: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    heartbeat: bool = False


class Grouping:
    def __init__(self, inbox: Inbox, store: Store, correlate_minutes: Callable[[], float]):
        self.inbox = inbox
        self.store = store
        self.correlate_minutes = correlate_minutes
        self._lock = threading.Lock()

    def route(self, item: dict[str, Any], running: Callable[[str], bool]) -> Opened | None:
        """Record what the notification says; returns the incident to start, if any
        (`running(incident)`: whether the engine already works on it)."""
        payload = item["payload"]
        alerts = payload.get("alerts") or []
        key = payload.get("groupKey") or _group_key(alerts)
        real = [
            a
            for a in alerts
            if a.get("status", "firing") == "firing"
            and a.get("labels", {}).get("alertname") not in NOT_INCIDENT
        ]
        resolved = [a for a in alerts if a.get("status") == "resolved"]
        origin = {"alertmanager": payload["externalURL"]} if payload.get("externalURL") else {}
        if not real and not resolved:
            return Opened(heartbeat=True)
        with self._lock:
            group = self.inbox.group(key)
            current = group and self.store.incident(group["incident"])
            # A group whose incident ended (done, or failed) and fires again is a recurrence: it
            # gets an incident of its own, linked to the one before, that runs (a leak back ten
            # minutes after a restart is investigated again). Only other groups on a workload
            # just fixed are taken for the fix's echoes.
            ended = bool(group and current and current["status"] in ("done", "failed"))
            related = self._related(real) if real and group is None else None
            seen: set[str] = set()
            if related is not None:
                incident = related
                self.inbox.event(
                    incident,
                    "correlated",
                    _names("firing on the same workload", real),
                    {"alerts": real, "group": key, **origin},
                )
            elif real and (group is None or ended):
                incident = f"{_slug(real)}-{item['id']}-{uuid.uuid4().hex[:6]}"
                data: dict[str, Any] = {"alerts": real, "item": item["id"], **origin}
                if group is not None:  # ended: link the two
                    data["recurrence_of"] = group["incident"]
                    summary = f"fired again after it ended: incident {incident}"
                    self.inbox.event(group["incident"], "recurred", summary, {"incident": incident})
                self.inbox.event(incident, "alerts", _names("firing", real), data)
            elif group is not None:
                incident, seen = group["incident"], set(group["fingerprints"])
                new = [a for a in real if fingerprint(a) not in seen]
                if new:
                    more = {"alerts": new, **origin}
                    self.inbox.event(incident, "alerts", _names("more firing", new), more)
                elif real:
                    self.inbox.event(
                        incident, "redelivered", _names("redelivered", real), {"item": item["id"]}
                    )
            else:
                return None  # resolved alerts of a group never seen firing
            all_resolved = payload.get("status") == "resolved" or not real
            self.inbox.set_group(
                key, incident, [*seen, *(fingerprint(a) for a in real)], resolved=all_resolved
            )
            if payload.get("truncatedAlerts"):
                self.inbox.event(
                    incident,
                    "truncated",
                    f"Alertmanager left out {payload['truncatedAlerts']} "
                    "more alert(s) of this group (max_alerts)",
                    {"item": item["id"]},
                )
            if resolved:
                self.inbox.event(incident, "resolved", _names("resolved", resolved), {"alerts": resolved})
            if real and not running(incident) and self.store.incident(incident) is None:
                return Opened(incident=incident, alerts=real, title=_title(real))
        return None

    def _related(self, alerts: list[dict[str, Any]]) -> str | None:
        """An alert-opened incident on the same workload, open, or mitigated within the
        correlation window: one fault fires several alert groups, and two incidents must not
        both act on it. (One that ended without a fix does not swallow new alerts.)"""
        scope = _scope(alerts)
        since = time.time() - self.correlate_minutes() * 60
        for row in reversed(self.store.incidents()):
            if (
                row["source"] == "chat"
                or row["status"] == "failed"
                or (row["status"] == "done" and (row["updated"] < since or row["outcome"] != "mitigated"))
            ):
                continue  # an ended incident absorbs only the echoes of a fix it made
            seen = [a for e in self.inbox.events(row["id"]) for a in e["data"].get("alerts", [])]
            if scope & _scope(seen):
                return row["id"]
        return None


def _group_key(alerts: list[dict[str, Any]]) -> str:
    """For sources without Alertmanager's groupKey: one group per alert name and namespace."""
    names = sorted(
        {(a.get("labels", {}).get("alertname", ""), a.get("labels", {}).get("namespace", "")) for a in alerts}
    )
    return "generic:" + hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16]


def _slug(alerts: list[dict[str, Any]]) -> str:
    name = alerts[0].get("labels", {}).get("alertname", "alert")
    return "".join(c for c in name.lower() if c.isalnum())[:24] or "alert"


def _scope(alerts: list[dict[str, Any]]) -> set[str]:
    """The workloads, pods and nodes the alerts name (a namespace alone is too broad)."""
    return {
        workload(v)
        for a in alerts
        for k, v in a.get("labels", {}).items()
        if k in SCOPE_LABELS and k not in ("namespace", "instance")
    }


def _title(alerts: list[dict[str, Any]]) -> str:
    """e.g. "ShopServiceHighErrorRate (critical) shop/checkout" (+ how many more)."""
    first = alerts[0].get("labels", {})
    where = "/".join(
        v
        for v in (
            first.get("namespace"),
            first.get("service") or first.get("pod") or first.get("deployment") or first.get("node"),
        )
        if v
    )
    more = f" and {len(alerts) - 1} more" if len(alerts) > 1 else ""
    return f"{first.get('alertname', 'alert')} ({first.get('severity', '?')}) {where}{more}".strip()


def _names(what: str, alerts: list[dict[str, Any]]) -> str:
    names = sorted({a.get("labels", {}).get("alertname", "?") for a in alerts})
    return f"{len(alerts)} alert(s) {what}: {', '.join(names)}"
