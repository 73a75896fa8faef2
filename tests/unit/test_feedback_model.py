"""The feedback loop's model side (models/feedback): metrics against hand computations, the
interventions, and the loop itself on real MovieLens (ml-latest-small from ../shared/data)."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch

from lab8widgets.data import movielens
from lab8widgets.models.feedback import (
    GROUP_DISLIKE,
    FeedbackLoop,
    FeedbackSettings,
    TruthSettings,
    cap_ratings,
    coverage,
    explore,
    exposure,
    genre_share,
    gini,
    ground_truth,
    group_taste,
    rate_chance,
    user_weights,
    weighted_mse,
)
from tests.reference_data import shared_file


def real_ratings():
    """ml-latest-small beside the repository: skips on a clone, fails in CI (reference_data)."""
    path = shared_file("ml-latest-small", "ratings.csv").parent
    return movielens("ml-latest-small", path=path, download=False).ratings


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
    return ground_truth(real_ratings())


SEEDS = (0, 1, 2)
RUNS = {
    "group": {},
    "no group": {"group_size": 0},
    "cap": {"cap": 10},
    "equal weight": {"equal_weight": True},
    "silent others": {"others_watch": 0.0},  # ordinary users never rate after round 0
    "no anchoring": {"anchor": 0.0},  # ratings are true taste plus noise only
}


@pytest.fixture(scope="module")
def shares(truth):
    """Share of the group's genre in everyone else's top 10, rounds 0..10, per setting and seed."""
    out = {}
    for seed in SEEDS:
        for name, kw in RUNS.items():
            loop = FeedbackLoop(truth, FeedbackSettings(seed=seed, **kw))
            for _ in range(11):
                loop.step()
            out[name, seed] = np.array([h["group_share"] for h in loop.history])
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


def _real_lean_sd(ratings, genre: str, seed: int = 0) -> float:
    """How much real users differ in liking ``genre`` over other films, in stars: each user's
    mean rating of the genre minus the rest, on two random halves of their ratings; the two
    halves' covariance is the spread of the lean without the noise of few ratings."""
    r = ratings.assign(
        g=ratings["genres"].str.contains(genre, regex=False),
        half=np.random.default_rng(seed).integers(0, 2, len(ratings)),
    )
    m = r.groupby(["user", "half", "g"])["rating"].agg(["mean", "count"]).unstack()
    lean = (m["mean"][True] - m["mean"][False]).unstack()
    ok = (m["count"][True].unstack() >= 4).all(axis=1)
    return float(np.sqrt(np.cov(lean[ok][0], lean[ok][1])[0, 1]))


def test_truth_users_differ_in_taste_as_real_users_do(truth):
    """Without genres the truth model's weight decay makes every user nearly alike (a loop
    among clones shows nothing); with them users' liking for a genre spreads as in the real
    ratings (within a factor of 2 of the split-half estimate), at a lower held-out error."""
    ratings = real_ratings()
    plain = ground_truth(ratings, TruthSettings(genres=False, epochs=5))
    for genre in ("Animation", "Horror"):
        real = _real_lean_sd(ratings, genre)
        assert 0.25 < real < 0.5  # Animation ~0.35, Horror ~0.42 stars
        for t, lo, hi in ((truth, 0.5, 2.0), (plain, 0.0, 0.35)):
            ing = t.in_genre(genre)
            lean = t.true[:, ing].mean(axis=1) - t.true[:, ~ing].mean(axis=1)
            assert lo * real <= lean.std() <= hi * real, (genre, lean.std(), real)
    assert truth.valid_mse < plain.valid_mse


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


def test_ratings_are_missing_not_at_random(truth):
    """A shown film is rated with a chance rising with the user's true rating over their own
    average, so what gets recorded is better liked than what was shown."""
    taste, avg = np.array([2.0, 3.5, 5.0]), np.array([3.5, 3.5, 3.5])
    assert rate_chance(taste, avg, 0.3) == pytest.approx(1 / (1 + np.exp(-(taste - avg) / 0.3)))
    assert (rate_chance(taste, avg, 0.0) == 1).all()  # choosiness 0: missing at random
    loop = FeedbackLoop(truth, FeedbackSettings(n_users=300, group_size=0))
    loop.step()
    shown, before = loop.shown.copy(), len(loop.obs_users)
    loop.step()
    rows = np.arange(300)[:, None]
    recorded = loop.rated[rows, shown]  # shown films were unrated before this round
    taste = loop.true[rows, shown]
    above = taste - loop.average[:, None]  # true rating over the user's own average
    chance = 0.25 * rate_chance(taste, loop.average[:, None], 0.3)  # others_watch × rate_chance
    assert recorded.mean() == pytest.approx(chance.mean(), abs=0.02)
    assert recorded[above > 0.5].mean() > 2 * recorded[above < 0].mean()  # dislikes go missing
    assert recorded.sum() == len(loop.obs_users) - before
    assert 0.1 < recorded.mean() < 0.3  # others_watch 0.25: a few of the 10 shown


def test_the_group_raises_its_genre_share_for_everyone_else(shares):
    """Over three seeds the group's genre climbs to over 3× its round-0 share in everyone
    else's top 10; ordinary users' ratings correct part of it, but anchored ratings keep the
    rest: every round from 2 on at least 5 points up, and after ten rounds over 2.2× round 0."""
    for seed in SEEDS:
        s = shares["group", seed]
        assert s.max() >= 3 * s[0]
        assert s[2:].min() >= s[0] + 0.05
        assert s[-1] >= 2.2 * s[0]
        assert s[1:].mean() >= 2.2 * s[0]


def test_without_the_group_the_share_does_not_rise(shares):
    for seed in SEEDS:
        s, g = shares["no group", seed], shares["group", seed]
        assert np.abs(s - s[0]).max() < 0.04  # within a few points of round 0, every round
        assert abs(s[1:].mean() - s[0]) * 4 < g[1:].mean() - g[0]


def test_cap_and_equal_weight_reduce_the_rise(shares):
    """Each intervention lowers the peak, the mean share over the rounds and the final share in
    every seed."""
    for name in ("cap", "equal weight"):
        for seed in SEEDS:
            s, g = shares[name, seed], shares["group", seed]
            assert s.max() <= g.max() - 0.02
            assert s[1:].mean() < g[1:].mean()
            assert s[-1] < g[-1]


def test_anchoring_keeps_what_the_group_set_going(shares):
    """Without anchoring, ordinary users' ratings correct more: the final share is lower on
    average, though still above round 0."""
    anchored = np.mean([shares["group", seed][-1] for seed in SEEDS])
    plain = np.mean([shares["no anchoring", seed][-1] for seed in SEEDS])
    assert plain < anchored - 0.02
    for seed in SEEDS:
        assert shares["no anchoring", seed][-1] > shares["no anchoring", seed][0]


def test_when_the_others_stay_silent_the_group_takes_over(shares):
    """With no feedback from ordinary users after round 0, nothing corrects the loop: the
    share ends over 3× round 0 and near its peak."""
    for seed in SEEDS:
        s = shares["silent others", seed]
        assert s[-1] >= 3 * s[0]
        assert s[-1] >= 0.7 * s.max()


def test_settings_refuse_bad_values_with_field_value_and_range():
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\], got 1.5"):
        FeedbackSettings(epsilon=1.5)
    with pytest.raises(ValueError, match="cap must be an integer from 1 to 1000, got 0"):
        FeedbackSettings(cap=0)
    with pytest.raises(TypeError, match="'speed'"):
        FeedbackSettings().replace(speed=2)
