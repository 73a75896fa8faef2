"""The ground truth of the feedback loop: every user's true taste, from a ``DotProductBias``
trained on real ratings (MovieLens, or the labelled synthetic set offline).

The simulated users rate what they are shown by this model's prediction plus noise, so what the
loop does can be compared with what they really like. The added group's taste is written down
instead (every film of its genre is loved), since no real user holds it.

The model has the films' genres as metadata (``DotProductBias(item_tags=...)``): without them its
weight decay shrinks every user toward the same taste (on ml-latest-small the spread of users'
liking for Animation over other films is 0.09 stars, where their real ratings, split in halves,
put it near 0.35), and a loop among near-identical users cannot show a taste spreading. With
genres the spread is about 0.27 stars and the held-out error is lower too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..collab import DotProductBias, collab_data, fit_collab, item_tags
from ..settings import Settings, setting

__all__ = ["GROUP_DISLIKE", "GroundTruth", "TruthSettings", "ground_truth", "group_taste"]

GROUP_DISLIKE = 1.0  # the group rates films outside its genre this many stars under the average


@dataclass(frozen=True)
class TruthSettings(Settings):
    """How the true tastes are learned: which films count, and the truth model's fit."""

    min_ratings: int = setting(10, lo=1, hi=10_000, label="min ratings per film")
    n_factors: int = setting(50, lo=1, hi=500)
    epochs: int = setting(8, lo=1, hi=100)
    genres: bool = setting(True, label="genre metadata")


@dataclass(eq=False)
class GroundTruth:
    """True ratings of every real user for every film of the catalogue, and the films' labels.

    ``true`` is (users, items) in stars; ``observed`` are the users' real ratings as
    (user, item, rating) rows over the same indices (the loop starts from a few of them)."""

    users: list  # real user ids, row i of ``true``
    items: list  # item ids, column j of ``true``
    titles: list[str]
    genres: list[frozenset[str]]
    true: np.ndarray  # (n_users, n_items) float32
    observed: np.ndarray  # (n, 3) float64: user index, item index, rating
    rating_range: tuple[float, float]
    model: DotProductBias  # the truth model (users × items as above)
    valid_mse: float

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def all_genres(self) -> list[str]:
        """Every genre of the catalogue, most films first."""
        counts: dict[str, int] = {}
        for gs in self.genres:
            for g in gs:
                counts[g] = counts.get(g, 0) + 1
        return sorted(counts, key=lambda g: (-counts[g], g))

    def in_genre(self, genre: str) -> np.ndarray:
        """Bool per item: does the film carry ``genre``."""
        return np.fromiter((genre in gs for gs in self.genres), bool, self.n_items)

    def mean_true(self) -> np.ndarray:
        """Each film's true mean rating over the real users (what everyone would give it)."""
        return self.true.mean(axis=0)


def group_taste(truth: GroundTruth, genre: str, size: int) -> np.ndarray:
    """(size, items) true ratings of the added group: the top of the scale for every film of
    ``genre``, the film's average minus ``GROUP_DISLIKE`` for the rest."""
    lo, hi = truth.rating_range
    row = np.where(truth.in_genre(genre), hi, truth.mean_true() - GROUP_DISLIKE)
    return np.tile(np.clip(row, lo, hi).astype(np.float32), (size, 1))


def _columns(frame: Any) -> tuple[str, str, str]:
    cols = [str(c) for c in frame.columns]
    user = next((c for c in ("user", "userId", "user_id") if c in cols), None)
    item = next((c for c in ("movie", "movieId", "item", "item_id", "title") if c in cols), None)
    if user is None or item is None or "rating" not in cols or "genres" not in cols:
        raise ValueError(
            "ratings for FeedbackLab need columns user, movie (or item), rating and genres "
            f"(genres as 'A|B'); found {cols}"
        )
    return user, item, "rating"


_CACHE: dict[tuple, GroundTruth] = {}


def ground_truth(frame: Any, settings: TruthSettings | None = None, seed: int = 0) -> GroundTruth:
    """Train the truth model on ``frame`` (user, movie, rating, genres, and title if present),
    keeping the films with at least ``min_ratings`` ratings. Cached per frame and settings, so
    many runs and labs over the same data train it once."""
    import pandas as pd

    s = settings or TruthSettings()
    user, item, rating = _columns(frame)
    key = (
        int(pd.util.hash_pandas_object(frame[[user, item, rating]], index=False).sum()),
        len(frame),
        s,
        seed,
    )
    if key in _CACHE:
        return _CACHE[key]
    counts = frame[item].value_counts()
    keep = frame[frame[item].isin(counts.index[counts >= s.min_ratings])]
    if keep[item].nunique() < 20 or keep[user].nunique() < 10:
        raise ValueError(
            f"min_ratings={s.min_ratings} leaves {keep[item].nunique()} films and "
            f"{keep[user].nunique()} users; need at least 20 films and 10 users"
        )
    data = collab_data(keep, user_name=user, item_name=item, rating_name=rating, seed=seed)
    first = keep.drop_duplicates(item)
    tags = None
    if s.genres:  # a film's vector gains its genres' mean vector: tastes for a genre spread
        tags = item_tags(data, dict(zip(first[item].astype(str), first["genres"], strict=True)))
    torch.manual_seed(seed)
    model = DotProductBias(
        data.n_users,
        data.n_items,
        s.n_factors,
        data.default_y_range(),
        item_tags=None if tags is None else tags.weights,
    )
    res = fit_collab(model, data, epochs=s.epochs, lr=5e-3, wd=0.1, bs=512, seed=seed)
    with torch.no_grad():  # every real user × every film, #na# (row and column 0) dropped
        u = torch.arange(1, data.n_users)
        i = torch.arange(1, data.n_items)
        x = torch.stack(torch.meshgrid(u, i, indexing="ij"), -1).reshape(-1, 2)
        true = model(x).reshape(len(u), len(i)).numpy().astype(np.float32)
    first = first.set_index(item)
    items = list(data.items[1:])
    titles = [str(first.at[m, "title"]) if "title" in first else str(m) for m in items]
    genres = [frozenset(str(first.at[m, "genres"]).split("|")) - {""} for m in items]
    ux, ix = data.x[:, 0].numpy() - 1, data.x[:, 1].numpy() - 1
    observed = np.stack([ux, ix, data.y.numpy()], 1).astype(np.float64)
    lo, hi = data.rating_range
    truth = GroundTruth(
        users=list(data.users[1:]),
        items=items,
        titles=titles,
        genres=genres,
        true=np.clip(true, lo, hi),
        observed=observed,
        rating_range=(lo, hi),
        model=model,
        valid_mse=res.valid_mse,
    )
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = truth
    return truth
