"""Reading a trained model: bias tables, similar items, finding a title. Every tensor is read
through ``.cpu()``, so a model moved to a GPU (``lab.model = lab.model.cuda()``) reads the same."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from ..project import cosine_similarity, top_k
from ..settings import Settings, setting
from .data import CollabData
from .fit import check_whole
from .modules import bias_tables, factor_tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIN_RATINGS",
    "ReadSettings",
    "bias_table",
    "default_min_ratings",
    "find_item",
    "find_title",
    "similar_items",
]

MIN_RATINGS = 20  # the default floor of "similar" and "neighbours": films people rated


def default_min_ratings(counts: np.ndarray | None, cap: int = MIN_RATINGS, keep: int = 100) -> int:
    """The one default floor of similar movies, neighbours and recommendations: ``cap`` training
    ratings, lowered only so that at least ``keep`` items pass (small data). A title with 1–4
    ratings has factors that mean little, so it should not be a first answer."""
    if counts is None or len(counts) == 0:
        return 0
    c = np.sort(np.asarray(counts))[::-1]
    return int(max(1, min(cap, c[min(keep, len(c)) - 1])))


def find_title(lookup: Mapping[str, int], title, counts, missing: str) -> int:
    """Index of ``title`` in ``lookup`` (name -> index): exact, then case-insensitive; else a
    KeyError ``'<title>' <missing>. Did you mean: ...?`` suggesting titles that contain it (most
    rated first, by ``counts[index]``; None counts them all alike) and close spellings. One
    lookup for every lab that takes a title (CollabLab's items, the explorer's map)."""
    key = str(title).strip()
    idx = lookup.get(key)
    if idx is not None:
        return idx
    folded = key.casefold()
    same = [i for t, i in lookup.items() if t.casefold() == folded]
    if len(same) == 1:
        return same[0]
    names = list(lookup)
    inside = [t for t in names if folded and folded in t.casefold()]
    if counts is not None:
        inside.sort(key=lambda t: -counts[lookup[t]])
    hints = list(dict.fromkeys([*inside[:5], *difflib.get_close_matches(key, names, 5, 0.5)]))
    hint = f" Did you mean: {'; '.join(hints[:5])}?" if hints else " No close matches."
    raise KeyError(f"{key!r} {missing}.{hint}")


def find_item(data: CollabData, title: str) -> int:
    """Index of ``title``: exact, then case-insensitive; else KeyError suggesting close titles."""
    missing = f"is not an item in these ratings ({data.n_items - 1:,} titles)"
    return find_title(data.item_lookup, title, data.item_counts, missing)


def bias_table(
    model: nn.Module,
    data: CollabData,
    kind: str = "item",
    n: int = 10,
    lowest: bool = True,
    min_ratings: int = 1,
) -> pd.DataFrame:
    """The n lowest (or highest) learned biases with how many training ratings each had."""
    import pandas as pd

    n = check_whole("n", n, 0, 1 << 30)
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    tables = bias_tables(model)
    if tables is None:
        raise ValueError(
            "this model has no biases (neural net or bias=False): train DotProductBias with bias=True"
        )
    bias = (tables[1] if kind == "item" else tables[0]).cpu().numpy()
    counts = data.item_counts if kind == "item" else data.user_counts
    names = data.items if kind == "item" else data.users
    keep = np.flatnonzero(counts >= max(1, min_ratings))
    keep = keep[keep > 0]
    order = keep[np.argsort(bias[keep], kind="stable")]
    if not lowest:
        order = order[::-1]
    order = order[:n]
    label = "title" if kind == "item" else "user"
    return pd.DataFrame(
        {
            label: [names[i] for i in order],
            "bias": bias[order].astype(float),
            "n_ratings": counts[order].astype(int),
        }
    )


def similar_items(
    model: nn.Module, data: CollabData, title: str, k: int = 5, min_ratings: int | None = None
) -> pd.DataFrame:
    """Items whose factor vectors point the same way as ``title``'s (cosine similarity), among
    items with at least ``min_ratings`` training ratings (None: ``default_min_ratings``)."""
    import pandas as pd

    k = check_whole("k", k, 0, 1 << 30)
    if min_ratings is None:
        min_ratings = default_min_ratings(data.item_counts[1:])
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    idx = find_item(data, title)
    _, items = factor_tables(model)
    sims = cosine_similarity(items, items[idx])
    ok = data.item_counts >= max(1, min_ratings)
    ok[0] = ok[idx] = False
    order = top_k(sims, ok, k)
    return pd.DataFrame(
        {
            "title": [data.items[i] for i in order],
            "similarity": sims[order],
            "n_ratings": data.item_counts[order].astype(int),
        }
    )


@dataclass(frozen=True)
class ReadSettings(Settings):
    """How the lab reads a model: neighbours to list, and the fewest training ratings an item
    (or user) needs to appear in a table (rarely rated ones have biases near 0)."""

    min_ratings: int = setting(1, lo=1, hi=100_000, label="min ratings")
    k: int = setting(5, lo=1, hi=50, label="k")
    similar_min_ratings: int = setting(MIN_RATINGS, lo=1, hi=100_000, label="min ratings")
