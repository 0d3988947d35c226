"""The SQLite files opsagent keeps (trajectory index, incidents and approvals, the inbox, graph
checkpoints), opened one way: WAL, every commit fsynced, autocommit, shared by threads and by
the worker processes of a batch."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

TIMEOUT_S = 30.0


def connect(path: Path, schema: str = "", isolation_level: str | None = None) -> sqlite3.Connection:
    """Open (creating) a database. Switching a new file to WAL takes a lock that SQLite refuses
    at once, without waiting, while another process is creating the same file (two workers
    starting together); that step is retried until TIMEOUT_S."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=TIMEOUT_S, isolation_level=isolation_level)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    db.execute("PRAGMA synchronous=FULL")
    if schema:
        db.executescript(schema)
    return db
