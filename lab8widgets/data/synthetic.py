"""MovieLens-shaped ratings generated from a planted truth, for offline use and for tests.

Real ratings hide their structure; these expose it. Each item belongs to one latent group (its
factor vector points along that group's axis), each user leans towards one group, and biases are
drawn large enough that a DotProductBias model trained on the default ~15k ratings recovers the
best and worst items. The truth comes back with the ratings, so a lab or a test can compare what a
model learned with what was planted. Item popularity is Zipf-like, as in MovieLens.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

GLOBAL_MEAN = 3.3
ITEM_BIAS_SD = 0.6
USER_BIAS_SD = 0.3
FACTOR_LOADING = 1.0  # an item's strength on its group's axis
USER_TASTE = 0.8  # how much a user likes their own group
FACTOR_NOISE_SD = 0.2
NOISE_SD = 0.4
ZIPF_EXPONENT = 1.0
MIN_RATINGS = 5  # per user and per item
_T0 = 874_724_710  # ml-100k's first timestamp (1997-09-20), so dates look familiar
_SPAN = 7 * 30 * 24 * 3600  # about seven months, like ml-100k


class PlantedTruth(NamedTuple):
    """What generated the ratings; index i is user/movie id i."""

    user_bias: np.ndarray  # (n_users,)
    item_bias: np.ndarray  # (n_items,)
    user_factors: np.ndarray  # (n_users, n_factors)
    item_factors: np.ndarray  # (n_items, n_factors)
    item_group: np.ndarray  # (n_items,) latent group of each item, 0..n_factors-1
    user_group: np.ndarray  # (n_users,) the group each user likes
    titles: list[str]  # title of item i


class SyntheticRatings(NamedTuple):
    """Ratings shaped like :class:`~lab8widgets.data.Ratings`, plus the truth behind them."""

    ratings: pd.DataFrame
    source: str
    truth: PlantedTruth


def group_name(g: int) -> str:
    """'Group A' … 'Group Z', then 'Group 27' …: readable names for planted groups."""
    return f"Group {chr(ord('A') + g)}" if g < 26 else f"Group {g + 1}"


def synthetic_ratings(
    n_users: int = 300,
    n_items: int = 200,
    n_factors: int = 3,
    seed: int = 0,
    density: float = 0.25,
) -> SyntheticRatings:
    """Generate integer 1..5 ratings from planted biases and latent groups (deterministic per seed).

    ``density`` is the fraction of the user × item grid that is rated (the default gives 15,000
    ratings). Every user and every item gets at least 5 ratings. User and movie ids are 0-based and
    equal to the row of the arrays in ``truth``.
    """
    import pandas as pd

    n_users = _positive_int("n_users", n_users, minimum=MIN_RATINGS)
    n_items = _positive_int("n_items", n_items, minimum=MIN_RATINGS)
    n_factors = _positive_int("n_factors", n_factors)
    if n_factors > n_items:
        raise ValueError(f"n_factors ({n_factors}) must not exceed n_items ({n_items})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (
        isinstance(density, bool)
        or not isinstance(density, numbers.Real)
        or not 0 < float(density) <= 1
    ):
        raise ValueError(f"density must be a number in (0, 1], got {density!r}")

    rng = np.random.default_rng(int(seed))
    k = n_factors

    # Planted truth: biases, one group per item (balanced), one favourite group per user.
    item_bias = rng.normal(0.0, ITEM_BIAS_SD, n_items)
    user_bias = rng.normal(0.0, USER_BIAS_SD, n_users)
    item_group = rng.permutation(np.arange(n_items) % k)
    user_group = rng.integers(0, k, n_users)
    item_factors = rng.normal(0.0, FACTOR_NOISE_SD, (n_items, k))
    item_factors[np.arange(n_items), item_group] += FACTOR_LOADING
    user_factors = rng.normal(0.0, FACTOR_NOISE_SD, (n_users, k))
    user_factors[np.arange(n_users), user_group] += USER_TASTE

    # Who rated what: Zipf-like item popularity, log-normal user activity.
    mask = _who_rated(rng, n_users, n_items, float(density))
    users, items = np.nonzero(mask)
    order = rng.permutation(len(users))  # MovieLens files are not sorted by user
    users, items = users[order], items[order]

    raw = (
        GLOBAL_MEAN
        + user_bias[users]
        + item_bias[items]
        + np.einsum("ij,ij->i", user_factors[users], item_factors[items])
        + rng.normal(0.0, NOISE_SD, len(users))
    )
    rating = np.clip(np.rint(raw), 1, 5).astype(np.float32)
    timestamp = _T0 + rng.integers(0, _SPAN, len(users))

    width = max(3, len(str(n_items - 1)))
    groups = [group_name(g) for g in range(k)]
    titles = [f"Synthetic film {i:0{width}d} ({groups[g]})" for i, g in enumerate(item_group)]
    title_arr = np.array(titles, dtype=object)
    genre_arr = np.array(groups, dtype=object)[item_group]

    ratings = pd.DataFrame(
        {
            "user": users.astype(np.int64),
            "movie": items.astype(np.int64),
            "title": title_arr[items],
            "rating": rating,
            "timestamp": timestamp.astype(np.int64),
            "genres": genre_arr[items],
        }
    )
    truth = PlantedTruth(
        user_bias=user_bias,
        item_bias=item_bias,
        user_factors=user_factors,
        item_factors=item_factors,
        item_group=item_group.astype(np.int64),
        user_group=user_group.astype(np.int64),
        titles=titles,
    )
    source = (
        f"MovieLens-shaped synthetic ratings (not real data): {n_users} users, {n_items} films, "
        f"{len(ratings):,} ratings from planted biases and {k} latent groups, seed {seed}"
    )
    return SyntheticRatings(ratings, source, truth)


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _who_rated(rng: np.random.Generator, n_users: int, n_items: int, density: float) -> np.ndarray:
    """Boolean (n_users, n_items) mask of observed ratings.

    Each user picks their items by weighted sampling without replacement (Gumbel top-k) from
    Zipf popularity weights, so popular items saturate gracefully instead of being over-drawn.
    """
    target = max(round(density * n_users * n_items), MIN_RATINGS * max(n_users, n_items))
    target = min(target, n_users * n_items)

    popularity = 1.0 / np.arange(1, n_items + 1) ** ZIPF_EXPONENT
    log_weight = np.log(rng.permutation(popularity))  # popularity rank independent of quality

    activity = rng.lognormal(0.0, 0.8, n_users)
    per_user = np.clip(np.rint(activity / activity.sum() * target), MIN_RATINGS, n_items)
    per_user = per_user.astype(np.int64)

    mask = np.zeros((n_users, n_items), dtype=bool)
    cols = np.arange(n_items)
    for start in range(0, n_users, 1024):  # chunks keep memory bounded for large grids
        stop = min(start + 1024, n_users)
        keys = log_weight + rng.gumbel(size=(stop - start, n_items))
        order = np.argsort(-keys, axis=1)
        take = cols[None, :] < per_user[start:stop, None]
        rows = np.arange(stop - start)[:, None]
        chunk = np.zeros((stop - start, n_items), dtype=bool)
        chunk[rows, order] = take
        mask[start:stop] = chunk

    # Top up rarely chosen items so every item has MIN_RATINGS raters.
    for item in np.flatnonzero(mask.sum(axis=0) < MIN_RATINGS):
        need = MIN_RATINGS - int(mask[:, item].sum())
        free = np.flatnonzero(~mask[:, item])
        mask[rng.choice(free, size=need, replace=False), item] = True
    return mask
