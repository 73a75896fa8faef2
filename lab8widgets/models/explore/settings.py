"""The explorer's typed fields: what each accepts, written once, so a field refuses what it
cannot use with the field's name, the value and the range (and keeps the last good value)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, setting

__all__ = ["ExploreSettings"]


@dataclass(frozen=True)
class ExploreSettings(Settings):
    """How the explorer reads a model: the PCA's rows, neighbours to list and ratings floors."""

    n_top: int = setting(1000, lo=3, hi=1_000_000, label="PCA over the most-rated")
    k: int = setting(10, lo=1, hi=100, label="k")
    min_ratings: int = setting(20, lo=0, hi=1_000_000, label="min ratings")
    bias_min_ratings: int = setting(5, lo=1, hi=1_000_000, label="min ratings")
