"""Embedding read-outs, PCA, Procrustes and the map and calendar scores against references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial import procrustes
from sklearn.decomposition import PCA

from lab8widgets.data import region_positions
from lab8widgets.models.tabular import TabularModel
from lab8widgets.models.tabular.project import (
    calendar_score,
    embedding,
    map_score,
    nearest,
    one_hot_lookup,
    pca2,
    procrustes_align,
    projection,
)

POS = region_positions()
STATES = sorted(POS.index)


def _model(tables: dict[str, np.ndarray], classes: dict[str, list]) -> TabularModel:
    """A TabularModel whose embedding rows (after #na#) are set to ``tables``."""
    names = list(tables)
    szs = [(len(classes[n]) + 1, tables[n].shape[1]) for n in names]
    m = TabularModel(
        szs, 0, layers=[4], cat_names=names, classes={n: ["#na#", *classes[n]] for n in names}
    )
    with torch.no_grad():
        for i, n in enumerate(names):
            m.embeds[i].weight[1:] = torch.as_tensor(tables[n], dtype=torch.float32)
    return m


def _ring(n: int, noise: float = 0.0, dims: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = 2 * np.pi * np.arange(n) / n
    x = np.zeros((n, dims))
    x[:, 0], x[:, 1] = np.cos(t), np.sin(t)
    return x + rng.normal(0, noise, x.shape)


def test_embedding_is_the_weight_rows_named():
    w = np.arange(24, dtype=float).reshape(12, 2)
    m = _model({"State": w}, {"State": STATES})
    emb = embedding(m, "State")
    assert list(emb.index) == STATES and emb.index.name == "State"
    assert list(emb.columns) == ["e0", "e1"] and np.allclose(emb.to_numpy(), w)
    with pytest.raises(KeyError, match="'Weather' is not a categorical column"):
        embedding(m, "Weather")


def test_one_hot_times_weight_equals_lookup():
    m = _model({"State": np.random.default_rng(1).normal(size=(12, 5))}, {"State": STATES})
    out = one_hot_lookup(m, "State", "HH")
    assert out["one_hot"].sum() == 1 and out["one_hot"][1 + STATES.index("HH")] == 1
    np.testing.assert_allclose(out["product"], out["lookup"], rtol=1e-6)
    np.testing.assert_allclose(out["lookup"], embedding(m, "State").loc["HH"], rtol=1e-6)
    with pytest.raises(KeyError, match="'XX' is not a category"):
        one_hot_lookup(m, "State", "XX")


def test_pca2_matches_sklearn_up_to_sign():
    x = np.random.default_rng(2).normal(size=(12, 6)) * [5, 3, 1, 1, 0.5, 0.1]
    ours, ref = pca2(x), PCA(2).fit_transform(x)
    for k in range(2):
        assert np.allclose(np.abs(ours[:, k]), np.abs(ref[:, k]))
    assert np.allclose(pca2(x), pca2(x.copy()))  # deterministic signs
    assert np.allclose(pca2(x[:, :1])[:, 1], 0)


def test_procrustes_alignment_and_disparity_match_scipy():
    rng = np.random.default_rng(3)
    target = POS.to_numpy()
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (target @ rot) * 0.01 + [3, -2]
    aligned, d = procrustes_align(moved, target)
    assert d == pytest.approx(0, abs=1e-12) and np.allclose(aligned, target)
    noisy = moved + rng.normal(0, 0.5, moved.shape)
    _, d = procrustes_align(noisy, target)
    assert d == pytest.approx(procrustes(target, noisy)[2])


def test_map_score_on_the_map_itself_and_on_noise():
    geo = POS.loc[STATES].to_numpy() @ np.array([[0.006, 0.008, 0.0], [-0.008, 0.006, 0.0]])
    perfect = _model({"State": geo}, {"State": STATES})
    score = map_score(perfect, POS)
    assert score["disparity"] < 1e-6 and score["better_than"] == 1.0
    noise = _model({"State": np.random.default_rng(4).normal(size=(12, 7))}, {"State": STATES})
    score = map_score(noise, POS)
    assert score["disparity"] > 0.3 and score["better_than"] < 0.95
    # the permutation baseline is scipy's disparity of shuffled points, counted
    xy = pca2(embedding(noise, "State").loc[STATES].to_numpy())
    rng = np.random.default_rng(0)
    worse = sum(
        procrustes(POS.loc[STATES].to_numpy(), xy[rng.permutation(12)])[2] > score["disparity"]
        for _ in range(200)
    )
    assert map_score(noise, POS, n_perm=200)["better_than"] == pytest.approx(worse / 200)


def test_map_score_is_a_permutation_test_with_a_stated_threshold():
    geo = POS.loc[STATES].to_numpy() @ np.array([[0.006, 0.008, 0.0], [-0.008, 0.006, 0.0]])
    perfect = map_score(_model({"State": geo}, {"State": STATES}), POS, n_perm=999)
    # nothing fits as well as the map itself: p is the smallest a 999-permutation test can give
    assert perfect["p_value"] == pytest.approx(1 / 1000) and perfect["significant"]
    assert perfect["verdict"] == "better than 95% of random assignments"
    # random embeddings read as chance at least 95% of the time; p counts ties and better fits
    reads = []
    for seed in range(40):
        noise = _model(
            {"State": np.random.default_rng(seed).normal(size=(12, 7))}, {"State": STATES}
        )
        s = map_score(noise, POS, n_perm=500, seed=seed)
        assert s["p_value"] == pytest.approx((1 + 500 - round(s["better_than"] * 500)) / 501)
        assert s["significant"] == (s["p_value"] < 0.05)
        reads.append(s["verdict"])
    assert reads.count("no better than chance") >= 36, reads


def test_projection_turns_the_pca_onto_the_map():
    geo = POS.loc[STATES].to_numpy() @ np.array([[0.0, 0.02], [0.02, 0.0]])  # swapped, scaled
    m = _model({"State": geo}, {"State": STATES})
    proj = projection(m, "State", POS)
    assert np.allclose(proj.loc[STATES].to_numpy(), POS.loc[STATES].to_numpy(), atol=1e-6)
    plain = projection(m, "State")
    assert list(plain.columns) == ["x", "y"] and len(plain) == 12


def test_calendar_score_definition():
    days = list(range(1, 8))
    assert calendar_score(_model({"DayOfWeek": _ring(7)}, {"DayOfWeek": days}), "weekday") == 1.0
    months = list(range(1, 13))
    ring = _model({"Month": _ring(12, noise=0.01)}, {"Month": months})
    assert calendar_score(ring, "month") == 1.0
    # a ring drawn in a scrambled order keeps few neighbours; random ~ 2/(n-1)
    order = np.random.default_rng(5).permutation(12)
    scrambled = _model({"Month": _ring(12)[order]}, {"Month": months})
    assert calendar_score(scrambled, "month") < 0.5
    # a line Mon..Sun keeps all but the Sun–Mon link: 12 of 14 neighbour slots
    line = np.column_stack([np.arange(7.0), np.zeros(7)])
    assert calendar_score(
        _model({"DayOfWeek": line}, {"DayOfWeek": days}), "weekday"
    ) == pytest.approx(12 / 14)
    # a missing Sunday: Sat and Mon each have one calendar neighbour left
    six = _model({"DayOfWeek": _ring(7)[:6]}, {"DayOfWeek": days[:6]})
    assert calendar_score(six, "weekday") == 1.0
    with pytest.raises(ValueError, match="kind must be one of"):
        calendar_score(six, "year")
    names = _model(
        {"DayOfWeek": _ring(7)}, {"DayOfWeek": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
    )
    with pytest.raises(ValueError, match="numbers 1..7"):
        calendar_score(names, "weekday")


def test_nearest_states():
    geo = POS.loc[STATES].to_numpy() / 100
    m = _model({"State": geo}, {"State": STATES})
    near = nearest(m, "State", "HH", k=2)
    assert list(near.index) == ["SH", "HB,NI"] and isinstance(near, pd.DataFrame)
    assert near["distance"].is_monotonic_increasing
    with pytest.raises(KeyError):
        nearest(m, "State", "XX")
