"""Which alerts the real rules fire over a scenario's history, by `promtool test rules`: the
history becomes the test's input series, and promtool evaluates every rule, `for:` included,
over simulated time in seconds rather than waiting for wall-clock minutes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from opsagent.sandbox.metrics import Frame, render
from opsagent.sandbox.prom.rules import rule_specs

_GOT = re.compile(r"alertname: (\S+), time: (\S+),\s*\n\s*exp:.*?\n\s*got:(\[.*?\n\s*\])", re.S)
_LABELS = re.compile(r"Labels:\{(.*?)\}\n")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _selector(name: str, labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in sorted(labels.items()))
    return f"{name}{{{body}}}"


def input_series(frames: list[Frame], names: set[str] | None = None) -> list[dict[str, str]]:
    """The series over the frames (those named in `names`, if given), in promtool's notation
    (`_` where a series is absent)."""
    values: dict[int, list[str]] = {}
    selectors: dict[int, str] = {}
    for i, frame in enumerate(frames):
        for s in render(frame):
            if names is not None and s.name not in names:
                continue
            column = values.get(s.sid)
            if column is None:  # the selector is formatted once per series
                column = values[s.sid] = ["_"] * len(frames)
                selectors[s.sid] = _selector(s.name, s.labels)
            column[i] = repr(float(s.value))
    return [{"series": selectors[sid], "values": " ".join(vals)} for sid, vals in values.items()]


_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _relevant(alertnames: list[str]) -> tuple[list[dict], set[str]]:
    """The rule groups cut down to the given alerts and the recording rules they depend on, and
    the metric names those need. promtool evaluates every rule it is given at every step, so
    handing it only these (and only those series) keeps its run short; no other rule can change
    whether these alerts fire."""
    groups = [g for _, spec in rule_specs() for g in spec["groups"]]
    records = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    todo = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") in alertnames]
    names: set[str] = set()
    while todo:
        for ident in _IDENT.findall(todo.pop()):
            if ident in names:
                continue
            names.add(ident)
            if ident in records:
                todo.append(records[ident])
    wanted = [{**g, "rules": [r for r in g["rules"]
                              if r.get("alert") in alertnames or r.get("record") in names]} for g in groups]
    return [g for g in wanted if g["rules"]], names


def firing_alerts(frames: list[Frame], alertnames: list[str],
                  promtool: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The alerts (name -> label sets) firing at the last frame, as Prometheus would fire them."""
    exe = promtool or shutil.which("promtool")
    if exe is None:
        raise FileNotFoundError("promtool not found: install the Debian package `prometheus`")
    step = round(frames[1].t - frames[0].t)
    at = f"{step * (len(frames) - 1)}s"
    with tempfile.TemporaryDirectory() as tmp:
        groups, names = _relevant(alertnames)
        # JSON is YAML, and json.dumps is ~50x faster than PyYAML's emitter on a history.
        rules = Path(tmp) / "relevant.yaml"
        rules.write_text(json.dumps({"groups": groups}))
        test = {"rule_files": [str(rules)], "evaluation_interval": f"{step}s",
                "tests": [{"interval": f"{step}s", "input_series": input_series(frames, names),
                           "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []}
                                               for name in alertnames]}]}
        path = Path(tmp) / "test.yaml"
        path.write_text(json.dumps(test))
        out = subprocess.run([exe, "test", "rules", str(path)], capture_output=True, text=True,
                             timeout=600)
    text = out.stdout + out.stderr
    if out.returncode != 0 and "FAILED" not in text:
        raise RuntimeError(f"promtool test rules failed: {text[-2000:]}")
    fired: dict[str, list[dict[str, str]]] = {name: [] for name in alertnames}
    for name, _, got in _GOT.findall(text):
        fired[name] = [dict(_PAIR.findall(labels)) for labels in _LABELS.findall(got)]
    return fired
