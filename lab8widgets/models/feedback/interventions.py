"""The three interventions against the loop, each one setting of the run:

- ``cap_ratings``: a cap on the ratings one user adds per round (the rest are not recorded);
- ``user_weights``: every user weighs the same in the loss, however many films they rated;
- ``explore``: ε-exploration, each recommended slot replaced by a random unrated film with
  probability ε."""

from __future__ import annotations

import numpy as np

__all__ = ["cap_ratings", "explore", "user_weights"]


def cap_ratings(users: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Bool mask over one round's new ratings (their ``users``) keeping at most ``cap`` per user,
    chosen at random so a heavy rater's mix of films is kept, only thinner."""
    users = np.asarray(users)
    if cap is None or len(users) == 0:
        return np.ones(len(users), bool)
    order = rng.permutation(len(users))
    # rank of each rating among its user's ratings, in the shuffled order
    by_user = order[np.argsort(users[order], kind="stable")]
    sorted_users = users[by_user]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.arange(len(users)) - starts
    keep = np.zeros(len(users), bool)
    keep[by_user[rank < cap]] = True
    return keep


def user_weights(users: np.ndarray, equal: bool) -> np.ndarray:
    """A weight per rating for the loss: 1 each, or with ``equal`` 1 / (the user's ratings),
    scaled so the weights still average 1 (the learning rate keeps its meaning)."""
    users = np.asarray(users, dtype=np.int64)
    if not equal or len(users) == 0:
        return np.ones(len(users), np.float32)
    counts = np.bincount(users)
    w = 1.0 / counts[users]
    return (w * len(users) / w.sum()).astype(np.float32)


def explore(
    shown: np.ndarray, rated: np.ndarray, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """``shown`` (users, k) with each slot swapped, with probability ``epsilon``, for a random film
    the user has neither rated nor been shown in this list."""
    out = np.array(shown, copy=True)
    if epsilon <= 0:
        return out
    swap = rng.random(out.shape) < epsilon
    for u in np.flatnonzero(swap.any(axis=1)):
        taken = rated[u].copy()
        taken[out[u]] = True
        free = np.flatnonzero(~taken)
        slots = np.flatnonzero(swap[u])[: len(free)]
        out[u, slots] = rng.choice(free, size=len(slots), replace=False)
    return out
