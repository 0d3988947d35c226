"""The hand-built remote-write requests decode, with the protobuf runtime and the message
definitions of Prometheus' remote.proto, to exactly what Prometheus expects: each series once
with its labels sorted, samples in time order, a staleness marker where a series ends."""

from __future__ import annotations

import math
import struct

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from opsagent.sandbox.metrics import render
from opsagent.sandbox.prom.remote_write import STALE_NAN, Encoder, chunks
from tests.conftest import build


def _write_request_class() -> type:
    """prometheus.WriteRequest from remote.proto / types.proto (the fields remote write 1.0 uses)."""
    proto = descriptor_pb2.FileDescriptorProto(name="remote.proto", package="prometheus", syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto
    for name, fields in (
        ("Label", [("name", 1, F.TYPE_STRING, ""), ("value", 2, F.TYPE_STRING, "")]),
        ("Sample", [("value", 1, F.TYPE_DOUBLE, ""), ("timestamp", 2, F.TYPE_INT64, "")]),
        ("TimeSeries", [("labels", 1, F.TYPE_MESSAGE, ".prometheus.Label"),
                        ("samples", 2, F.TYPE_MESSAGE, ".prometheus.Sample")]),
        ("WriteRequest", [("timeseries", 1, F.TYPE_MESSAGE, ".prometheus.TimeSeries")]),
    ):
        msg = proto.message_type.add(name=name)
        for fname, number, ftype, type_name in fields:
            label = F.LABEL_REPEATED if type_name else F.LABEL_OPTIONAL
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


def _decode(data: bytes) -> dict[tuple, list[tuple[int, float]]]:
    req = WriteRequest()
    req.ParseFromString(data)
    out = {}
    for ts in req.timeseries:
        names = [label.name for label in ts.labels]
        assert names == sorted(names), names
        key = tuple((label.name, label.value) for label in ts.labels)
        assert key not in out, f"series {key} sent twice in one request"
        out[key] = [(s.timestamp, s.value) for s in ts.samples]
    return out


@pytest.mark.parametrize("extra", [{"sandbox_episode": "e1"}, {"sandbox_episode": "e2"},
                                   {"a_first": "x", "sandbox_episode": "e3", "zz_last": "y"}, {}],
                         ids=["episode", "another-episode-same-process", "three-extra", "none"])
def test_a_history_decodes_to_every_rendered_sample_in_time_order(extra):
    """Labels are encoded once per process and reused with each episode's own extra labels:
    every combination must still decode to the sorted label set."""
    frames = build("bad_rollout", seed=3).world.frames[:12]
    decoded: dict[tuple, list[tuple[int, float]]] = {}
    enc, last = Encoder(extra), None
    for part in chunks(frames, 5):
        data, last = enc.write_request(part, last)
        for key, samples in _decode(data).items():
            decoded.setdefault(key, []).extend(samples)
    expected: dict[tuple, list[tuple[int, float]]] = {}
    for frame in frames:
        for s in render(frame):
            key = tuple(sorted([("__name__", s.name), *s.labels.items(), *extra.items()]))
            expected.setdefault(key, []).append((int(frame.t * 1000), float(s.value)))
    live = {k: [x for x in v if not math.isnan(x[1])] for k, v in decoded.items()}
    assert live == expected
    for samples in decoded.values():
        assert [t for t, _ in samples] == sorted(t for t, _ in samples)


def test_a_series_that_disappears_gets_the_staleness_marker_once():
    frames = build("bad_rollout", seed=3).world.frames
    first, later = frames[0], frames[-1]
    gone = {s.labels.get("pod") for s in render(first)} - {s.labels.get("pod") for s in render(later)}
    assert gone - {None}, "the rollout replaced no pod; pick another scenario"
    data, _ = Encoder().write_request([first, later])
    stale = [(k, v) for k, v in _decode(data).items() if dict(k).get("pod") in gone]
    assert stale
    for _key, samples in stale:
        assert len(samples) == 2
        marker = struct.pack("<d", samples[1][1])
        assert marker == struct.pack("<d", STALE_NAN)  # the exact bit pattern, not any NaN
        assert samples[1][0] == int(later.t * 1000)


def test_timestamps_of_any_width_round_trip():
    frames = build("memory_leak", seed=1).world.frames[:2]
    odd = [frames[0]._replace(t=0.0), frames[1]._replace(t=4.102e9)]  # 1-byte and 6-byte varints
    decoded = _decode(Encoder().write_request(odd)[0])
    for samples in decoded.values():
        assert [t for t, _ in samples] == [0, 4_102_000_000_000]
