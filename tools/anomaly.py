"""Where a metric departs from its own baseline. Method: robust z-scores, (x - median) /
(1.4826 * MAD), against the first third of the window; runs of |z| > 3.5 are reported."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

THRESHOLD = 3.5


@dataclass
class Summary:
    first: float
    last: float
    minimum: float
    maximum: float
    mean: float
    windows: list[tuple[float, float, float]]  # (start, end, peak z)

    def describe(self) -> str:
        trend = "flat"
        span = max(abs(self.first), abs(self.last), 1e-12)
        change = (self.last - self.first) / span
        if change > 0.1:
            trend = f"rising ({change:+.0%})"
        elif change < -0.1:
            trend = f"falling ({change:+.0%})"
        text = (f"last={_n(self.last)} min={_n(self.minimum)} max={_n(self.maximum)} "
                f"mean={_n(self.mean)} trend={trend}")
        if self.windows:
            parts = [f"{_t(a)}-{_t(b)} (peak z={z:+.1f})" for a, b, z in self.windows[:3]]
            text += "; departs from baseline " + ", ".join(parts)
        return text


def _n(x: float) -> str:
    return f"{x:.4g}"


def _t(t: float) -> str:
    return time.strftime("%H:%M", time.gmtime(t))


def summarize(points: list[tuple[float, float]]) -> Summary:
    values = [v for _, v in points]
    base = values[: max(3, len(values) // 3)]
    median = statistics.median(base)
    mad = statistics.median(abs(v - median) for v in base) * 1.4826
    # A flat baseline has no spread: measure departures against 5% of the series' range then.
    scale = mad or max(abs(median) * 0.05, (max(values) - min(values)) * 0.05, 1e-9)
    windows: list[tuple[float, float, float]] = []
    start = peak = None
    for t, v in points:
        z = (v - median) / scale
        if abs(z) > THRESHOLD:
            if start is None:
                start, peak = t, z
            elif abs(z) > abs(peak):  # type: ignore[arg-type]
                peak = z
            end = t
        elif start is not None:
            windows.append((start, end, peak))  # type: ignore[arg-type]
            start = None
    if start is not None:
        windows.append((start, points[-1][0], peak))  # type: ignore[arg-type]
    return Summary(values[0], values[-1], min(values), max(values), statistics.fmean(values), windows)
