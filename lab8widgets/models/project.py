"""The one PCA and the one cosine similarity every lab uses (the explorer's map of movie factors,
the entity lab's map of German states, similar movies, neighbours in factor space).

- ``pca(x, k)``: principal components by the SVD of the centred rows, each axis signed so its
  largest loading is positive (scikit-learn's ``PCA`` rule since 1.5), so a re-run draws the same
  picture; ``pca2(x)`` is its first two coordinates, zero-filled for a 1-wide input.
- ``cosine_similarity(vectors, query)``: torch's ``F.cosine_similarity`` of each row with one
  vector; ``top_k(scores, keep, k)`` the k best of the rows ``keep`` allows, ties in row order.

Pure numpy/torch, no widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["PCA", "cosine_similarity", "pca", "pca2", "top_k"]


@dataclass(frozen=True)
class PCA:
    """A fitted PCA: ``coords`` (rows × k), ``components`` (k × features), ``explained`` (the
    share of the total variance per component) and the ``mean`` that was taken off."""

    coords: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    mean: np.ndarray


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def pca(x: Any, n_components: int = 2) -> PCA:
    """The first ``n_components`` principal components of the rows of ``x`` (a tensor or array)."""
    x = _numpy(x)
    if x.ndim != 2 or min(x.shape) < 1:
        raise ValueError(f"PCA needs a 2-D table with at least one row and column, got {x.shape}")
    mean = x.mean(axis=0)
    centred = x - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = int(min(n_components, vt.shape[0]))
    vt = vt[:k].copy()
    for i in range(k):  # each axis points so that its largest loading is positive
        j = np.argmax(np.abs(vt[i]))
        if vt[i, j] < 0:
            vt[i] *= -1
    var = s * s
    total = var.sum()
    explained = var[:k] / total if total > 0 else np.zeros(k)
    return PCA(centred @ vt.T, vt, explained, mean)


def pca2(x: Any) -> np.ndarray:
    """The first two principal coordinates of the rows of ``x``; a 1-wide input gives a zero
    second axis."""
    p = pca(x, 2)
    out = np.zeros((len(p.coords), 2))
    out[:, : p.coords.shape[1]] = p.coords
    return out


def cosine_similarity(vectors: torch.Tensor, query: torch.Tensor) -> np.ndarray:
    """How much each row of ``vectors`` points the same way as ``query`` (−1 … 1), as float64."""
    sims = nn.functional.cosine_similarity(vectors, query[None], dim=1)
    return sims.detach().cpu().numpy().astype(float)


def top_k(scores: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores`` among the rows where ``keep`` is true (ties keep
    row order)."""
    cand = np.flatnonzero(keep)
    return cand[np.argsort(-scores[cand], kind="stable")][:k]
