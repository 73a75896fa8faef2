"""The feedback loop's model side (models/feedback): metrics against hand computations, the
interventions, and the loop itself on real MovieLens (ml-latest-small from ../shared/data)."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch

from lab8widgets.data import movielens
from lab8widgets.models.feedback import (
    GROUP_DISLIKE,
    FeedbackLoop,
    FeedbackSettings,
    cap_ratings,
    coverage,
    explore,
    exposure,
    genre_share,
    gini,
    ground_truth,
    group_taste,
    user_weights,
    weighted_mse,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-latest-small"


# --- metrics, by hand -------------------------------------------------------------------------
def test_gini_matches_the_mean_absolute_difference_by_hand():
    x = np.array([0, 0, 1, 3, 6], float)
    by_hand = sum(abs(a - b) for a, b in product(x, x)) / (2 * len(x) ** 2 * x.mean())
    assert gini(x) == pytest.approx(by_hand)  # 60 / (2 · 25 · 2)
    assert gini(x) == pytest.approx(0.6)
    assert gini(np.full(7, 3.0)) == 0.0  # equal exposure
    assert gini(np.array([0, 0, 0, 9.0])) == pytest.approx(0.75)  # (n-1)/n: one item takes all
    assert gini(np.zeros(4)) == 0.0


def test_share_coverage_and_exposure_by_hand():
    shown = np.array([[0, 1, 2], [0, 3, 4]])  # two users, top 3 of 6 films
    in_genre = np.array([True, False, False, True, False, False])
    assert exposure(shown, 6).tolist() == [2, 1, 1, 1, 1, 0]
    assert genre_share(shown, in_genre) == pytest.approx(3 / 6)  # film 0 twice, film 3 once
    assert coverage(shown, 6) == pytest.approx(5 / 6)  # film 5 never shown


# --- interventions ----------------------------------------------------------------------------
def test_cap_keeps_at_most_cap_ratings_per_user():
    users = np.array([0] * 50 + [1] * 3 + [2] * 10)
    keep = cap_ratings(users, 10, np.random.default_rng(0))
    assert np.bincount(users[keep]).tolist() == [10, 3, 10]
    assert cap_ratings(users, None, np.random.default_rng(0)).all()


def test_equal_weight_gives_every_user_the_same_total_weight():
    users = np.array([0] * 90 + [1] * 10)
    w = user_weights(users, True)
    assert w.mean() == pytest.approx(1.0)
    assert w[users == 0].sum() == pytest.approx(w[users == 1].sum())
    assert (user_weights(users, False) == 1).all()
    # the loss is the weighted MSE
    pred, y = torch.tensor([1.0, 2.0]), torch.tensor([[0.0, 3.0], [2.5, 1.0]])
    assert float(weighted_mse(pred, y)) == pytest.approx((3 * 1 + 1 * 0.25) / 2)


def test_exploration_swaps_slots_for_unrated_unshown_films():
    rng = np.random.default_rng(0)
    rated = np.zeros((200, 50), bool)
    rated[:, :10] = True
    shown = np.tile(np.arange(10, 15), (200, 1))
    out = explore(shown, rated, 0.3, rng)
    swapped = out != shown
    assert 0.2 < swapped.mean() < 0.4
    assert not rated[np.arange(200)[:, None], out].any()
    assert all(len(set(r)) == 5 for r in out)  # no film twice in a list
    assert (explore(shown, rated, 0.0, rng) == shown).all()


# --- the loop on ml-latest-small ---------------------------------------------------------------
@pytest.fixture(scope="module")
def truth():
    return ground_truth(movielens("ml-latest-small", path=DATA, download=False).ratings)


@pytest.fixture(scope="module")
def shares(truth):
    """Share of the group's genre in everyone else's top 10, rounds 0..10, per setting (seed 0)."""
    out = {}
    for name, kw in {
        "group": {},
        "no group": {"group_size": 0},
        "cap": {"cap": 10},
        "equal weight": {"equal_weight": True},
    }.items():
        loop = FeedbackLoop(truth, FeedbackSettings(**kw))
        for _ in range(11):
            loop.step()
        out[name] = np.array([h["group_share"] for h in loop.history])
    print({k: np.round(v, 3).tolist() for k, v in out.items()})
    return out


def test_truth_is_a_model_trained_on_the_real_ratings(truth):
    assert (truth.n_users, truth.n_items) == (671, 2245)  # films with at least 10 ratings
    assert truth.valid_mse < 0.8
    # a user's true taste is the truth model's prediction for them, clipped to the stars
    x = torch.tensor([[1 + 5, 1 + 7]])  # row 0 of the model is fastai's #na#
    with torch.no_grad():
        assert truth.true[5, 7] == pytest.approx(float(truth.model(x)), abs=1e-5)
    taste = group_taste(truth, "Animation", 2)
    anim = truth.in_genre("Animation")
    assert (taste[:, anim] == 5.0).all()
    other = np.clip(truth.mean_true()[~anim] - GROUP_DISLIKE, 0.5, 5.0)
    assert np.allclose(taste[0, ~anim], other)


def test_history_rounds_and_metrics_are_those_of_the_recommendations(truth):
    loop = FeedbackLoop(truth, FeedbackSettings(n_users=100, group_size=5, activity=10))
    for _ in range(3):
        loop.step()
    assert [h["round"] for h in loop.history] == [0, 1, 2]
    others = loop.shown[: loop.n_real]
    last = loop.history[-1]
    assert last["group_share"] == pytest.approx(loop.in_genre[others].mean())
    assert last["coverage"] == pytest.approx(len(np.unique(others)) / truth.n_items)
    assert last["gini"] == pytest.approx(gini(np.bincount(others.ravel(), minlength=truth.n_items)))
    # nobody is recommended a film they already rated
    assert not loop.rated[np.arange(loop.n_users)[:, None], loop.shown].any()
    assert loop.history[-1]["ratings"] > loop.history[0]["ratings"]


def test_the_group_raises_its_genre_share_for_everyone_else(shares):
    s = shares["group"]
    assert s[-1] >= 1.5 * s[0] and s[-1] - s[0] >= 0.05  # ends well above round 0
    assert s[1:].mean() - s[0] >= 0.1  # and far above it over the rounds
    assert s.max() >= 4 * s[0]


def test_without_the_group_the_share_does_not_rise(shares):
    s = shares["no group"]
    assert s[1:].mean() - s[0] < 0.04
    assert s.max() < 2 * s[0]
    g = shares["group"]
    assert (s[1:].mean() - s[0]) * 4 < g[1:].mean() - g[0]


def test_cap_and_equal_weight_reduce_the_rise(shares):
    def rise(s):
        return s[1:].mean() - s[0]

    assert rise(shares["cap"]) < 0.6 * rise(shares["group"])
    assert rise(shares["equal weight"]) < rise(shares["group"])


def test_settings_refuse_bad_values_with_field_value_and_range():
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\], got 1.5"):
        FeedbackSettings(epsilon=1.5)
    with pytest.raises(ValueError, match="cap must be an integer from 1 to 1000, got 0"):
        FeedbackSettings(cap=0)
    with pytest.raises(TypeError, match="'speed'"):
        FeedbackSettings().replace(speed=2)
