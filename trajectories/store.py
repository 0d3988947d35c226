"""The trajectory store: JSONL payloads (append-only, one line per version of a record, each
fsync'd before it is indexed) and a SQLite index to list and filter by policy, checkpoint,
fault, outcome and date. A kill at any point leaves every indexed line whole: a record is
indexed `complete=0` when its incident starts, and repointed at its final line at the end."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opsagent.trajectories.models import Grade, Trajectory
from opsagent.trajectories.sqlite import connect

COLUMNS = ("id", "incident", "created", "finished", "complete", "source", "policy", "checkpoint",
           "scenario", "seed", "fault", "outcome", "detected", "localised", "analysed", "mitigated",
           "denied", "harmful_executed", "steps", "tool_calls", "tokens")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS trajectories (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in COLUMNS)},
    shard TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS by_created ON trajectories(created);
CREATE INDEX IF NOT EXISTS by_policy ON trajectories(policy, created);
CREATE INDEX IF NOT EXISTS by_fault ON trajectories(fault, created);
CREATE INDEX IF NOT EXISTS by_outcome ON trajectories(outcome, created);
CREATE INDEX IF NOT EXISTS by_checkpoint ON trajectories(checkpoint, created);
"""
FILTERS = ("policy", "checkpoint", "fault", "outcome", "source", "scenario", "complete", "mitigated")


class TrajectoryStore:
    def __init__(self, root: Path):
        self.root = root
        (root / "payloads").mkdir(parents=True, exist_ok=True)
        self._db = connect(root / "index.db", SCHEMA)
        self._lock = threading.Lock()
        self._writers = threading.Lock()  # flock is per open file: threads are held off here

    def close(self) -> None:
        self._db.close()

    # ---- writing ------------------------------------------------------------------------------
    def _append(self, records: list[Trajectory]) -> list[tuple[str, int, int]]:
        """Append the records' lines to their day's shard; one fsync for the batch."""
        where: list[tuple[str, int, int]] = []
        by_shard: dict[str, list[bytes]] = {}
        for record in records:
            shard = f"{time.strftime('%Y-%m-%d', time.gmtime(record.created))}.jsonl"
            by_shard.setdefault(shard, []).append((record.model_dump_json() + "\n").encode())
        for shard, lines in by_shard.items():
            with open(self.root / "payloads" / shard, "ab") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # several processes may append to one shard
                try:
                    offset = fh.seek(0, os.SEEK_END)
                    for line in lines:
                        where.append((shard, offset, len(line)))
                        offset += len(line)
                    fh.write(b"".join(lines))
                    fh.flush()
                    os.fsync(fh.fileno())
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        return where

    def put(self, record: Trajectory) -> None:
        """Write a version of the record and point the index at it."""
        self.put_many([record])

    def put_many(self, records: list[Trajectory]) -> None:
        """Write many records (an import, a migration) with one fsync and one index transaction."""
        places = self._append(records)
        rows = [[*self._row(r).values(), *where] for r, where in zip(records, places, strict=True)]
        names = [*COLUMNS, "shard", "offset", "length"]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(f"INSERT OR REPLACE INTO trajectories ({', '.join(names)}) VALUES "
                                 f"({', '.join('?' * len(names))})", rows)
            self._db.execute("COMMIT")

    def update(self, trajectory_id: str, change: Callable[[Trajectory], Trajectory]) -> Trajectory:
        """Read, change and write one record with every other writer (thread or process) held
        off, so a label posted while the run is recorded, or two processes grading, never lose
        each other's write. KeyError when there is no such record."""
        with self._writers, open(self.root / "update.lock", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.get(trajectory_id)
                if current is None:
                    raise KeyError(trajectory_id)
                changed = change(current)
                self.put(changed)
                return changed
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _row(record: Trajectory) -> dict[str, Any]:
        g = record.grade or Grade(source="none")
        usage = record.usage or {}
        row = {"id": record.id, "incident": record.incident, "created": record.created,
               "finished": record.finished, "complete": int(record.complete), "source": record.source,
               "policy": record.policy, "checkpoint": record.checkpoint,
               "scenario": record.environment.scenario, "seed": record.environment.seed,
               "fault": ",".join(record.environment.faults) or None, "outcome": record.outcome,
               "detected": g.detected, "localised": g.localised, "analysed": g.analysed,
               "mitigated": g.mitigated, "denied": g.denied, "harmful_executed": g.harmful_executed,
               "steps": usage.get("steps", 0), "tool_calls": usage.get("tool_calls", 0),
               "tokens": usage.get("tokens", 0)}
        return {c: row[c] for c in COLUMNS}

    # ---- reading ------------------------------------------------------------------------------
    def get(self, trajectory_id: str) -> Trajectory | None:
        with self._lock:
            row = self._db.execute("SELECT shard, offset, length FROM trajectories WHERE id = ?",
                                   (trajectory_id,)).fetchone()
        if row is None:
            return None
        with open(self.root / "payloads" / row[0], "rb") as fh:
            fh.seek(row[1])
            return Trajectory.model_validate_json(fh.read(row[2]))

    @staticmethod
    def _where(since: float | None, until: float | None, filters: dict[str, Any]) -> tuple[str, list]:
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"unknown filter(s) {sorted(unknown)}; use {', '.join(FILTERS)}")
        sql, args = " WHERE 1=1", []
        for key, value in filters.items():
            if value is None:
                continue
            if key == "fault":
                sql, args = sql + " AND fault LIKE ?", [*args, f"%{value}%"]
            else:
                sql, args = sql + f" AND {key} = ?", [*args, int(value) if isinstance(value, bool) else value]
        if since is not None:
            sql, args = sql + " AND created >= ?", [*args, since]
        if until is not None:
            sql, args = sql + " AND created < ?", [*args, until]
        return sql, args

    def list(self, limit: int | None = 100, offset: int = 0, since: float | None = None,
             until: float | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Index rows, newest first. Filters: policy, checkpoint, fault (substring), outcome,
        source, scenario, complete, mitigated; since/until bound `created`."""
        where, args = self._where(since, until, filters)
        sql = f"SELECT {', '.join(COLUMNS)} FROM trajectories{where} ORDER BY created DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ? OFFSET ?", [*args, limit, offset]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [dict(zip(COLUMNS, r, strict=True)) for r in rows]

    def count(self, since: float | None = None, until: float | None = None, **filters: Any) -> int:
        where, args = self._where(since, until, filters)
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM trajectories{where}", args).fetchone()[0]

    def iter(self, limit: int | None = None, **filters: Any) -> Iterator[Trajectory]:
        for row in self.list(limit=limit, **filters):
            record = self.get(row["id"])
            if record is not None:
                yield record

    def incomplete(self) -> list[dict[str, Any]]:
        return self.list(limit=None, complete=False)
