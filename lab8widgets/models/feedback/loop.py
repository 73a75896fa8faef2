"""The positive feedback loop of fastbook chapter 8, in rounds:

round 0: train ``DotProductBias`` on a few real ratings per user and recommend each user their
top k (the group has arrived but rated nothing yet: this is the start line). Then in every
round: each user looks at what they were shown and rates some of it, the group's heavy raters
also look up ``activity`` films, mostly of their genre, the model is trained again on everything
observed so far, and the new top k are measured.

Ratings are missing not at random (Marlin et al. 2007; Chaney et al. 2018): a user rates a shown
film with a chance that rises with how much they truly like it compared with their own average
(``rate_chance``), so dislikes mostly go unrecorded, and an ordinary user rates only a few films
a round (``others_watch``) while the group rates every film of its genre it is shown.

What a user rates is their true taste plus noise, anchored toward the rating the site predicted
for them: ``anchor`` of the way from their taste to the prediction. Users' ratings lean toward
a recommender's shown predictions in controlled experiments (Adomavicius, Bockstedt, Curley and
Zhang 2013, "Do recommender systems manipulate consumer preferences? A study of anchoring
effects", who draw it as the link that closes the loop from recommendations back to ratings).
Its size is a setting; with ``anchor=0`` ordinary users' ratings correct more of what the group
set going.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..collab import DotProductBias
from ..settings import Settings, setting
from ..train import FitSettings, fit
from .interventions import cap_ratings, explore, user_weights
from .metrics import coverage, exposure, genre_share, gini
from .truth import GroundTruth, group_taste

__all__ = ["FeedbackLoop", "FeedbackSettings", "rate_chance", "weighted_mse"]

SEEK = 20.0
# round 0 trains on a few ratings a user: as many epochs again as a later round's steps need
FIRST_EPOCHS = 5


@dataclass(frozen=True)
class FeedbackSettings(Settings):
    """One run of the loop: the group, the interventions, the users and the recommender.

    ``activity``: films each group member looks up per round, on top of the ``k`` they are shown
    (a film of their genre is ``SEEK`` times likelier to be picked than another); the default
    leaves the group unrated films of its genre for every round of a 10-round run.
    ``choosiness``: in stars, how sharply the chance of rating a shown film rises with the user's
    true rating above their own average (0: every shown film is equally likely to be rated,
    missing at random). ``others_watch``: the chance an ordinary user rates a shown film they
    like (the group: 1). ``anchor``: how far a rating leans from the user's true taste toward
    the site's prediction for them (0: not at all, 1: they rate what they were told)."""

    group_size: int = setting(30, lo=0, hi=1000, label="group size")
    group_genre: str = setting("Animation", label="group genre")
    activity: int = setting(10, lo=0, hi=1000, label="group films/round")
    cap: int | None = setting(None, kind=int, lo=1, hi=1000, optional=True, label="cap/round")
    equal_weight: bool = setting(False, label="equal user weight")
    epsilon: float = setting(0.0, lo=0, hi=1, label="ε explore")
    n_users: int = setting(600, lo=10, hi=100_000, label="users")
    k: int = setting(10, lo=1, hi=100, label="top k")
    start_ratings: int = setting(20, lo=1, hi=10_000, label="start ratings/user")
    noise: float = setting(0.5, lo=0, hi=5, label="rating noise")
    choosiness: float = setting(0.3, lo=0, hi=5, label="choosiness (stars)")
    others_watch: float = setting(0.25, lo=0, hi=1, label="others' watch rate")
    anchor: float = setting(0.4, lo=0, hi=1, label="anchoring")
    n_factors: int = setting(32, lo=1, hi=500, label="n_factors")
    epochs: int = setting(2, lo=1, hi=100, label="epochs/round")
    lr: float = setting(1e-2, lo=0, hi=1, lo_open=True, log=True, label="lr")
    wd: float = setting(0.1, lo=0, hi=10, label="wd")
    seed: int = setting(0, lo=0, hi=99_999, label="seed")


def weighted_mse(pred: torch.Tensor, yw: torch.Tensor) -> torch.Tensor:
    """MSE with a weight per rating: ``yw[:, 0]`` the rating, ``yw[:, 1]`` its weight (mean 1)."""
    d = pred - yw[:, 0]
    return (yw[:, 1] * d * d).mean()


