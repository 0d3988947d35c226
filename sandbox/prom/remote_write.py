"""Prometheus remote write (protocol 1.0): the metric history as snappy-compressed protobuf
`WriteRequest`s. Encoded directly (numpy for the samples, cached label blocks): a history is
~140k samples, and building them as protobuf message objects took ~1 s of an episode's ~4."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import cramjam
import httpx
import numpy as np

from opsagent.sandbox.metrics import Frame, Sample, render

# Prometheus' staleness marker: a NaN with this exact bit pattern ends a series at once, as a
# scrape does when a target stops exposing it (a deleted pod's kube-state-metrics series).
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
SeriesKey = tuple


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as protobuf writes it: two's complement, ten bytes when negative
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _labels(pairs: list[tuple[str, str]]) -> bytes:
    """TimeSeries.labels (field 1): Label{name = 1, value = 2}, in the given order."""
    return b"".join(_field(1, _field(1, n.encode()) + _field(2, v.encode())) for n, v in pairs)


def _samples(ms: np.ndarray, values: np.ndarray) -> tuple[bytes, int]:
    """The TimeSeries.samples entries (field 2) of every sample, back to back, and the width of
    one: Sample{value = 1 (double), timestamp = 2 (varint)}, encoded for all at once. Every
    sample gets the same width: the timestamp varint is padded with continuation bytes (a
    valid, if not minimal, varint) to the width of the largest."""
    stamps = ms.astype(np.uint64)  # int64 as protobuf writes it: two's complement
    top = int(stamps.max()) if len(stamps) else 0
    w = max(1, (top.bit_length() + 6) // 7)
    rows = np.empty((len(ms), 12 + w), dtype=np.uint8)
    rows[:, 0], rows[:, 1], rows[:, 2] = 0x12, 10 + w, 0x09
    rows[:, 3:11] = values.astype("<f8").view(np.uint8).reshape(-1, 8)
    rows[:, 11] = 0x10
    for k in range(w):
        byte = (stamps >> np.uint64(7 * k)) & np.uint64(0x7F)
        rows[:, 12 + k] = byte | np.uint64(0x80 if k < w - 1 else 0)
    return rows.tobytes(), 12 + w


# A series' labels encoded once per process, cut where the extra labels (an episode's own)
# go in: a worker sees the same series in episode after episode, each with another extra value.
_SEGMENTS: dict[tuple[SeriesKey, tuple[str, ...]], tuple[bytes, ...]] = {}
_SEGMENTS_MAX = 200_000


def _segments(key: SeriesKey, extra_names: tuple[str, ...]) -> tuple[bytes, ...]:
    """The series' own label fields in name order, in len(extra_names) + 1 runs: the labels
    sorting before the first extra name, between the first and the second, ... after the last."""
    cached = _SEGMENTS.get((key, extra_names))
    if cached is None:
        pairs = sorted([("__name__", key[0]), *key[1:]])
        runs: list[list[tuple[str, str]]] = [[] for _ in range(len(extra_names) + 1)]
        for name, value in pairs:
            runs[sum(name > extra for extra in extra_names)].append((name, value))
        if len(_SEGMENTS) >= _SEGMENTS_MAX:
            _SEGMENTS.clear()
        cached = _SEGMENTS[(key, extra_names)] = tuple(_labels(run) for run in runs)
    return cached


class Encoder:
    """WriteRequests for one writer: each series' label block is built once and reused for
    every later request (the history's chunks, then one per tick). Series are told apart by
    their number (Sample.sid), not by their labels."""

    def __init__(self, extra_labels: dict[str, str] | None = None):
        extra = sorted((extra_labels or {}).items())
        self._names = tuple(n for n, _ in extra)
        self._extra = [_labels([pair]) for pair in extra]
        self._blocks: dict[int, bytes] = {}

    def _block(self, sample: Sample) -> bytes:
        runs = _segments((sample.name, *sample.labels.items()), self._names)
        return runs[0] + b"".join(e + r for e, r in zip(self._extra, runs[1:], strict=True))

    def write_request(self, frames: Iterable[Frame], previous: set[int] | None = None
                      ) -> tuple[bytes, set[int]]:
        """One WriteRequest for a run of frames: each series once, its samples in time order,
        label names sorted (as the receiver requires). A series present in one frame (or in
        `previous`, the last frame before these) and gone in the next gets a staleness marker.
        Returns the request and the last frame's series."""
        blocks = self._blocks
        index: dict[int, int] = {}
        ids: list[int] = []
        ms_all: list[int] = []
        values: list[float] = []
        last = set(previous or ())
        for frame in frames:
            samples = render(frame)
            sids = [s.sid for s in samples]
            now = set(sids)
            if not blocks.keys() >= now:  # series this writer has not sent before
                for s in samples:
                    if s.sid not in blocks:
                        blocks[s.sid] = self._block(s)
            gone = last - now
            ids += [index.setdefault(k, len(index)) for k in (*sids, *gone)]
            values += [s.value for s in samples]
            values += [STALE_NAN] * len(gone)
            ms_all += [int(frame.t * 1000)] * (len(sids) + len(gone))
            last = now
        # Group the samples by series, in time order within each (a stable sort keeps it).
        order = np.argsort(np.array(ids, dtype=np.int64), kind="stable")
        blob, width = _samples(np.array(ms_all, dtype=np.int64)[order],
                               np.array(values, dtype=np.float64)[order])
        counts = np.bincount(np.array(ids, dtype=np.int64), minlength=len(index)).tolist()
        out = bytearray()
        at = 0
        for sid, n in zip(index, counts, strict=True):
            body = blocks[sid] + blob[at:at + n * width]
            at += n * width
            out += _varint(1 << 3 | 2) + _varint(len(body)) + body
        return bytes(out), last


def chunks(frames: list[Frame], size: int) -> Iterator[list[Frame]]:
    for i in range(0, len(frames), size):
        yield frames[i:i + size]


class RemoteWriter:
    """Pushes frames to `<prometheus>/api/v1/write`; remembers how far it got."""

    def __init__(self, url: str, extra_labels: dict[str, str] | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/") + "/api/v1/write"
        self.client = httpx.Client(timeout=timeout)
        self.restart(extra_labels)

    def restart(self, extra_labels: dict[str, str] | None = None) -> None:
        """From the first frame again (another scenario's history), on the same connection."""
        self.encoder = Encoder(extra_labels)
        self.sent = 0  # frames pushed so far
        self._last: set[int] = set()  # the series (sids) of the last frame pushed

    def push(self, frames: list[Frame], batch: int = 30) -> int:
        """Push the frames not yet sent; returns how many were sent now."""
        fresh = frames[self.sent:]
        for part in chunks(fresh, batch):
            request, last = self.encoder.write_request(part, self._last)
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
