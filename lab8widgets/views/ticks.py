"""Axis ticks at round numbers, for every lab's charts: bqplot spaces linear ticks by pixels
(433.25, 216.62) and d3 crowds log ticks on a short axis, so the views set ``tick_values``
themselves from these."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["decades", "linear_ticks", "log_ticks", "nice_range"]


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Tick values for a log axis from ``lo`` to ``hi``: round numbers at least a ``most``-th of the
    axis apart, so labels never pile up (d3's own log ticks crowd 0.8, 0.9, 1.00 together on a
    short axis). Coarse steps first (1, 1.5, 2, 3, 5, 7 × 10ⁿ), finer ones on a short axis; at
    least two ticks."""
    if not (0 < lo < hi and math.isfinite(hi)):
        return []
    span = math.log10(hi) - math.log10(lo)
    for steps in ((1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks: list[float] = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in steps:
                v = float(f"{m * 10.0**e:.6g}")
                if lo <= v <= hi and (not ticks or math.log10(v / ticks[-1]) >= span / most):
                    ticks.append(v)
        if len(ticks) >= 2:
            return ticks
    inner = 10 ** (span * 0.1)  # a very short axis: near its two ends, to three digits
    return [float(f"{lo * inner:.3g}"), float(f"{hi / inner:.3g}")]


def decades(lo: float, hi: float) -> list[float]:
    """The powers of ten from the one at or below ``lo`` to the one at or above ``hi``."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**k for k in range(a, max(b, a + 1) + 1)]


def nice_range(lo: float, hi: float, n: int = 4) -> tuple[float, float, float]:
    """``lo``..``hi`` widened to multiples of a round step (1, 2 or 5 × 10^k), and that step, so the
    axis's ticks read 0, 100, 200 rather than -1.62, 195.03."""
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    lo_n, hi_n = np.floor(lo / step) * step, np.ceil(hi / step) * step
    return float(lo_n), float(hi_n), float(step)


def linear_ticks(lo: float, hi: float, step: float) -> np.ndarray:
    """Every multiple of ``step`` from ``lo`` to ``hi`` (both round), as the axis's tick values."""
    n = int(round((hi - lo) / step))
    return np.round(lo + step * np.arange(n + 1), 10)
