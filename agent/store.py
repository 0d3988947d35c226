"""Durable records beside the checkpointer: the execution ledger (a side effect is recorded
before it happens, so a resumed node never repeats it) and the approval queue (pending actions
across all incidents; decisions may come from any process: CLI, API, page)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from opsagent.agent.models import ApprovalDecision
from opsagent.trajectories.sqlite import connect

ROLES_FOR = {"approver": {"approver", "security-approver", "admin"},
             "security-approver": {"security-approver", "admin"}}

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    key TEXT PRIMARY KEY, incident TEXT NOT NULL, tool TEXT NOT NULL, args TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT, started REAL NOT NULL, finished REAL);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, incident TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
    decision TEXT, created REAL NOT NULL, decided REAL, resumed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL,
    outcome TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status);
CREATE TABLE IF NOT EXISTS resumes (
    approval TEXT PRIMARY KEY, pid INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS starts (
    incident TEXT PRIMARY KEY, request TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS gate_history (
    key TEXT NOT NULL, target TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (key, target));
CREATE INDEX IF NOT EXISTS gate_history_target ON gate_history(target, at);
"""


CLAIM_S = 1800  # a claim older than this is taken over (its pid may have been reused)


def action_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class PermissionDenied(Exception):
    """The deciding role may not approve this action."""


