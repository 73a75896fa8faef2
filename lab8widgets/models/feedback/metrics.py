"""What the loop does to the catalogue, measured on one round's recommendations: the share of a
genre, catalogue coverage, item exposure and its Gini coefficient (plain numpy, no torch)."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage", "exposure", "genre_share", "gini"]


def exposure(shown: np.ndarray, n_items: int) -> np.ndarray:
    """How many times each item was shown: ``shown`` is (users, k) item indices."""
    return np.bincount(np.asarray(shown, dtype=np.int64).ravel(), minlength=n_items)


def genre_share(shown: np.ndarray, in_genre: np.ndarray) -> float:
    """The fraction of recommendation slots that hold an item of the genre (``in_genre``: bool per item)."""
    shown = np.asarray(shown, dtype=np.int64)
    return float(np.asarray(in_genre, dtype=bool)[shown].mean()) if shown.size else 0.0


def coverage(shown: np.ndarray, n_items: int) -> float:
    """Catalogue coverage: the fraction of the catalogue recommended to at least one user."""
    return float(np.count_nonzero(exposure(shown, n_items))) / max(int(n_items), 1)


def gini(values: np.ndarray) -> float:
    """The Gini coefficient of non-negative values: 0 when every item is shown equally, near 1
    when a few items take every slot. Sorted form of mean |x_i − x_j| / (2 · mean)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)
