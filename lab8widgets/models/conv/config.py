"""``ConvConfig``: every ConvLab/SpreadsheetCNN setting with its default and allowed range, once.

The model validates with it, the lab's traits and controls are generated from it
(``lab8widgets.views.controls``), and the benchmark and notebook build networks from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layers import ACTIVATION_NAMES
from ..settings import Settings, setting

__all__ = ["ARCH_FIELDS", "ConvConfig", "POOL_TYPES"]

POOL_TYPES = ("max", "avg", "none")


@dataclass(frozen=True)
class ConvConfig(Settings):
    """The spreadsheet network's sizes, non-linearity and dropout (fastbook ch. 13 names)."""

    n_filters: int = setting(2, lo=1, hi=8, label="filters", help="layer-1 kernels")
    kernel_size: int = setting(3, lo=1, hi=7, label="kernel", help="k×k, both convolutions")
    stride: int = setting(1, lo=1, hi=3, label="stride", help="conv1's stride")
    padding: int = setting(0, lo=0, hi=3, label="padding", help="zeros around both convs' inputs")
    pool: str = setting("max", choices=POOL_TYPES, label="pool")
    pool_size: int = setting(2, lo=1, hi=4, label="pool size")
    activation: str = setting("relu", choices=ACTIVATION_NAMES, label="activation")
    dropout: float = setting(0.0, lo=0.0, hi=0.9, label="dropout p", help="0 = off")


# The fields that decide the layers' shapes (what ``SpreadsheetCNN.configure`` rebuilds for).
ARCH_FIELDS = ("n_filters", "kernel_size", "stride", "padding", "pool", "pool_size")
