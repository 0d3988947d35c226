"""The service's durable records: the inbox (every accepted alert notification is stored,
fsynced, before the webhook answers, and is handled after a restart if it was not yet),
Alertmanager groups (groupKey -> its incident and the alert fingerprints seen), and an
incident's events from outside the graph (alerts arriving, redelivered, resolved)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from opsagent.trajectories.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL,
    status TEXT NOT NULL, received REAL NOT NULL, handled REAL, error TEXT);
CREATE INDEX IF NOT EXISTS inbox_status ON inbox(status, id);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY, incident TEXT NOT NULL, fingerprints TEXT NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, incident TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_incident ON events(incident, id);
"""


class Inbox:
    def __init__(self, path: Path):
        self._db = connect(path, SCHEMA)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._batch_lock = threading.Lock()
        self._batch: list[dict[str, Any]] = []
        self._writing = False

    def close(self) -> None:
        self._db.close()

    def _q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- inbox ------------------------------------------------------------------------------
    def put(self, kind: str, payload: dict[str, Any]) -> int:
        """Store a notification; returns once it is on disk. Concurrent callers share one
        transaction (one fsync): group commit, so many senders do not queue behind each other."""
        slot: dict[str, Any] = {"row": (kind, json.dumps(payload), time.time()), "done": threading.Event()}
        with self._batch_lock:
            self._batch.append(slot)
            leader = not self._writing
            self._writing = True
        if leader:
            self._write_batches()
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return int(slot["id"])

    def _write_batches(self) -> None:
        while True:
            with self._batch_lock:
                batch, self._batch = self._batch, []
                if not batch:
                    self._writing = False
                    return
            try:
                with self._lock:
                    self._db.execute("BEGIN IMMEDIATE")
                    for slot in batch:
                        cur = self._db.execute(
                            "INSERT INTO inbox (kind, payload, status, received) VALUES (?, ?, 'queued', ?)",
                            slot["row"],
                        )
                        slot["id"] = cur.lastrowid
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with self._lock:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                for slot in batch:
                    slot["error"] = exc
            for slot in batch:
                slot["done"].set()

    def pending(self) -> list[dict[str, Any]]:
        """Accepted but not yet handled, oldest first (after a restart: what was cut off)."""
        return self.items("queued")

    def items(self, status: str) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "kind": r["kind"], "payload": json.loads(r["payload"]), "error": r["error"]}
            for r in self._q("SELECT * FROM inbox WHERE status = ? ORDER BY id", status)
        ]

    def done(self, item: int, error: str | None = None) -> None:
        self.done_many([(item, error)])

    def done_many(self, items: list[tuple[int, str | None]]) -> None:
        """Mark handled items in one transaction (a crash before it means they are handled
        again, which handling allows)."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "UPDATE inbox SET status = ?, handled = ?, error = ? WHERE id = ?",
                [("failed" if error else "done", now, error, item) for item, error in items],
            )

    def depth(self) -> int:
        return int(self._q("SELECT count(*) FROM inbox WHERE status = 'queued'")[0][0])

    # ---- Alertmanager groups ------------------------------------------------------------------
    def group(self, key: str) -> dict[str, Any] | None:
        rows = self._q("SELECT * FROM groups WHERE key = ?", key)
        if not rows:
            return None
        return {
            "incident": rows[0]["incident"],
            "fingerprints": json.loads(rows[0]["fingerprints"]),
            "resolved": bool(rows[0]["resolved"]),
        }

    def set_group(self, key: str, incident: str, fingerprints: list[str], resolved: bool = False) -> None:
        self._q(
            "INSERT INTO groups (key, incident, fingerprints, resolved, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET incident = excluded.incident, fingerprints = "
            "excluded.fingerprints, resolved = excluded.resolved, updated = excluded.updated",
            key,
            incident,
            json.dumps(sorted(set(fingerprints))),
            int(resolved),
            time.time(),
        )

    def alerts_resolved(self, incident: str) -> bool | None:
        """Whether every alert group attached to the incident has resolved (None: no group)."""
        rows = self._q("SELECT resolved FROM groups WHERE incident = ?", incident)
        return all(r["resolved"] for r in rows) if rows else None

    # ---- events -----------------------------------------------------------------------------
    def event(self, incident: str, kind: str, summary: str, data: dict[str, Any] | None = None) -> None:
        self._q(
            "INSERT INTO events (incident, at, kind, summary, data) VALUES (?, ?, ?, ?, ?)",
            incident,
            time.time(),
            kind,
            summary,
            json.dumps(data or {}),
        )

    def events(self, incident: str) -> list[dict[str, Any]]:
        return [
            {"at": r["at"], "kind": r["kind"], "summary": r["summary"], "data": json.loads(r["data"])}
            for r in self._q("SELECT * FROM events WHERE incident = ? ORDER BY id", incident)
        ]
