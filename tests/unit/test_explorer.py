"""EmbeddingExplorer outside a kernel: sources, linked selection through simulated browser changes,
neighbours, the new user, and bad input (banner + exception, last good state kept)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab8widgets.data import synthetic_ratings
from lab8widgets.models.collab import collab_data, fit_collab, make_model
from lab8widgets.testing import send_custom, simulate
from lab8widgets.widgets.explorer import EmbeddingExplorer


def browser_sets(widget, **state) -> None:
    simulate(widget, **state)


def click_row(table, row: int) -> None:
    send_custom(table, {"event": "row", "row": row})


@pytest.fixture(scope="module")
def setup():
    syn = synthetic_ratings()
    data = collab_data(syn.ratings)
    torch.manual_seed(0)
    model = make_model(data, 50, data.default_y_range())
    fit_collab(model, data, 10, 1e-2, 0.1, 64)
    return syn, data, model


@pytest.fixture
def ex(setup):
    syn, data, model = setup
    return EmbeddingExplorer(model, data, genres=syn.ratings)


def brush(view, x0, x1, y0, y1) -> None:
    """A drag on a LinkedScatter: bqplot reports the rectangle (data units) as brushing ends."""
    browser_sets(view.brush, brushing=True)
    browser_sets(view.brush, brushing=False, selected_x=[x0, x1], selected_y=[y0, y1])


def test_brush_on_the_map_selects_everywhere(ex):
    ex.bias_view.restyle_max = 0  # drawn as a large view is: an overlay (the map stays small)
    keys, x, y = ex.pca.all_keys, ex.pca.x, ex.pca.y
    x0, x1 = np.quantile(x, [0.2, 0.7])
    y0, y1 = np.quantile(y, [0.1, 0.8])
    brush(ex.pca, x0, x1, y0, y1)
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    want = [keys[i] for i in np.flatnonzero(inside)]
    assert len(want) >= 3
    assert sorted(ex.selected) == sorted(want)
    assert sorted(ex.bias_view.selected) == sorted(want)
    # the bias view draws exactly those titles over its points, at their (ratings, bias)
    b = ex.bias_view
    at = {k: (b.x[i], b.y[i]) for i, k in enumerate(b.all_keys)}
    assert sorted(b.painted_keys) == sorted(want)
    drawn = {tuple(p) for p in b.overlay.points[b.overlay.shown_index].tolist()}
    assert drawn == {at[k] for k in b.painted_keys}  # the selection layer's points
    assert sorted(ex.pca.painted_keys) == sorted(want)  # bqplot's own styles on the small map
    assert sorted(ex.pca.mark.selected) == sorted(keys.index(k) for k in want)
    assert sorted(ex.table.all_keys) == sorted(want)
    k5 = want[1]
    row = ex.table.frame.set_index("title").loc[k5]
    i = ex.factors.items.index(k5)
    assert row["bias"] == pytest.approx(float(ex.model.movie_bias.detach()[i + 1]))
    assert row["n_ratings"] == ex.factors.item_counts[i]
    j = keys.index(k5)
    assert row["x"] == pytest.approx(x[j]) and row["y"] == pytest.approx(y[j])


def test_lasso_on_the_bias_view_and_python_selection(ex):
    ex.bias_view.mode = "lasso"
    browser_sets(ex.bias_view.mark, selected=[1, 2])  # the lasso's answer in the first mark
    want = [ex.bias_view.all_keys[1], ex.bias_view.all_keys[2]]
    assert sorted(ex.selected) == sorted(want)
    assert sorted(ex.pca.selected) == sorted(k for k in want if k in ex.pca.all_keys)
    title = ex.factors.items[10]
    ex.selected = [title.upper()]  # typed loosely: resolved to the title
    assert ex.selected == [title] and ex.table.all_keys == [title]
    assert ex.pca.selected == ([title] if title in ex.pca.all_keys else [])
    ex.selected = []
    assert ex.table.n_rows == 0 and "Nothing selected" in ex.table.caption
    assert ex.pca.painted_keys == [] and ex.bias_view.painted_keys == []


def test_unknown_title_selected_from_python(ex):
    ex.selected = [ex.factors.items[3]]
    with pytest.raises(KeyError, match="Did you mean"):
        ex.selected = ["Synthetic film 00"]
    assert "Did you mean" in ex.error
    assert ex.selected == [ex.factors.items[3]]  # the last good selection stays


def test_neighbours_listed_and_selected(ex):
    title = ex.factors.items[int(np.argmax(ex.factors.item_counts))]
    nb = ex.neighbours(title, k=5)
    assert list(ex.nb_table.frame["title"]) == list(nb["title"])
    assert ex.selected[0] == title and set(ex.selected[1:]) == set(nb["title"])
    # clicking a row of the selection table asks for that title's neighbours
    second = ex.table.all_keys[1]
    click_row(ex.table, 1)
    assert ex.nb_table.caption.startswith(f"Nearest to {second} ")
    assert ex.selected[0] == second
    shown = list(ex.nb_table.frame["title"])
    with pytest.raises(KeyError, match="not a title"):
        ex.neighbours("No Such Film (1900)")
    assert "not a title" in ex.error
    assert list(ex.nb_table.frame["title"]) == shown  # last good list kept


def test_new_user_updates_both_tables(ex):
    avg = ex.new_user({})
    assert list(ex.avg_table.frame["title"]) == list(ex.average_recommendations["title"])
    assert list(avg["title"]) == list(ex.average_recommendations["title"])
    group_a = [t for t in ex.factors.items if "Group A" in t][:3]
    recs = ex.new_user({t: 5 for t in group_a}, k=8)
    assert list(ex.rec_table.frame["title"]) == list(recs["title"]) and len(recs) == 8
    assert not set(group_a) & set(recs["title"])
    assert ex.user_ratings == {t: 5.0 for t in group_a}
    with pytest.raises(ValueError, match="outside this data's scale"):
        ex.new_user({group_a[0]: 6})
    assert "outside" in ex.error
    assert list(ex.rec_table.frame["title"]) == list(recs["title"])  # kept


def test_colour_by_genre_and_decade(ex):
    ex.color_menu.value = "main"
    assert ex.pca.mark.color is not None and "Group A" in ex.pca.legend.value
    ex.color_menu.value = "g:Group B"
    assert "other" in ex.pca.legend.value
    ex.color_menu.value = "none"
    assert ex.pca.mark.color is None


def test_users_instead_of_movies(ex, setup):
    _, data, model = setup
    ex.space_toggle.value = "users"
    assert ex.space == "users" and len(ex.pca.all_keys) == min(1000, data.n_users - 1)
    browser_sets(ex.pca.mark, selected=[0])  # a click (bqplot's click-select: 299 users)
    assert ex.selected == [ex.pca.all_keys[0]] and ex.table.columns[0] == "user"
    u = ex.selected[0]
    assert ex.table.frame["bias"].iloc[0] == pytest.approx(
        float(model.user_bias.detach()[data.users.index(u)])
    )
    ex.space_toggle.value = "items"
    assert ex.selected == [] and ex.table.columns[:1] in ([], ["title"])


def test_pca_count_and_components(ex):
    browser_sets(ex.n_top_field, value="50")  # typed, as the browser sends it
    assert len(ex.pca.all_keys) == 50
    ex.pc_x.value, ex.pc_y.value = 2, 0
    assert ex.pca.x_axis.label.startswith("PC3") and ex.pca.y_axis.label.startswith("PC1")
    assert "PC3" in ex.extremes_html.value and len(ex.scree_bars.y) >= 3


def test_model_without_biases(setup):
    _, data, _ = setup
    net = make_model(data, use_nn=True)
    ex = EmbeddingExplorer(net, data)
    assert ex.bias_view.layout.display == "none" and "no biases" in ex.no_bias_html.value
    assert len(ex.neighbours(ex.factors.items[0], k=3)) == 3
    assert len(ex.new_user({ex.factors.items[0]: 4.0}, k=3)) == 3
    assert np.isnan(ex.table.frame["bias"]).all() if len(ex.table.frame) else True


def test_follows_a_collab_lab():
    from lab8widgets.widgets.collab import CollabLab

    lab = CollabLab("synthetic")
    ex = EmbeddingExplorer(lab)
    assert "CollabLab" in ex.source and "untrained" in ex.source
    assert "Group A" in ex.pca.legend.value  # planted groups named from the lab's truth
    lab.fit(epochs=2, n_factors=8)
    assert "run #1" in ex.source
    assert ex.factors.item_factors.shape[1] == 8
    assert torch.equal(ex.factors.item_bias, lab.model.movie_bias.detach()[1:])
    # a model replaced from a notebook cell is followed through CollabLab's public model_version
    from lab8widgets.models.collab import make_model

    lab.model = make_model(lab.data, 5, lab.data.default_y_range())
    assert ex.model is lab.model and ex.factors.item_factors.shape[1] == 5
    assert lab.explore().model is lab.model


def test_plain_factor_matrix_and_bad_sources():
    names = [f"thing {i}" for i in range(40)]
    fac = np.random.default_rng(0).normal(size=(40, 5))
    ex = EmbeddingExplorer(names=names, factors=fac, counts=np.arange(40))
    assert "factor matrix" in ex.source and ex.bias_view.layout.display == "none"
    assert len(ex.neighbours("thing 1", k=3, min_ratings=0)) == 3
    with pytest.raises(TypeError, match="needs a CollabLab"):
        EmbeddingExplorer("ml-100k")
    with pytest.raises(TypeError, match="needs data="):
        EmbeddingExplorer(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        EmbeddingExplorer(names=names, factors=fac, colour="red")


def test_default_trains_on_start(monkeypatch):
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")
    monkeypatch.setenv("FASTAI_HOME", "/nonexistent-lab8")
    ex = EmbeddingExplorer.default(epochs=2)
    assert ex.wait(120)
    assert "synthetic" in ex.source and "2 of 2 epochs" in ex.source and not ex.error
    # trained with the planted groups as genres: each item's vector includes its genre's embedding
    assert ex.factors.has_metadata and "genres" in ex.source
    m = ex.model
    want = (m.movie_factors + m.movie_tags @ m.tag_factors).detach()[1:]
    assert torch.equal(ex.factors.item_factors, want)
    assert torch.equal(ex.factors.without_metadata().item_factors, m.movie_factors.detach()[1:])


def test_bias_view_shows_titles_with_enough_ratings(setup):
    syn, data, model = setup
    ex = EmbeddingExplorer(model, data, genres=syn.ratings)
    counts = ex.factors.item_counts
    floor = ex.bias_min_ratings or 0
    assert floor == 0 and min(counts) >= 5  # default: 5, lowered only where 500 titles lack it
    assert sorted(ex.bias_view.all_keys) == sorted(ex.factors.items)
    mid = int(np.median(counts))
    browser_sets(ex.bias_min_field, value=str(mid))  # the learner raises the floor
    want = {t for t, c in zip(ex.factors.items, counts, strict=True) if c >= mid}
    assert ex.bias_min_ratings == mid and set(ex.bias_view.all_keys) == want
    assert f"{len(want):,} of {len(counts):,} movies" in ex.bias_note_html.value
    below = next(t for t, c in zip(ex.factors.items, counts, strict=True) if c < mid)
    ex.selected = [below]  # a title under the floor: selected everywhere it is shown
    assert ex.table.all_keys == [below] and ex.bias_view.selected == []
    with pytest.raises(ValueError):
        EmbeddingExplorer(model, data, bias_min_ratings=0)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("n_top_field", "2.5", ("n_top must be an integer from 3 to", "got 2.5")),
        ("n_top_field", "1e309", ("n_top must be an integer from 3 to", "got inf")),
        ("n_top_field", "-1", ("n_top must be an integer from 3 to", "got -1")),
        ("nb_k", "0", ("k must be an integer from 1 to 100", "got 0")),
        ("nb_min", "2.5", ("min_ratings must be an integer from 0 to", "got 2.5")),
        ("nb_min", "1309", ("min ratings must be an integer from 1 to", "got 1309")),
        ("bias_min_field", "1309", ("min ratings must be an integer from 1 to", "got 1309")),
    ],
)
def test_typed_fields_refuse_what_they_cannot_use(setup, field, text, message):
    """Issue 24 item 4: refused with field, value and range; the last good value comes back and
    nothing else moves (typing -1 once switched y from PC2 to PC1)."""
    _, data, model = setup
    ex = EmbeddingExplorer(model, data)
    w = getattr(ex, field)
    before, keys, y = w.value, list(ex.pca.all_keys), ex.pc_y.value
    browser_sets(w, value=text)
    assert all(part in ex.error for part in message), ex.error
    assert w.value == before and list(ex.pca.all_keys) == keys and ex.pc_y.value == y == 1
    browser_sets(w, value=before)  # the same value typed again is accepted quietly


def test_neighbours_clear_the_old_brush_rectangle(ex):
    """Issue 24 item 3: the rectangle stands for the selection only while it is the selection."""
    x, y = ex.pca.x, ex.pca.y
    brush(ex.pca, float(x.min()), float(np.median(x)), float(y.min()), float(y.max()))
    brushed = list(ex.selected)
    assert brushed and ex.pca.brush.selected_x is not None  # a brush keeps its rectangle
    ex.neighbours(ex.factors.items[0], k=5)
    assert ex.selected != brushed
    assert ex.pca.brush.selected_x is None and ex.pca.brush.selected_y is None
