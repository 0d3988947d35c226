"""A database opened while another process is still creating it: SQLite refuses the switch to
WAL at once (no busy wait) while the other holds its write lock, which is how two batch workers
starting together failed ("database is locked"). Opening waits for it instead."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from opsagent.trajectories.sqlite import connect
from opsagent.trajectories.store import TrajectoryStore


def _hold_write_lock(path: Path, seconds: float, started: threading.Event) -> threading.Thread:
    def run() -> None:
        other = sqlite3.connect(path, isolation_level=None)  # a fresh file, not yet in WAL
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE IF NOT EXISTS early (k TEXT)")
        started.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_opening_waits_for_the_creator_instead_of_failing(tmp_path):
    for path in (tmp_path / "x.db", tmp_path / "store" / "index.db"):
        path.parent.mkdir(parents=True, exist_ok=True)
        started = threading.Event()
        thread = _hold_write_lock(path, 0.5, started)
        started.wait()
        t = time.monotonic()
        if path.name == "x.db":
            db = connect(path, "CREATE TABLE IF NOT EXISTS t (k TEXT)")
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            db.close()
        else:
            TrajectoryStore(path.parent).close()
        assert time.monotonic() - t >= 0.3  # it waited for the other writer
        thread.join()
