"""fastai's one-cycle schedule (``fit_one_cycle``): per-step learning rates and momentums."""

from __future__ import annotations

import numpy as np

__all__ = ["combined_cos", "one_cycle"]


def _sched_cos(start: float, end: float, pos: np.ndarray) -> np.ndarray:
    return start + (1 + np.cos(np.pi * (1 - pos))) * (end - start) / 2


def combined_cos(
    pct: float, start: float, middle: float, end: float, pos: np.ndarray
) -> np.ndarray:
    """fastai's ``combined_cos``: cosine from start to middle over ``pct``, then to end."""
    pos = np.asarray(pos, dtype=np.float64)
    first = pos < pct
    out = np.empty_like(pos)
    if pct > 0:
        out[first] = _sched_cos(start, middle, pos[first] / pct)
    rest = ~first
    out[rest] = _sched_cos(middle, end, (pos[rest] - pct) / (1 - pct))
    return out


def one_cycle(
    total_steps: int,
    lr_max: float,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (lr, beta1) of fastai's ``fit_one_cycle``, sampled where its ParamScheduler samples."""
    pos = np.arange(total_steps, dtype=np.float64) / total_steps
    lrs = combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final, pos)
    mom = combined_cos(pct_start, *moms, pos)
    return lrs, mom
