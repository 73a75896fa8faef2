"""Reading entity embeddings: vectors per category, 2-D projections, and scores against the world.

The paper behind the lesson ("Entity Embeddings of Categorical Variables") shows that a tabular
model's German-state embedding, projected to 2-D, redraws the map, and that weekday and month
embeddings keep their calendars. These functions measure that on a live model:

- ``embedding(model, "State")``: one row per category, its vector.
- ``projection``: PCA to 2-D (``models.project.pca2``, the one PCA), optionally turned onto a map by an orthogonal Procrustes fit
  (rotation, reflection and one scale: nothing that could bend the shape).
- ``map_score``: the Procrustes disparity between the projected states and their map positions,
  and the share of random state assignments (the same points, labels shuffled) that fit worse.
- ``calendar_score``: how well the embedding keeps calendar neighbours together (defined there).
No widget code; works on any model with ``embeds`` and ``cat_names``/``classes`` (``TabularModel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..project import pca2

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CALENDARS",
    "calendar_score",
    "embedding",
    "map_score",
    "nearest",
    "one_hot_lookup",
    "pca2",
    "procrustes_align",
    "projection",
]

#: calendar kind -> (column in Rossmann-shaped data, cycle length, labels of 1..n)
CALENDARS = {
    "weekday": ("DayOfWeek", 7, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")),
    "month": (
        "Month",
        12,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    ),
}


def _table(model: Any, name: str) -> tuple[np.ndarray, list]:
    """(weights without the #na# row, class labels) of categorical column ``name``."""
    names = getattr(model, "cat_names", None)
    classes = getattr(model, "classes", None)
    if names is None or classes is None:
        raise ValueError(
            "this model does not know its columns' classes: build it with tabular_model(data)"
        )
    if name not in names:
        raise KeyError(f"{name!r} is not a categorical column of this model; choose one of {names}")
    w = model.embeds[names.index(name)].weight.detach().cpu().double().numpy()
    return w[1:], list(classes[name])[1:]


def embedding(model: Any, name: str) -> pd.DataFrame:
    """The learned vectors of column ``name``: one row per category (index), columns e0, e1, …

    The ``#na#`` row (values unseen in training) is left out.
    """
    import pandas as pd

    w, labels = _table(model, name)
    return pd.DataFrame(
        w,
        index=pd.Index(labels, name=name),
        columns=[f"e{i}" for i in range(w.shape[1])],
    )


def one_hot_lookup(model: Any, name: str, category: Any) -> dict[str, np.ndarray]:
    """The lesson's identity for one category: one-hot row × weight matrix == the embedding lookup.

    Returns the ``one_hot`` vector (over all classes incl. ``#na#``), its ``product`` with the
    weight matrix, and the ``lookup`` (the embedding's output for that index), all from torch.
    """
    names = model.cat_names
    if name not in names:
        raise KeyError(f"{name!r} is not a categorical column of this model; choose one of {names}")
    classes = list(model.classes[name])
    if category not in classes[1:]:
        raise KeyError(f"{category!r} is not a category of {name!r}; choose one of {classes[1:]}")
    emb = model.embeds[names.index(name)]
    idx = classes.index(category)
    dev = emb.weight.device
    with torch.no_grad():
        one_hot = torch.nn.functional.one_hot(torch.tensor(idx, device=dev), len(classes)).float()
        product = one_hot @ emb.weight
        lookup = emb(torch.tensor([idx], device=dev))[0]
    return {
        k: v.cpu().numpy()
        for k, v in (("one_hot", one_hot), ("product", product), ("lookup", lookup))
    }


def procrustes_align(points: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """``points`` rotated (or reflected), scaled and moved onto ``target``; and the disparity.

    The disparity is ``scipy.spatial.procrustes``' (both sets centred and scaled to unit size; the
    sum of squared differences after the best orthogonal fit): 0 is the same shape, 1 no relation.
    """
    from scipy.linalg import orthogonal_procrustes
    from scipy.spatial import procrustes

    a = np.asarray(points, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    a0, b0 = a - a.mean(0), b - b.mean(0)
    na = np.linalg.norm(a0)
    if na == 0:
        return np.repeat(b.mean(0, keepdims=True), len(b), 0), 1.0
    r, s = orthogonal_procrustes(a0, b0)
    aligned = a0 @ r * (s / na**2) + b.mean(0)
    _, _, disparity = procrustes(b, a)
    return aligned, float(disparity)


def projection(model: Any, name: str, positions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each category of ``name`` at its 2-D PCA position (``x``, ``y``), one row per category.

    With ``positions`` (x, y indexed by category, e.g. ``region_positions()``), the PCA points are
    turned onto those positions by an orthogonal Procrustes fit, so they share the map's axes;
    categories without a position are fitted through the others.
    """
    import pandas as pd

    emb = embedding(model, name)
    xy = pca2(emb.to_numpy())
    if positions is not None:
        have = [c for c in emb.index if c in positions.index]
        if len(have) < 3:
            raise ValueError(
                f"need map positions for at least 3 categories of {name!r}, have {len(have)}"
            )
        rows = [list(emb.index).index(c) for c in have]
        target = positions.loc[have, ["x", "y"]].to_numpy(np.float64)
        a0 = xy[rows] - xy[rows].mean(0)
        from scipy.linalg import orthogonal_procrustes

        na = np.linalg.norm(a0)
        if na > 0:
            r, s = orthogonal_procrustes(a0, target - target.mean(0))
            xy = (xy - xy[rows].mean(0)) @ r * (s / na**2) + target.mean(0)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=emb.index)


def map_score(
    model: Any,
    positions: pd.DataFrame,
    name: str = "State",
    n_perm: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """How well the 2-D projected embedding of ``name`` matches the map ``positions`` (x, y).

    ``disparity``: the Procrustes disparity (0 = the map's shape, 1 = unrelated).
    ``better_than``: the share of ``n_perm`` random assignments of the same embedding points to
    the states (labels shuffled, seeded) whose disparity is higher than the learned one's.
    """
    emb = embedding(model, name)
    have = [c for c in emb.index if c in positions.index]
    if len(have) < 3:
        raise ValueError(
            f"need map positions for at least 3 categories of {name!r}, have {len(have)}"
        )
    xy = pca2(emb.loc[have].to_numpy())
    target = positions.loc[have, ["x", "y"]].to_numpy(np.float64)
    _, disparity = procrustes_align(xy, target)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(len(have)) for _ in range(int(n_perm))])
    shuffled = _disparities(xy[perms], target) if len(perms) else np.zeros(0)
    worse = int((shuffled > disparity + 1e-12).sum())
    return {"disparity": float(disparity), "better_than": worse / max(int(n_perm), 1)}


def _disparities(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``scipy.spatial.procrustes``' disparity of each (k, n, 2) point set against ``target``, at once.

    With both sides centred and scaled to unit norm, the best orthogonal fit leaves
    ``1 - (sum of singular values of target.T @ points)**2``.
    """
    b = target - target.mean(0)
    b = b / np.linalg.norm(b)
    a = points - points.mean(1, keepdims=True)
    a = a / np.linalg.norm(a, axis=(1, 2), keepdims=True)
    m = np.einsum("nd,kne->kde", b, a)
    s = np.linalg.svd(m, compute_uv=False).sum(-1)
    return 1.0 - s**2


def calendar_score(model: Any, kind: str = "weekday", name: str | None = None) -> float:
    """The share of calendar neighbours an embedding keeps next to each other, in [0, 1].

    Definition: for each category c (Mon…Sun, or Jan…Dec, on the circle: Sun's neighbours are Sat
    and Mon) let A(c) be its calendar neighbours present in the embedding (usually 2) and N(c) its
    |A(c)| nearest other categories by Euclidean distance between the full embedding vectors. The
    score is Σ|N(c) ∩ A(c)| / Σ|A(c)|: 1 when every day's nearest days are the days either side of
    it (the embedding is a ring in calendar order); about 2/(n−1) for a random arrangement (0.33
    for weekdays, 0.18 for months). Categories must be the numbers 1..7 or 1..12 (Rossmann's
    ``DayOfWeek`` and ``Month``); ``name`` overrides the column (default from ``kind``).
    """
    if kind not in CALENDARS:
        raise ValueError(f"kind must be one of {sorted(CALENDARS)}, got {kind!r}")
    col, period, _ = CALENDARS[kind]
    emb = embedding(model, name or col)
    try:
        pos = [int(c) for c in emb.index]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name or col!r} categories must be numbers 1..{period}, got {list(emb.index)[:5]}"
        ) from None
    if any(not 1 <= p <= period for p in pos):
        raise ValueError(f"{name or col!r} categories must be 1..{period}, got {pos}")
    vec = emb.to_numpy()
    dist = np.linalg.norm(vec[:, None, :] - vec[None, :, :], axis=-1)
    np.fill_diagonal(dist, np.inf)
    hits = wanted = 0
    for i, p in enumerate(pos):
        adj = {j for j, q in enumerate(pos) if (p - q) % period in (1, period - 1)}
        if not adj:
            continue
        near = set(np.argsort(dist[i], kind="stable")[: len(adj)].tolist())
        hits += len(near & adj)
        wanted += len(adj)
    return hits / wanted if wanted else 0.0


def nearest(model: Any, name: str, category: Any, k: int = 3) -> pd.DataFrame:
    """The ``k`` categories of ``name`` whose vectors lie closest to ``category``'s (Euclidean)."""
    import pandas as pd

    emb = embedding(model, name)
    if category not in emb.index:
        raise KeyError(
            f"{category!r} is not a category of {name!r}; choose one of {list(emb.index)}"
        )
    vec = emb.to_numpy()
    d = np.linalg.norm(vec - emb.loc[category].to_numpy(), axis=1)
    order = [i for i in np.argsort(d, kind="stable") if emb.index[i] != category][: int(k)]
    return pd.DataFrame(
        {"distance": d[order]}, index=pd.Index([emb.index[i] for i in order], name=name)
    )
