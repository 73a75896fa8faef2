"""Metadata in collaborative filtering (lesson 8, 28:19; issue 20 items 3 and 4): a learned embedding
per genre in DotProductBias and CollabNN, its effect on valid MSE, the new user who rates a few
films, one default floor for "similar", and the Embedding Projector export. The numbers that
carry the lesson are checked on the real ml-latest-small."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import torch

from lab8widgets import CollabLab
from lab8widgets.data import synthetic_ratings
from lab8widgets.models.collab import (
    MIN_RATINGS,
    CollabNN,
    DotProductBias,
    bias_tables,
    collab_data,
    default_min_ratings,
    factor_tables,
    fit_collab,
    item_tags,
    make_model,
    sigmoid_range,
)
from tests.reference_data import shared_file

HORROR = ["Scream (1996)", "Shining, The (1980)", "Nightmare on Elm Street, A (1984)"]
ROMANCE = ["Notting Hill (1999)", "Sleepless in Seattle (1993)", "Pretty Woman (1990)"]
ANIMATION = ["Toy Story (1995)", "Lion King, The (1994)", "Aladdin (1992)"]
ACTION = ["Die Hard (1988)", "Terminator 2: Judgment Day (1991)", "Rock, The (1996)"]


# --- the models, against a hand computation (synthetic, fast) -----------------------------------


@pytest.fixture(scope="module")
def small():
    syn = synthetic_ratings(n_users=60, n_items=40, seed=3)
    data = collab_data(syn.ratings)
    genres = {
        t: ("A|B" if i % 3 == 0 else "A" if i % 3 == 1 else "") for i, t in enumerate(data.items)
    }
    return data, genres, item_tags(data, genres)


def test_item_tags_are_the_mean_of_each_items_genres(small):
    data, genres, tags = small
    assert tags.names == ["A", "B"] and tags.weights.shape == (data.n_items, 2)
    for i, t in enumerate(data.items[1:], start=1):
        want = [g for g in genres[t].split("|") if g]
        assert tags.of(i) == want
        assert float(tags.weights[i].sum()) == pytest.approx(1.0 if want else 0.0)
    assert float(tags.weights[0].sum()) == 0  # #na#
    with pytest.raises(ValueError, match="none of the 40 items has a tag"):
        item_tags(data, {"not a title": "A"})


def test_dot_product_bias_adds_the_mean_genre_embedding(small):
    data, _, tags = small
    torch.manual_seed(0)
    m = DotProductBias(data.n_users, data.n_items, 8, item_tags=tags)
    with torch.no_grad():
        m.tag_factors.normal_(0, 1)
        m.tag_bias.normal_(0, 1)
    x = data.x[:50]
    w = tags.weights[x[:, 1]]
    movie = m.movie_factors[x[:, 1]] + w @ m.tag_factors
    ref = (m.user_factors[x[:, 0]] * movie).sum(1) + m.user_bias[x[:, 0]] + m.movie_bias[x[:, 1]]
    ref = sigmoid_range(ref + w @ m.tag_bias, 0, 5.5)
    torch.testing.assert_close(m(x), ref)
    # the readers see the vectors the model uses, own part plus genres
    _, items = factor_tables(m)
    torch.testing.assert_close(items, (m.movie_factors + tags.weights @ m.tag_factors).detach())
    _, ib = bias_tables(m)
    torch.testing.assert_close(ib, (m.movie_bias + tags.weights @ m.tag_bias).detach())
    # the item tables are stepped whole (the tag table is indexed by item id), users by rows
    assert m.row_params == {"user_factors": 0, "user_bias": 0}
    assert DotProductBias.row_params["movie_factors"] == 1  # the plain model keeps its rows
    assert m.tag_names == ["A", "B"]


def test_collab_nn_adds_the_mean_genre_embedding_and_trains(small):
    data, _, tags = small
    torch.manual_seed(0)
    m = make_model(data, use_nn=True, item_tags=tags.weights)
    assert isinstance(m, CollabNN) and m.tag_factors.shape == (2, m.item_factors.shape[1])
    with torch.no_grad():
        m.tag_factors.normal_(0, 1)
    x = data.x[:30]
    items = m.item_factors[x[:, 1]] + tags.weights[x[:, 1]] @ m.tag_factors
    ref = sigmoid_range(
        m.layers(torch.cat([m.user_factors[x[:, 0]], items], 1)).squeeze(-1), 0, 5.5
    )
    torch.testing.assert_close(m(x), ref)
    before = m.tag_factors.detach().clone()
    res = fit_collab(m, data, 2, 5e-3, 0.01, 64)
    assert res.status == "done" and not torch.equal(before, m.tag_factors.detach())


# --- the lab on real MovieLens ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    # the real data beside the repository: skips on a clone, fails in CI (tests/reference_data.py)
    path = shared_file("ml-latest-small", "ratings.csv").parent
    lab = CollabLab("ml-latest-small", path=path, metadata="genres")
    lab.comparison = lab.compare_metadata(epochs=5)
    return lab


def share(lab, titles, genre: str) -> float:
    return float(np.mean([genre in lab.genres[t].split("|") for t in titles]))


def test_genres_lower_valid_mse_overall_and_for_rarely_rated_films(lab):
    table = lab.comparison
    assert list(table["label"]) == ["without genres", "with genres"]
    assert (table["status"] == "done").all()
    without, with_ = table.iloc[0], table.iloc[1]
    # the table's numbers are the models' own: recompute the "with genres" one from lab.model
    x, y = lab.data.x[lab.data.valid_idx], lab.data.y[lab.data.valid_idx]
    with torch.no_grad():
        mse = float(((lab.model(x).double() - y.double()) ** 2).mean())
    assert with_["valid_mse"] == pytest.approx(mse, rel=1e-6)
    assert with_["valid_mse"] < without["valid_mse"]
    assert with_["valid_mse_few"] < without["valid_mse_few"] - 0.02  # where genres help most
    assert with_["n_valid_few"] == without["n_valid_few"] > 1000
    page = lab.metadata_html.value
    assert (
        "without genres" in page and "with genres" in page and f"{with_['valid_mse']:.4f}" in page
    )
    assert lab.runs[-1]["size"].endswith("+ genres") and lab.settings.metadata


@pytest.mark.parametrize(
    ("genre", "likes", "hates"),
    [
        ("Horror", HORROR, ROMANCE[:2]),
        ("Romance", ROMANCE, HORROR[:2]),
        ("Animation", ANIMATION, ACTION[:2]),
    ],
)
def test_a_new_user_who_loves_a_genre_gets_it(lab, genre, likes, hates):
    ex = lab.explore()
    f = ex.factors
    assert f.has_metadata
    most_rated = [f.items[i] for i in np.argsort(-f.item_counts, kind="stable")[:100]]
    base = share(lab, most_rated, genre)
    ratings = {**{t: 5 for t in likes}, **{t: 1 for t in hates}}
    recs = ex.new_user(ratings, k=10, use_metadata=True)
    got = share(lab, recs["title"], genre)
    assert got >= 0.3 and got >= 3 * base, (genre, got, base, list(recs["title"]))
    plain = share(lab, ex.new_user(ratings, k=10, use_metadata=False)["title"], genre)
    assert got > plain  # the genre embeddings are what lifts it
    # the fitted vector stays among real users: no farther from the average user than 95% of them
    users = f.user_factors
    dist = (users - users.mean(0)).norm(dim=1)
    assert ex.user_distance <= float(torch.quantile(dist.double(), 0.95)) * 1.001


def test_predictions_shown_stay_on_the_star_scale(lab):
    ex = lab.explore()
    fans = {t: 5 for t in ex.questionnaire[:8]}
    recs = ex.new_user(fans, k=20)
    assert recs["predicted"].between(0.5, 5.0).all()
    np.testing.assert_allclose(recs["predicted"], recs["model_output"].clip(0.5, 5.0))
    assert list(ex.rec_table.frame.columns) == ["title", "predicted", "n_ratings"]
    text = ex.regularisation_html.value
    assert "reaches 5.5" in text and "clipped to 0.5–5 stars" in text
    assert "average user" in text and "95% of real users" in text
    assert "reaches 5.5" in lab.model_info.value


def test_similar_and_neighbours_share_one_default_floor(lab):
    title = "Silence of the Lambs, The (1991)"
    floor = default_min_ratings(lab.data.item_counts[1:])
    assert floor == MIN_RATINGS == 20
    sim = lab.similar(title, k=10)
    ex = lab.explore()
    nb = ex.neighbours(title, k=10)
    assert list(sim["title"]) == list(nb["title"])
    assert (sim["n_ratings"] >= floor).all() and (nb["n_ratings"] >= floor).all()
    counts = dict(zip(lab.data.items, lab.data.item_counts, strict=True))
    assert list(sim["n_ratings"]) == [counts[t] for t in sim["title"]]
    # the page shows the floor in both labs
    assert lab.similar_min.number == floor and ex.nb_min.number == floor
    assert f"at least {floor} training ratings" in lab.similar_html.value
    assert f"≥ {floor} training ratings" in ex.nb_table.caption
    assert lab.similar(title, k=3, min_ratings=1)["n_ratings"].min() >= 1  # still adjustable


def test_export_projector_reads_back(lab, tmp_path):
    paths = lab.export_projector(tmp_path, "ml")
    assert [p.name for p in paths] == [
        "ml_movies_vectors.tsv",
        "ml_movies_metadata.tsv",
        "ml_users_vectors.tsv",
        "ml_users_metadata.tsv",
    ]
    vec = np.loadtxt(paths[0], delimiter="\t")
    meta = pd.read_csv(paths[1], sep="\t", keep_default_na=False, quoting=csv.QUOTE_NONE)
    _, items = factor_tables(lab.model)
    assert vec.shape == (lab.data.n_items - 1, items.shape[1])
    np.testing.assert_allclose(vec, items[1:].numpy(), rtol=1e-5, atol=1e-6)
    assert list(meta.columns) == ["title", "n_ratings", "genres"]
    # one line a row: the file's cells have their runs of whitespace folded (a title may end in one)
    assert list(meta["title"]) == [" ".join(str(t).split()) for t in lab.data.items[1:]]
    assert list(meta["n_ratings"]) == list(lab.data.item_counts[1:])
    assert meta["genres"].iloc[0] == lab.genres[lab.data.items[1]]
    uvec = np.loadtxt(paths[2], delimiter="\t")
    umeta = pd.read_csv(paths[3], sep="\t")
    assert uvec.shape == (lab.data.n_users - 1, items.shape[1])
    assert list(umeta["user"]) == list(lab.data.users[1:])
    ex = lab.explore()
    epaths = ex.export_projector(tmp_path / "ex")
    np.testing.assert_allclose(np.loadtxt(epaths[0], delimiter="\t"), vec, rtol=1e-6)
    # the page offers both files of each set as download links
    lab.projector.button.click()
    for name in (
        "collab_movies_vectors.tsv",
        "collab_movies_metadata.tsv",
        "collab_users_vectors.tsv",
    ):
        assert f'download="{name}"' in lab.projector.links.value
    ex.projector.button.click()
    assert 'download="explorer_movies_metadata.tsv"' in ex.projector.links.value


def test_metadata_needs_genres_and_says_so():
    frame = pd.DataFrame(
        {"user": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "item": list("ab" * 5), "rating": [1.0, 2] * 5}
    )
    with pytest.raises(ValueError, match='metadata="genres" needs genres'):
        CollabLab(frame, metadata="genres")
    with pytest.raises(ValueError, match="metadata must be"):
        CollabLab(frame, metadata="tags")
    lab = CollabLab(frame, metadata={"a": "X|Y", "b": "Y"})
    assert lab.item_tags.names == ["X", "Y"] and lab.metadata_button.layout.display == ""
    plain = CollabLab(frame)
    assert plain.metadata_button.layout.display == "none"
    with pytest.raises(ValueError, match="compare_metadata needs genres"):
        plain.compare_metadata(epochs=1)
    assert "compare_metadata needs genres" in plain.error  # the banner says it too
    syn = CollabLab("synthetic", metadata="genres")  # the planted groups serve as genres
    assert syn.item_tags.n_tags >= 2


def test_explorer_refuses_metadata_the_model_lacks():
    lab = CollabLab("synthetic")
    ex = lab.explore()
    with pytest.raises(ValueError, match="needs a model trained with genres"):
        ex.new_user({ex.factors.items[0]: 5}, use_metadata=True)
    assert "trained with genres" in ex.error
