"""models/explore/ against torch, scikit-learn and fastai, and against the planted truth of
``synthetic_ratings`` (the map separates the planted groups; a cold-start fan of one group gets it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lab8widgets.data import synthetic_ratings
from lab8widgets.models import explore as X
from lab8widgets.models.collab import collab_data, fit_collab, make_model, similar_items


@pytest.fixture(scope="module")
def trained():
    syn = synthetic_ratings()
    data = collab_data(syn.ratings)
    torch.manual_seed(0)
    model = make_model(data, 50, data.default_y_range())
    fit_collab(model, data, 20, 1e-2, 0.1, 64, seed=0)
    return syn, data, model, X.from_collab(model, data, genres=None)


def group_of(title: str) -> str:
    return title.rsplit("(", 1)[1].rstrip(")")


def test_numbers_are_the_models_own_tensors(trained):
    _, data, model, f = trained
    assert f.items == data.items[1:]
    assert torch.equal(f.item_factors, model.movie_factors.detach()[1:])
    assert torch.equal(f.item_bias, model.movie_bias.detach()[1:])
    assert torch.equal(f.user_bias, model.user_bias.detach()[1:])
    assert list(f.item_counts) == list(data.item_counts[1:])
    i = 7  # mean rating of one item, straight from the training ratings
    tx, ty = data.x[data.train_idx], data.y[data.train_idx]
    assert f.item_mean[i] == pytest.approx(float(ty[tx[:, 1] == f.item_rows[i]].mean()))


def test_neighbours_are_torch_cosine_similarity_with_a_ratings_floor(trained):
    _, data, model, f = trained
    title = f.items[int(np.argmax(f.item_counts))]
    nb = X.neighbours(f, title, k=8)
    floor = X.default_min_ratings(f.item_counts)
    assert 1 <= floor <= 20 and (nb["n_ratings"] >= floor).all()
    assert title not in set(nb["title"])
    w = model.movie_factors.detach()
    i = data.items.index(title)
    for t, s in zip(nb["title"], nb["similarity"], strict=True):
        ref = nn.functional.cosine_similarity(w[i], w[data.items.index(t)], dim=0)
        assert s == pytest.approx(float(ref), abs=1e-6)
    ref = similar_items(model, data, title, k=8, min_ratings=floor)  # the lesson's own lookup
    assert list(ref["title"]) == list(nb["title"])


def test_default_floor_drops_rarely_rated_titles():
    counts = np.array([1, 2, 3, 4] * 50 + [500] * 150)
    assert X.default_min_ratings(counts) == 20
    assert X.default_min_ratings(np.array([1, 2, 3])) == 1  # small data: keep items
    assert X.default_min_ratings(None) == 0


def test_pca_is_scikit_learns_and_separates_the_planted_groups(trained):
    from sklearn.decomposition import PCA
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    _, _, _, f = trained
    m = X.pca_map(f.item_factors, f.items, f.item_counts, n_top=150)
    top = np.argsort(-f.item_counts, kind="stable")[:150]
    assert sorted(m.rows) == sorted(top)
    ref = PCA(n_components=10, svd_solver="full").fit(f.item_factors.numpy()[m.rows].astype(float))
    np.testing.assert_allclose(m.explained, ref.explained_variance_ratio_, rtol=1e-6)
    groups = [group_of(f.items[r]) for r in m.rows]
    acc = cross_val_score(KNeighborsClassifier(5), m.coords[:, :2], groups, cv=5).mean()
    assert acc >= 0.85, f"PC1/PC2 separate the planted groups only {acc:.0%}"
    low, high = m.extremes[0]
    assert high[0] == f.items[m.rows[np.argmax(m.coords[:, 0])]]
    assert low[0] == f.items[m.rows[np.argmin(m.coords[:, 0])]]


def test_cold_start_fan_of_one_group_gets_that_group(trained):
    _, _, _, f = trained
    average = list(X.recommend(f, {}, k=10)["title"])
    shares = []
    for group in ("Group A", "Group B", "Group C"):
        mine = [t for t in f.items if group_of(t) == group]
        fav = sorted(mine, key=lambda t: -f.item_counts[f.items.index(t)])[:5]
        recs = X.recommend(f, {t: 5 for t in fav}, k=10)
        assert not set(fav) & set(recs["title"])
        share = np.mean([group_of(t) == group for t in recs["title"]])
        before = np.mean([group_of(t) == group for t in average])
        assert share >= 0.7 and share > before + 0.3, (group, share, before, list(recs["title"]))
        shares.append(share)
    assert np.mean(shares) >= 0.8


def test_no_ratings_is_the_average_user(trained):
    _, data, model, f = trained
    recs = X.recommend(f, {}, k=5, min_ratings=0)
    u = model.user_factors.detach()[1:].mean(0)
    b = model.user_bias.detach()[1:].mean()
    w, bi = model.movie_factors.detach(), model.movie_bias.detach()
    ref = torch.sigmoid(w @ u + bi + b) * 5.5
    ref[0] = -1  # #na#
    top = torch.argsort(ref, descending=True)[:5]
    assert list(recs["title"]) == [data.items[int(i)] for i in top]
    np.testing.assert_allclose(recs["predicted"], ref[top].numpy(), rtol=1e-5)


def test_gauss_newton_reaches_the_objectives_minimum(trained):
    _, _, _, f = trained
    ratings = {f.items[0]: 5.0, f.items[1]: 1.0, f.items[2]: 4.0}
    u, b = X.fit_new_user(f, ratings, within=None)  # the pull as given (no distance cap)
    u0, b0 = X.average_user(f)
    rows = [f.items.index(t) for t in ratings]
    y = torch.tensor(list(ratings.values()))
    uu, bb = u.clone().double().requires_grad_(), b.clone().double().requires_grad_()
    pred = torch.sigmoid(f.item_factors[rows].double() @ uu + f.item_bias[rows].double() + bb) * 5.5
    scale = float(u0.norm()) ** 2 / len(u0) + 1e-2
    loss = (
        ((pred - y) ** 2).sum()
        + X.NEW_USER_PULL * ((uu - u0) ** 2).sum() / scale / len(u0)
        + X.NEW_USER_BIAS_PULL * (bb - b0) ** 2
    )
    gu, gb = torch.autograd.grad(loss, [uu, bb])
    assert float(gu.abs().max()) < 1e-4 and abs(float(gb)) < 1e-4
    before = (
        (torch.sigmoid(f.item_factors[rows] @ u0 + f.item_bias[rows] + b0) * 5.5 - y) ** 2
    ).mean()
    assert float(((pred.detach() - y) ** 2).mean()) < float(before) / 4


def test_new_user_stays_within_real_users_reach(trained):
    _, _, _, f = trained
    ratings = {t: (5.0 if i % 2 else 1.0) for i, t in enumerate(f.items[:12])}
    u0, _ = X.average_user(f)
    free, _ = X.fit_new_user(f, ratings, within=None)
    capped, _ = X.fit_new_user(f, ratings)
    dist = (f.user_factors - f.user_factors.mean(0)).norm(dim=1)
    p95 = float(torch.quantile(dist.double(), 0.95))
    assert X.user_spread(f) == pytest.approx(p95)
    assert float((free - u0).norm()) > p95  # unchecked, these ratings push it past real users
    assert float((capped - u0).norm()) <= p95 * 1.001


def test_neural_net_cold_start_and_no_biases():
    syn = synthetic_ratings(n_users=80, n_items=60, seed=1)
    data = collab_data(syn.ratings)
    torch.manual_seed(0)
    model = make_model(data, use_nn=True)
    fit_collab(model, data, 3, 5e-3, 0.01, 64)
    f = X.from_collab(model, data)
    assert f.kind == "neural net" and not f.has_bias
    rated = {f.items[0]: 5.0, f.items[3]: 1.0}
    u, b = X.fit_new_user(f, rated)
    u0, _ = X.average_user(f)
    rows = [0, 3]
    x0 = torch.cat([u0.expand(2, -1), f.item_factors[rows]], 1)
    x1 = torch.cat([u.expand(2, -1), f.item_factors[rows]], 1)
    y = torch.tensor([5.0, 1.0])
    with torch.no_grad():
        e0 = ((model.layers(x0).squeeze(-1).sigmoid() * 5.5 - y) ** 2).mean()
        e1 = ((model.layers(x1).squeeze(-1).sigmoid() * 5.5 - y) ** 2).mean()
    assert e1 < e0  # the fitted user explains its ratings better than the average user
    assert len(X.recommend(f, rated, k=5)) == 5


def test_bad_input(trained):
    _, data, model, f = trained
    with pytest.raises(KeyError, match="Did you mean"):
        X.neighbours(f, f.items[0][:-3], 3)
    with pytest.raises(ValueError, match="outside this data's scale 1–5"):
        X.recommend(f, {f.items[0]: 7})
    with pytest.raises(ValueError, match="number of stars"):
        X.recommend(f, {f.items[0]: float("nan")})
    with pytest.raises(TypeError, match="dict of title"):
        X.recommend(f, [f.items[0]])
    with pytest.raises(ValueError, match="k must be"):
        X.neighbours(f, f.items[0], k=-1)
    with pytest.raises(TypeError, match="not a collaborative-filtering model"):
        X.from_collab(nn.Linear(2, 2), data)
    small = collab_data(synthetic_ratings(n_users=20, n_items=10).ratings)
    with pytest.raises(ValueError, match="pass the CollabData it was trained on"):
        X.from_collab(model, small)
    with pytest.raises(ValueError, match="one row per name"):
        X.from_factors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        X.from_factors(["a", "b"], [[0.0, np.nan], [1.0, 1.0]])


def test_plain_factor_matrix():
    names = [f"item {i}" for i in range(30)]
    rng = np.random.default_rng(0)
    fac = rng.normal(size=(30, 4))
    f = X.from_factors(names, fac, bias=rng.normal(size=30), counts=np.arange(30))
    nb = X.neighbours(f, "ITEM 3", k=3, min_ratings=0)  # case-insensitive lookup
    sims = fac @ fac[3] / np.linalg.norm(fac, axis=1) / np.linalg.norm(fac[3])
    sims[3] = -9
    assert list(nb["title"]) == [names[i] for i in np.argsort(-sims)[:3]]
    assert X.title_year("Toy Story (1995)") == 1995 and np.isnan(X.title_year("x"))


def test_fastai_learners_are_read_as_they_are():
    from fastai.collab import CollabDataLoaders, collab_learner
    from fastai.tabular.all import Categorify, RegressionBlock, TabularDataLoaders, tabular_learner

    ratings = synthetic_ratings(n_users=60, n_items=40, seed=2).ratings
    dls = CollabDataLoaders.from_df(ratings[["user", "title", "rating"]], item_name="title", bs=64)
    for use_nn in (False, True):
        learn = collab_learner(dls, n_factors=8, y_range=(0, 5.5), use_nn=use_nn, layers=[20])
        f = X.from_learner(learn)
        assert f.items == list(dls.classes["title"][1:])
        if use_nn:
            assert f.kind == "neural net" and f.head is not None
            assert torch.equal(f.item_factors, learn.model.embeds[1].weight.detach()[1:])
        else:
            assert torch.equal(f.item_bias, learn.model.i_bias.weight.detach()[1:, 0])
            # predictions for an existing user equal the learner's model
            u, b = f.user_factors[4], f.user_bias[4]
            x = torch.tensor([[5, i] for i in range(1, len(f.items) + 1)])
            with torch.no_grad():
                ref = learn.model(x)
            torch.testing.assert_close(X.predict_for_user(f, u, b), ref)
        assert len(X.recommend(f, {f.items[0]: 5}, k=3)) == 3
    tab = TabularDataLoaders.from_df(
        ratings[["user", "movie", "rating"]],
        procs=[Categorify],
        cat_names=["user", "movie"],
        y_names="rating",
        y_block=RegressionBlock(),
        bs=64,
    )
    with pytest.raises(TypeError, match="not a fastai collab learner"):
        X.from_learner(tabular_learner(tab))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_on_cuda_still_reads(trained):
    _, data, model, _ = trained
    cuda = make_model(data, 50, data.default_y_range())
    cuda.load_state_dict(model.state_dict())
    cuda = cuda.cuda()
    f = X.from_collab(cuda, data)
    assert f.item_factors.device.type == "cpu"
    assert len(X.neighbours(f, f.items[0], 3)) == 3
    assert len(X.recommend(f, {f.items[0]: 5}, 3)) == 3
