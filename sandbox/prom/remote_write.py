"""Prometheus remote write (protocol 1.0): the metric history as snappy-compressed protobuf
`WriteRequest`s. The message types are declared at run time from their .proto definition, so
no generated code is checked in."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import cramjam
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from opsagent.sandbox.metrics import Frame, render


def _message_classes() -> tuple[type, type, type, type]:
    proto = descriptor_pb2.FileDescriptorProto(name="remote.proto", package="prometheus",
                                               syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        msg = proto.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name

    message("Label", [("name", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
                      ("value", 2, F.TYPE_STRING, F.LABEL_OPTIONAL, "")])
    message("Sample", [("value", 1, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, ""),
                       ("timestamp", 2, F.TYPE_INT64, F.LABEL_OPTIONAL, "")])
    message("TimeSeries", [("labels", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.Label"),
                           ("samples", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.Sample")])
    message("WriteRequest", [("timeseries", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED,
                              ".prometheus.TimeSeries")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return tuple(get(pool.FindMessageTypeByName(f"prometheus.{n}"))  # type: ignore[return-value]
                 for n in ("WriteRequest", "TimeSeries", "Label", "Sample"))


WriteRequest, TimeSeries, Label, Sample = _message_classes()


# Prometheus' staleness marker: a NaN with this exact bit pattern ends a series at once, as a
# scrape does when a target stops exposing it (a deleted pod's kube-state-metrics series).
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
SeriesKey = tuple


def write_request(frames: Iterable[Frame], extra_labels: dict[str, str] | None = None,
                  previous: set[SeriesKey] | None = None) -> tuple[bytes, set[SeriesKey]]:
    """One WriteRequest for a run of frames: each series once, its samples in time order,
    label names sorted (as the receiver requires). A series present in one frame (or in
    `previous`, the last frame before these) and gone in the next gets a staleness marker.
    Returns the request and the last frame's series."""
    series: dict[tuple, list[tuple[int, float]]] = {}
    last = set(previous or ())
    for frame in frames:
        ms = int(frame.t * 1000)
        now: set[SeriesKey] = set()
        for s in render(frame):
            # A series renders its labels in the same order every frame, so the unsorted
            # items identify it; sorting happens once per series below.
            key = (s.name, *s.labels.items())
            now.add(key)
            series.setdefault(key, []).append((ms, float(s.value)))
        for key in last - now:
            series.setdefault(key, []).append((ms, STALE_NAN))
        last = now
    extra = list((extra_labels or {}).items())
    req = WriteRequest()
    for key, samples in series.items():
        ts = req.timeseries.add()
        for name, value in sorted([("__name__", key[0]), *key[1:], *extra]):
            ts.labels.add(name=name, value=value)
        for ms, value in samples:
            ts.samples.add(timestamp=ms, value=value)
    return req.SerializeToString(), last


def chunks(frames: list[Frame], size: int) -> Iterator[list[Frame]]:
    for i in range(0, len(frames), size):
        yield frames[i:i + size]


class RemoteWriter:
    """Pushes frames to `<prometheus>/api/v1/write`; remembers how far it got."""

    def __init__(self, url: str, extra_labels: dict[str, str] | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/") + "/api/v1/write"
        self.extra_labels = extra_labels
        self.client = httpx.Client(timeout=timeout)
        self.sent = 0  # frames pushed so far
        self._last: set[SeriesKey] = set()  # the series of the last frame pushed

    def push(self, frames: list[Frame], batch: int = 8) -> int:
        """Push the frames not yet sent; returns how many were sent now."""
        fresh = frames[self.sent:]
        for part in chunks(fresh, batch):
            request, last = write_request(part, self.extra_labels, self._last)
            body = cramjam.snappy.compress_raw(request)
            response = self.client.post(self.url, content=bytes(body), headers={
                "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "opsagent-sandbox"})
            if response.status_code >= 300:
                raise RuntimeError(f"remote write to {self.url} failed: HTTP "
                                   f"{response.status_code}: {response.text.strip()[:300]}")
            self.sent += len(part)
            self._last = last
        return len(fresh)

    def close(self) -> None:
        self.client.close()
