"""The durable checkpointer an incident's graph resumes from: SQLite by default (a file in
the data directory), Postgres when `agent.checkpoint_url` is a postgresql:// URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from opsagent.trajectories.sqlite import connect


@contextmanager
def open_checkpointer(url: str | None, data_dir: Path) -> Iterator[BaseCheckpointSaver]:
    if url and url.startswith(("postgresql://", "postgres://")):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver
        return
    path = Path(url.removeprefix("sqlite:///")) if url else data_dir / "checkpoints.db"
    conn = connect(path, isolation_level="")  # SqliteSaver commits its own transactions
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()
