"""lab8widgets: live Jupyter labs for fast.ai Part 1, Lesson 8.

Heavy imports (torch, fastai, the widgets) stay lazy so ``import lab8widgets`` is quick. The lab
classes come from the registry in ``labs.py``; a new lab is exported by its registry line alone.
"""

from __future__ import annotations

import importlib
from typing import Any

from .labs import LABS

__version__ = "0.1.0"

_LAZY = {
    **{lab.class_name: lab.module for lab in LABS},
    "HeatmapGrid": "lab8widgets.views.heatmap",
    "conv_as_matmul": "lab8widgets.models.conv",
    "movielens": "lab8widgets.data",
    "synthetic_ratings": "lab8widgets.data",
    "mnist_sample": "lab8widgets.data",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lab8widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
