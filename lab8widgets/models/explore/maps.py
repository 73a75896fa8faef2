"""What a collaborative-filtering model learned, read two ways: cosine neighbours of an item
(``neighbours``, with one minimum of ratings so the first answers are films people rated) and a
PCA map of the item factors (``pca_map``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..collab import check_whole, default_min_ratings
from ..project import cosine_similarity, pca, top_k
from .factors import Factors, find_name


def eligible(f: Factors, min_ratings: int) -> np.ndarray:
    """Which items have at least ``min_ratings`` ratings (all of them when counts are unknown)."""
    if f.item_counts is None or min_ratings <= 0:
        return np.ones(f.n_items, dtype=bool)
    return f.item_counts >= min_ratings


def neighbours(f: Factors, title: Any, k: int = 10, min_ratings: int | None = None):
    """The k titles whose factors point most the same way as ``title``'s (cosine similarity),
    among titles with at least ``min_ratings`` training ratings (default: ``default_min_ratings``)."""
    import pandas as pd

    i = find_name(f, title)
    k = check_whole("k", k, 0, 1 << 30)
    if min_ratings is None:
        min_ratings = default_min_ratings(f.item_counts)
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    sims = cosine_similarity(f.item_factors, f.item_factors[i])
    ok = eligible(f, min_ratings)
    ok[i] = False
    order = top_k(sims, ok, k)
    counts = f.item_counts if f.item_counts is not None else np.full(f.n_items, -1)
    return pd.DataFrame(
        {
            "title": [f.items[j] for j in order],
            "similarity": sims[order],
            "n_ratings": counts[order].astype(int),
        }
    )


# --- PCA ------------------------------------------------------------------------------------------


@dataclass
class PCAMap:
    """The PCA of the factors of ``rows`` (the most-rated items, as fastbook does)."""

    rows: np.ndarray  # which items (rows of Factors) are on the map
    coords: np.ndarray  # (len(rows), n_components)
    explained: np.ndarray  # explained variance ratio per component
    extremes: list[tuple[list, list]]  # per component: (lowest names, highest names)


def pca_map(
    factors: torch.Tensor | np.ndarray,
    names: Sequence,
    counts: np.ndarray | None = None,
    n_top: int = 1000,
    n_components: int = 10,
    n_extremes: int = 5,
) -> PCAMap:
    """The PCA (``models.project.pca``, the one PCA: scikit-learn's, signs included) over the
    ``n_top`` most-rated rows (all rows without counts)."""
    x = factors.detach().cpu().numpy() if isinstance(factors, torch.Tensor) else factors
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    n_top = check_whole("n_top", n_top, 3, 1 << 30)
    if counts is not None:
        rows = np.argsort(-np.asarray(counts), kind="stable")[: min(n_top, n)]
    else:
        rows = np.arange(min(n_top, n))
    if len(rows) < 3 or x.shape[1] < 2:
        raise ValueError(
            f"a PCA map needs at least 3 items and 2 factors, got {len(rows)} and {x.shape[1]}"
        )
    nc = int(min(n_components, x.shape[1], len(rows)))
    fitted = pca(x[rows], nc)
    coords = fitted.coords
    m = min(n_extremes, len(rows) // 2)
    extremes = []
    for c in range(nc):
        order = np.argsort(coords[:, c], kind="stable")
        extremes.append(
            ([names[rows[j]] for j in order[:m]], [names[rows[j]] for j in order[::-1][:m]])
        )
    return PCAMap(rows, coords, fitted.explained, extremes)


# --- the bootstrapping problem --------------------------------------------------------------------
