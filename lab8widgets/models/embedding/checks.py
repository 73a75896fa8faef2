"""Checking what a learner typed into the embedding labs: one message per mistake."""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import Any

import torch

# --- checking what a learner typed ----------------------------------------------------------------


def check_real(name: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not lo < float(v) <= hi:
        raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}], got {v!r}")
    return float(v)


def as_int(v: Any, what: str = "index") -> int:
    """``v`` as an int: ints, integral floats and digit strings pass; ``1.5``, ``"x"``, True do not."""
    if isinstance(v, bool):
        raise ValueError(f"{what} {v!r} is not an integer")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real) and float(v).is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
        return int(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_floating_point():
        return int(v.item())
    raise ValueError(f"{what} {v!r} is not an integer")


def parse_ints(text: str, what: str = "index") -> list[int]:
    """``"3, 1 3"`` → ``[3, 1, 3]``; anything that is not a whole number is named in the error."""
    parts = [p for p in re.split(r"[\s,;]+", str(text).strip()) if p]
    if not parts:
        raise ValueError(f"type at least one {what}, e.g. 3, 1, 3")
    return [as_int(p, what) for p in parts]


def check_indices(idx: Any, n_rows: int) -> list[int]:
    """Row indices into a table of ``n_rows`` rows, or a ValueError saying which one is wrong."""
    if isinstance(idx, torch.Tensor):
        idx = idx.flatten().tolist()
    if isinstance(idx, str) or not isinstance(idx, Iterable):
        idx = [idx]
    out = [as_int(i) for i in idx]
    if not out:
        raise ValueError("pick at least one index")
    if len(out) > 64:
        raise ValueError(f"pick at most 64 indices at once (got {len(out)})")
    bad = [i for i in out if not 0 <= i < n_rows]
    if bad:
        raise ValueError(
            f"index {bad[0]} is out of range: this table has {n_rows} rows, so indices go from 0 "
            f"to {n_rows - 1}"
        )
    return out