def rate_chance(taste: np.ndarray, average: np.ndarray, choosiness: float) -> np.ndarray:
    """The chance a user rates a film they were shown: a logistic curve in their true rating
    above their own ``average``, ``choosiness`` stars wide; 1/2 at their average, near 1 for
    a film they love, near 0 for one they dislike (people rarely finish what they dislike).
    ``choosiness`` 0: one chance for every film (ratings missing at random)."""
    taste = np.asarray(taste, dtype=np.float64)
    if choosiness <= 0:
        return np.ones_like(taste)
    return 1.0 / (1.0 + np.exp(-(taste - np.asarray(average)) / choosiness))


class FeedbackLoop:
    """The loop's state: who rated what, the live recommender, and one record per round.

    ``step()`` plays one round (round 0 the first time) and returns its record; ``history`` holds
    them all and ``exposures`` each round's times-shown per film (to everyone but the group)."""

    def __init__(self, truth: GroundTruth, settings: FeedbackSettings):
        s = self.settings = settings
        genres = truth.all_genres()
        if s.group_size and s.group_genre not in genres:
            raise ValueError(
                f"group_genre must be one of the catalogue's genres ({', '.join(genres)}), "
                f"got {s.group_genre!r}"
            )
        self.truth = truth
        self.rng = np.random.default_rng(s.seed)
        n_real = min(s.n_users, truth.n_users)
        self.real = np.sort(self.rng.choice(truth.n_users, n_real, replace=False))
        self.n_real, self.n_items = n_real, truth.n_items
        self.n_users = n_real + s.group_size
        self.in_genre = truth.in_genre(s.group_genre)
        self.true = np.concatenate(
            [truth.true[self.real], group_taste(truth, s.group_genre, s.group_size)]
        )
        self.average = self.true.mean(axis=1)  # each user's own bar for "worth rating"
        self.lo, self.hi = truth.rating_range
        self.rated = np.zeros((self.n_users, self.n_items), bool)
        self.obs_users, self.obs_items, self.obs_ratings = self._start_ratings()
        self.rated[self.obs_users, self.obs_items] = True
        torch.manual_seed(s.seed)
        self.model = DotProductBias(self.n_users, self.n_items, s.n_factors, (0.0, self.hi + 0.5))
        self.history: list[dict[str, Any]] = []
        self.exposures: list[np.ndarray] = []
        self.shown: np.ndarray | None = None  # the last round's recommendations (users, k)
        self.stopped = False
        self._group_part = math.nan  # the share of the last round's new ratings from the group

    @property
    def group(self) -> np.ndarray:
        """Model rows of the added group."""
        return np.arange(self.n_real, self.n_users)

    def _start_ratings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A few real ratings per chosen user (``start_ratings`` at most), as they gave them."""
        obs = self.truth.observed
        row = np.full(self.truth.n_users, -1)
        row[self.real] = np.arange(self.n_real)
        mine = obs[row[obs[:, 0].astype(np.int64)] >= 0]
        mine = mine[self.rng.permutation(len(mine))]
        users = row[mine[:, 0].astype(np.int64)]
        order = np.argsort(users, kind="stable")
        users, mine = users[order], mine[order]
        rank = np.arange(len(users)) - np.searchsorted(users, users, side="left")
        keep = rank < self.settings.start_ratings
        return users[keep], mine[keep, 1].astype(np.int64), mine[keep, 2].astype(np.float32)

    # --- one round ---------------------------------------------------------------------------
    def step(
        self, should_stop: Callable[[], bool] | None = None, lock: Any = None
    ) -> dict[str, Any] | None:
        """Play one round; None when ``should_stop`` cut its training short (nothing recorded)."""
        t0 = time.perf_counter()
        r = len(self.history)
        if r > 0:
            self._rate(self.shown)
        run = self._train(first=r == 0, should_stop=should_stop, lock=lock)
        if run.status == "stopped":
            self.stopped = True
            return None
        shown = self.recommend()
        others = shown[: self.n_real]
        ex = exposure(others, self.n_items)
        entry = {
            "round": r,
            "group_share": genre_share(others, self.in_genre),
            "coverage": coverage(others, self.n_items),
            "gini": gini(ex),
            "true_rating": float(self.true[np.arange(self.n_real)[:, None], others].mean()),
            "group_share_of_group": genre_share(shown[self.n_real :], self.in_genre)
            if self.n_users > self.n_real
            else math.nan,
            "ratings": len(self.obs_ratings),
            "group_part": self._group_part,
            "train_loss": run.history[-1]["train_loss"] if run.history else math.nan,
            "status": run.status,
            "seconds": time.perf_counter() - t0,
        }
        self.shown = shown
        self.history.append(entry)
        self.exposures.append(ex)
        return entry

    def recommend(self) -> np.ndarray:
        """Each user's top k unrated films by the live model, then ε-exploration."""
        with torch.no_grad():
            m = self.model
            scores = m.user_factors @ m.movie_factors.T
            scores += m.user_bias[:, None] + m.movie_bias[None, :]
            scores[torch.from_numpy(self.rated)] = -math.inf
            top = torch.topk(scores, self.settings.k, dim=1).indices.numpy()
        return explore(top, self.rated, self.settings.epsilon, self.rng)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The live model's predicted stars for (user, film) pairs, within the rating scale."""
        with torch.no_grad():
            x = torch.from_numpy(np.stack([users, items], 1).astype(np.int64))
            pred = self.model(x).numpy().astype(np.float64)
        return np.clip(pred, self.lo, self.hi)

    def _rate(self, shown: np.ndarray) -> None:
        """Everyone looks at what they were shown; each group member also looks up ``activity``
        films, mostly of the genre. A film is rated with ``rate_chance`` (times ``others_watch``
        outside the group), by true taste anchored toward the live model's prediction, plus
        noise; the cap drops a user's ratings past ``cap``; the rest is kept."""
        s = self.settings
        users = np.repeat(np.arange(self.n_users), shown.shape[1])
        items = shown.ravel()
        if s.group_size and s.activity:
            extra_u, extra_i = [], []
            for u in self.group:
                free = ~self.rated[u]
                free[shown[u]] = False
                cand = np.flatnonzero(free)
                p = np.where(self.in_genre[cand], SEEK, 1.0)
                n = min(s.activity, len(cand))
                pick = self.rng.choice(cand, size=n, replace=False, p=p / p.sum())
                extra_u.append(np.full(len(pick), u))
                extra_i.append(pick)
            users = np.concatenate([users, *extra_u])
            items = np.concatenate([items, *extra_i]).astype(np.int64)
        taste = self.true[users, items]
        chance = rate_chance(taste, self.average[users], s.choosiness)
        chance *= np.where(users < self.n_real, s.others_watch, 1.0)
        chose = self.rng.random(len(users)) < chance
        users, items, taste = users[chose], items[chose], taste[chose]
        if s.anchor:  # the rating leans toward what the site predicted for this user
            taste = (1 - s.anchor) * taste + s.anchor * self.predict(users, items)
        noisy = taste + self.rng.normal(0.0, s.noise, len(users))
        keep = cap_ratings(users, s.cap, self.rng)
        users, items, noisy = users[keep], items[keep], noisy[keep]
        self._group_part = float(np.mean(users >= self.n_real)) if len(users) else 0.0
        stars = np.clip(np.round(noisy * 2) / 2, self.lo, self.hi).astype(np.float32)
        self.rated[users, items] = True
        self.obs_users = np.concatenate([self.obs_users, users])
        self.obs_items = np.concatenate([self.obs_items, items])
        self.obs_ratings = np.concatenate([self.obs_ratings, stars])

    def _train(self, first: bool, should_stop, lock):
        s = self.settings
        x = torch.from_numpy(np.stack([self.obs_users, self.obs_items], 1).astype(np.int64))
        w = user_weights(self.obs_users, s.equal_weight)
        y = torch.from_numpy(np.stack([self.obs_ratings, w], 1))
        g = torch.Generator().manual_seed(s.seed + len(self.history))
        valid = torch.randperm(len(y), generator=g)[: max(256, len(y) // 50)]
        fs = FitSettings(epochs=s.epochs * (FIRST_EPOCHS if first else 1), lr=s.lr, wd=s.wd, bs=512)
        return fit(
            self.model,
            weighted_mse,
            (x, y),
            (x[valid], y[valid]),
            fs,
            should_stop=should_stop,
            seed=s.seed + len(self.history),
            lock=lock,
            reports_per_epoch=1,
        )
