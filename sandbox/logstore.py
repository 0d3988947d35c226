"""The log store: ECS records, with each tick's routine output kept as a compact batch that is
written out only when someone reads that stretch of time.

Most of a scenario's log lines are never read by anyone; rendering them lazily keeps history
cheap. A batch renders from its own seed, so when (or whether) it is read never changes what
it says, and it expands in place, so the record order never depends on reading order either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from opsagent.sandbox.logtext import iso


class LogRecord(NamedTuple):
    timestamp: float
    level: str
    message: str
    namespace: str
    pod: str
    container: str
    service: str
    node: str

    def to_ecs(self) -> dict[str, object]:
        """The document a Filebeat/Fluent Bit pipeline would ship to Elasticsearch."""
        return {
            "@timestamp": iso(self.timestamp),
            "message": self.message,
            "log.level": self.level,
            "kubernetes.namespace": self.namespace,
            "kubernetes.pod.name": self.pod,
            "kubernetes.container.name": self.container,
            "service.name": self.service,
            "host.name": self.node,
        }


class Batch(NamedTuple):
    """One tick's routine lines, not yet written: lines fall in (t - dt, t]."""

    t: float
    dt: float
    seed: int
    rows: tuple[Any, ...]


class LogStore:
    def __init__(self, render: Callable[[Batch], list[LogRecord]]):
        self._render = render
        self._chunks: list[list[LogRecord] | Batch] = []
        self._open: list[LogRecord] = []
        self._flat: list[LogRecord] | None = []

    def append(self, record: LogRecord) -> None:
        self._open.append(record)
        self._flat = None

    def add_batch(self, batch: Batch) -> None:
        if self._open:
            self._chunks.append(self._open)
            self._open = []
        self._chunks.append(batch)
        self._flat = None

    def clear(self) -> None:
        self._chunks, self._open, self._flat = [], [], []

    def _chunk(self, i: int) -> list[LogRecord]:
        chunk = self._chunks[i]
        if isinstance(chunk, Batch):
            chunk = self._chunks[i] = self._render(chunk)
        return chunk

    @property
    def records(self) -> list[LogRecord]:
        """Every record, in the order written. Renders whatever is still pending."""
        if self._flat is None:
            flat: list[LogRecord] = []
            for i in range(len(self._chunks)):
                flat.extend(self._chunk(i))
            flat.extend(self._open)
            self._flat = flat
        return self._flat

    def __len__(self) -> int:
        return len(self.records)

    def query(
        self,
        *,
        namespace: str | None = None,
        pod: str | None = None,
        service: str | None = None,
        level: str | None = None,
        contains: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[LogRecord]:
        """Records matching every given filter; renders only the batches in the time window."""
        out = []
        chunks = [*range(len(self._chunks)), -1]
        for i in chunks:
            if i >= 0:
                chunk = self._chunks[i]
                if isinstance(chunk, Batch) and (
                    (since is not None and chunk.t < since)
                    or (until is not None and chunk.t - chunk.dt > until)
                ):
                    continue
                records = self._chunk(i)
            else:
                records = self._open
            for r in records:
                if (
                    (namespace is None or r.namespace == namespace)
                    and (pod is None or r.pod == pod)
                    and (service is None or r.service == service)
                    and (level is None or r.level == level)
                    and (since is None or r.timestamp >= since)
                    and (until is None or r.timestamp <= until)
                    and (contains is None or contains in r.message)
                ):
                    out.append(r)
        return out