class Store:
    def __init__(self, path: Path):
        self._db = connect(path, SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            cur = self._db.execute(sql, args)
            cur.row_factory = sqlite3.Row
            return cur.fetchone()

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def _run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # ---- execution ledger -------------------------------------------------------------------
    def begin(self, key: str, incident: str, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Record an execution before it happens. Returns the earlier record if this key was
        already begun (then the caller must not act again), else None."""
        inserted = self._run("INSERT OR IGNORE INTO executions (key, incident, tool, args, status, started) "
                             "VALUES (?, ?, ?, ?, 'started', ?)", key, incident, tool,
                             json.dumps(args, sort_keys=True), time.time())
        if inserted:
            return None
        row = self._one("SELECT * FROM executions WHERE key = ?", key)
        return {"status": row["status"], "result": json.loads(row["result"]) if row["result"] else None}

    def finish(self, key: str, result: dict[str, Any]) -> None:
        self._run("UPDATE executions SET status = 'done', result = ?, finished = ? WHERE key = ?",
                  json.dumps(result), time.time(), key)

    def execution(self, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM executions WHERE key = ?", key)
        return dict(row) if row else None

    def executions(self, incident: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all("SELECT * FROM executions WHERE incident = ? ORDER BY started",
                                           incident)]

    # ---- accepted starts: an incident's request, durable before anything answers for it ----
    def record_start(self, incident: str, request: dict[str, Any]) -> None:
        """What an incident is to start with (task, alerts, source, title, requester), written
        before the notification is marked handled, so a process that dies before a worker
        picks the incident up leaves it for the next one to start."""
        self._run("INSERT OR IGNORE INTO starts (incident, request, created) VALUES (?, ?, ?)",
                  incident, json.dumps(request), time.time())

    def start_request(self, incident: str) -> dict[str, Any] | None:
        row = self._one("SELECT request FROM starts WHERE incident = ?", incident)
        return json.loads(row["request"]) if row else None

    def unstarted(self) -> list[str]:
        """Accepted incidents that no process has opened yet."""
        return [r["incident"] for r in self._all(
            "SELECT incident FROM starts WHERE incident NOT IN (SELECT id FROM incidents) ORDER BY created")]

    # ---- the gate's rate-limit history (shared by every process on this store) ---------------
    def record_targets(self, key: str, targets: list[str], at: float) -> None:
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO gate_history (key, target, at) VALUES (?, ?, ?)",
                                 [(key, t, at) for t in targets])

    def executions_on(self, target: str, since: float) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM gate_history WHERE target = ? AND at >= ?", target, since)
        return int(row["n"]) if row else 0

    # ---- incidents ------------------------------------------------------------------------------
    def open_incident(self, incident: str, source: str, title: str) -> bool:
        """False when the incident already exists."""
        now = time.time()
        return bool(self._run("INSERT OR IGNORE INTO incidents (id, source, title, status, created, updated) "
                              "VALUES (?, ?, ?, 'open', ?, ?)", incident, source, title[:300], now, now))

    def set_incident(self, incident: str, status: str, outcome: str | None = None) -> None:
        self._run("UPDATE incidents SET status = ?, outcome = ?, updated = ? WHERE id = ?",
                  status, outcome, time.time(), incident)

    def incident(self, incident: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM incidents WHERE id = ?", incident)
        return dict(row) if row else None

    def incidents(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM incidents" + (" WHERE status = ?" if status else "") + " ORDER BY created"
        return [dict(r) for r in self._all(sql, *([status] if status else []))]

    # ---- approval queue ---------------------------------------------------------------------
    def open_approval(self, key: str, incident: str, payload: dict[str, Any]) -> str:
        """The pending approval for this action, created once (a re-run node finds it again)."""
        self._run("INSERT OR IGNORE INTO approvals (id, incident, payload, status, created) "
                  "VALUES (?, ?, ?, 'pending', ?)", key, incident, json.dumps(payload), time.time())
        return key

    def approval(self, approval_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM approvals WHERE id = ?", approval_id)
        return _approval(row) if row else None

    def approvals(self, status: str | None = "pending", incident: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM approvals WHERE 1=1", []
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        if incident:
            sql, args = sql + " AND incident = ?", [*args, incident]
        return [_approval(r) for r in self._all(sql + " ORDER BY created", *args)]

    def decide(self, approval_id: str, decision: ApprovalDecision) -> dict[str, Any]:
        """Record an SRE's decision. KeyError: unknown id; ValueError: already decided;
        PermissionDenied: the role may not decide this action."""
        current = self.approval(approval_id)
        if current is None:
            raise KeyError(approval_id)
        if current["status"] != "pending":
            raise ValueError(f"approval {approval_id} was already decided ({current['status']})")
        needed = current["payload"].get("approver") or "approver"
        if decision.role not in ROLES_FOR.get(needed, {"admin"}):
            raise PermissionDenied(f"this action needs the {needed} role; {decision.by} has {decision.role}")
        asked, forbid = current["payload"].get("requested_by"), current["payload"].get("forbid_self_approval")
        if forbid and asked == decision.by and decision.decision != "reject":
            raise PermissionDenied(f"{decision.by} asked for this action; separation of duties needs "
                                   "another approver")
        status = {"approve": "approved", "reject": "rejected", "edit": "edited"}[decision.decision]
        changed = self._run("UPDATE approvals SET status = ?, decision = ?, decided = ? "
                            "WHERE id = ? AND status = 'pending'", status, decision.model_dump_json(),
                            time.time(), approval_id)
        if not changed:
            raise ValueError(f"approval {approval_id} was decided meanwhile")
        return self.approval(approval_id)  # type: ignore[return-value]

    def claim_resume(self, approval_id: str) -> bool:
        """Only one worker continues an incident past a decision (the decision's job, recovery
        at start, another process on this store): the first to claim it, unless the claimant
        died (its process is gone) or claimed it longer than CLAIM_S ago."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # no other process claims between read and write
            try:
                row = self._db.execute("SELECT pid, at FROM resumes WHERE approval = ?",
                                       (approval_id,)).fetchone()
                if row is not None and _alive(row[0]) and time.time() - row[1] < CLAIM_S:
                    return False
                self._db.execute("INSERT OR REPLACE INTO resumes (approval, pid, at) VALUES (?, ?, ?)",
                                 (approval_id, os.getpid(), time.time()))
                return True
            finally:
                self._db.execute("COMMIT")

    def mark_resumed(self, approval_id: str) -> None:
        self._run("UPDATE approvals SET resumed = 1 WHERE id = ?", approval_id)

    def unresumed(self) -> list[dict[str, Any]]:
        """Decided approvals whose incident has not yet been resumed (e.g. after a restart)."""
        return [_approval(r) for r in self._all(
            "SELECT * FROM approvals WHERE status != 'pending' AND resumed = 0 ORDER BY decided")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _approval(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["payload"] = json.loads(out["payload"])
    out["decision"] = json.loads(out["decision"]) if out["decision"] else None
    out["resumed"] = bool(out["resumed"])
    return out
