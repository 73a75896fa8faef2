"""EntityLab: training streams into its history and chart, the state views stay linked both ways,
every view is drawn from the model's own tensors, and bad input leaves a banner and a usable lab."""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from lab8widgets.data import PLANTED_LABEL
from lab8widgets.models.tabular import get_emb_sz, predict, tabular_model
from lab8widgets.models.tabular import project as P
from lab8widgets.widgets.entity import EntityLab

from .test_rossmann import FIXTURE

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def lab():
    lab = EntityLab(n_stores=30)
    lab.fit(epochs=2)
    return lab


def test_fit_streams_into_history_and_chart(lab):
    assert "synthetic" in lab.source
    h = lab.history
    assert [e["epoch"] for e in h] == [1, 2] and lab.runs[-1]["status"] == "done"
    assert all(math.isfinite(e["valid_mse"]) and e["exp_rmspe"] > 0 for e in h)
    assert h[-1]["valid_mse"] < h[0]["valid_mse"] * 1.5
    curves = lab.panel.curves[lab.runs[-1]["run"]]
    assert curves.vy == pytest.approx([e["valid_loss"] for e in h])
    assert len(curves.tx) > 2 * 2, "train loss must stream several times an epoch"
    assert "exp RMSPE" in lab.panel.runs_html.value and not lab.error


def test_fit_without_waiting_updates_views_during_training(lab):
    seen = []
    lab.state_emb.mark.observe(lambda c: seen.append(lab.busy), "x")
    try:
        assert lab.fit(epochs=2, seed=3, wait=False) is None
        assert lab.busy
        assert lab.wait(120)
    finally:
        lab.state_emb.mark.unobserve_all("x")
    # redrawn after each epoch, while the run was still going
    assert seen.count(True) >= 2 and len(lab.history) == 2


def test_selection_links_both_ways_and_lists_nearest(lab):
    lab.selected = ["HH"]
    assert lab.state_map.selected == ["HH"] and lab.state_emb.selected == ["HH"]
    i = lab.state_map.all_keys.index("HH")
    assert list(lab.state_emb.mark.selected) == [lab.state_emb.all_keys.index("HH")]
    assert list(lab.state_map.mark.selected) == [i]
    want = P.nearest(lab.model, "State", "HH", k=3)
    assert list(lab.nearest_table.frame["nearest"]) == list(want.index)
    # a click in the embedding view (bqplot's mark selection) selects on the map and in Python
    j = lab.state_emb.all_keys.index("BY")
    lab.state_emb.mark.selected = np.array([j], dtype=np.int32)
    assert lab.selected == ["BY"] and lab.state_map.selected == ["BY"]
    lab.state_map.mark.selected = np.array([lab.state_map.all_keys.index("BE")], dtype=np.int32)
    assert lab.selected == ["BE"] and lab.state_emb.selected == ["BE"]
    lab.selected = []
    assert lab.state_map.selected == [] and len(lab.nearest_table.frame) == 0


def test_views_are_drawn_from_the_models_tensors(lab):
    proj = P.projection(lab.model, "State", lab.positions).loc[lab.state_emb.all_keys]
    np.testing.assert_allclose(lab.state_emb.mark.x, proj["x"])
    np.testing.assert_allclose(lab.state_emb.mark.y, proj["y"])
    score = P.map_score(lab.model, lab.positions, name="State", n_perm=2000, seed=0)
    assert lab.map_score()["better_than"] == score["better_than"]
    assert f"better than {100 * score['better_than']:.0f}% of random" in lab.map_html.value
    # a change to the weights shows after refresh
    emb = lab.model.embeds[lab.data.cat_names.index("State")]
    before = np.array(lab.state_emb.mark.x)
    with torch.no_grad():
        old = emb.weight.clone()
        emb.weight.mul_(-1).add_(torch.randn_like(old))
    try:
        lab.refresh()
        assert not np.allclose(lab.state_emb.mark.x, before)
        pd.testing.assert_frame_equal(lab.embedding("State"), P.embedding(lab.model, "State"))
    finally:
        with torch.no_grad():
            emb.weight.copy_(old)
        lab.refresh()
    # rings: points are the weekday PCA, joined Mon→Sun and back to Mon
    xy = P.pca2(P.embedding(lab.model, "DayOfWeek").to_numpy())
    ring = lab.ring_lines["weekday"]
    assert len(ring.x) == 8 and ring.x[0] == ring.x[-1]
    np.testing.assert_allclose(sorted(ring.x[:7]), sorted(xy[:, 0]))
    assert lab.rings["weekday"].all_keys[0] == "Mon" and len(lab.rings["month"].all_keys) == 12
    assert f"{lab.calendar_score('month'):.2f}" in lab.ring_html["month"].value
    # embedding sizes: one point per column at get_emb_sz's sizes; lookup equals one-hot product
    szs = get_emb_sz(lab.data)
    np.testing.assert_array_equal(lab.sizes.mark.x, [n for n, _ in szs])
    np.testing.assert_array_equal(lab.sizes.mark.y, [w for _, w in szs])
    lab.column_pick.value = "State"
    lab.category_pick.value = "HH"
    row = lab.model.embeds[lab.data.cat_names.index("State")].weight[
        lab.data.classes["State"].index("HH")
    ]
    assert (
        f"{float(row[0].detach()):+.4f}" in lab.lookup_html.value
        and "equal: True" in lab.lookup_html.value
    )


def test_compare_fastai_joins_the_runs_table(lab):
    n = len(lab.runs)
    rec = lab.compare_fastai(epochs=1, bs=512)
    assert len(lab.runs) == n + 1 and lab.runs[-1] is rec and rec["engine"] == "fastai"
    assert math.isfinite(rec["history"][-1]["valid_mse"]) and lab.fastai_learner is not None
    assert "fastai" in lab.panel.runs_html.value


def test_diverging_lr_shows_banner_warns_and_keeps_the_model(lab):
    good = {k: v.clone() for k, v in lab.model.state_dict().items()}
    with pytest.warns(RuntimeWarning, match="too high"):
        rec = lab.fit(epochs=1, lr=100)  # the RunBook's one policy: warn and return the run
    assert rec is lab.runs[-1] and rec["status"] == "diverged" and "too high" in lab.error
    for k, v in lab.model.state_dict().items():
        torch.testing.assert_close(v, good[k])
    assert lab.best_run is not None and lab.best_run["status"] != "diverged"
    with pytest.raises(ValueError, match="lr"):
        lab.fit(lr=-1)
    assert "lr" in lab.error
    # limits a learner can reach are sensible (issue 24): no lr of 100000, no batch past the data
    with pytest.raises(ValueError, match="lr"):
        lab.fit(lr=1e5)
    rows = len(lab.data.train_idx)
    with pytest.raises(ValueError, match=f"more than the {rows:,} training rows"):
        lab.fit(bs=100_000)
    assert "training rows" in lab.error and lab.runs[-1]["status"] == "diverged"
    lab.fit(epochs=1)  # still usable
    assert not lab.error and lab.runs[-1]["status"] == "done"


def test_bad_selection_and_keywords(lab):
    with pytest.raises(KeyError, match="XX"):
        lab.selected = ["XX"]
    assert "XX" in lab.error
    with pytest.raises(TypeError, match="colour"):
        EntityLab(n_stores=10, colour="red")


def test_bad_data_raises_with_a_banner_and_keeps_the_lab(lab, tmp_path):
    frame = pd.DataFrame(
        {"Shop": ["a", "b", "c"] * 20, "Promo": np.arange(60.0), "Sales": np.arange(60.0)}
    )
    source = lab.source
    cases = [
        (dict(data="rossmann", path=tmp_path / "nowhere"), "not found"),
        (dict(data=frame, cat_names=["Shop", "Nope"], y_name="Sales"), "Nope"),
        (
            dict(
                data=frame.assign(Promo=["x"] * 60),
                cat_names=["Shop"],
                cont_names=["Promo"],
                y_name="Sales",
            ),
            "Promo",
        ),
        (dict(data=frame, cat_names=[], y_name="Sales"), "categorical"),
        (dict(data=42), "DataFrame"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            lab.load(**kw)
        assert msg in lab.error
        assert lab.source == source and lab.state_map.all_keys  # nothing lost
        with pytest.raises(ValueError, match=msg):
            EntityLab(**kw)
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURE, bad)
    (bad / "store.csv").write_text("not,a\nstore file\n")
    with pytest.raises(ValueError, match="store.csv"):
        lab.load("rossmann", path=bad)
    lab.selected = ["HH"]  # still working
    assert lab.state_emb.selected == ["HH"]


def test_other_data_loads_and_trains(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Shop": rng.choice(list("abcd"), 2000), "Promo": rng.normal(size=2000)})
    frame["Sales"] = frame["Promo"] + frame["Shop"].map(dict(a=0, b=1, c=2, d=3))
    lab = EntityLab(frame, cat_names=["Shop"], cont_names=["Promo"], y_name="Sales")
    assert lab.source == "your DataFrame" and lab.state_map.all_keys == []
    assert "3+ known states: no map" in lab.map_html.value
    with pytest.raises(ValueError, match="State"):
        lab.map_score()
    lab.fit(epochs=2, bs=64)
    assert len(lab.history) == 2
    lab.load("rossmann", path=FIXTURE)
    # the runs table keeps the earlier run, labelled with its data
    assert "Rossmann" in lab.source and [r["data"] for r in lab.runs] == ["dataframe"]


# --- issue 20 item 1: a lab that tells the truth about its data -----------------------------------
def test_default_data_plants_no_geography_and_says_what_it_can_show(lab):
    assert lab.data_kind == "synthetic" and "no geography planted" in lab.source
    assert PLANTED_LABEL not in lab.source
    page = lab.states_panel.data_html.value
    assert "real public holidays" in page and "cannot" in page
    assert "Guo &amp; Berkhahn (2016)" in page and "no test against chance" in page


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_an_untrained_model_reads_no_better_than_chance(lab, seed):
    model = tabular_model(lab.data, seed=seed)
    s = P.map_score(model, lab.positions, n_perm=2000, seed=0)
    assert not s["significant"] and s["verdict"] == "no better than chance"
    assert s["p_value"] >= 0.05 and s["p_value"] == pytest.approx(1 - s["better_than"], abs=1e-3)


def test_untrained_lab_page_reads_no_better_than_chance():
    fresh = EntityLab(n_stores=24, seed=7)
    s = fresh.map_score()
    assert set(s) >= {"disparity", "better_than", "p_value", "significant"}
    assert not s["significant"]
    assert "no better than chance" in fresh.map_html.value
    assert "threshold is better than 95%" in fresh.map_html.value


@pytest.fixture(scope="module")
def planted():
    lab = EntityLab("synthetic-planted", n_stores=36)
    lab.fit(epochs=3)
    return lab


def test_planted_geography_is_labelled_and_found(planted):
    assert planted.data_kind == "synthetic-planted" and PLANTED_LABEL in planted.source
    assert "geography planted" in planted.states_panel.data_html.value
    # the test has power: a map placed by position is found
    s = planted.map_score()
    assert s["significant"] and s["verdict"] == "better than 95% of random assignments"
    assert planted.runs[-1]["map_p"] == pytest.approx(s["p_value"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_states_control_reads_no_better_than_chance(planted, seed):
    n = len(planted.runs)
    planted.shuffle_states(epochs=3, seed=seed)
    rec = planted.runs[-1]
    assert len(planted.runs) == n + 1 and rec["data"] == "synthetic-planted · states shuffled"
    c = planted.map_score(control=True)
    assert not c["significant"] and rec["map_p"] == pytest.approx(c["p_value"])
    # shown beside the real one; lab.model is still the real run's
    assert "Shuffled-states control" in planted.map_html.value
    assert planted.map_score()["significant"]
    assert planted.control_data.classes["State"] == planted.data.classes["State"]


def test_page_switches_data_and_trains_both_into_one_runs_table():
    lab = EntityLab(n_stores=24)
    lab.fit(epochs=1)
    lab.data_panel.data_pick.value = "synthetic-planted"  # the page's data dropdown
    assert lab.data_kind == "synthetic-planted" and PLANTED_LABEL in lab.source
    lab.fit(epochs=1)
    assert [r["data"] for r in lab.runs] == ["synthetic", "synthetic-planted"]
    assert "synthetic-planted" in lab.panel.runs_html.value
    lab.data_panel.shuffle_button.click()  # the page's control runs in the background
    assert lab.wait(120)
    assert lab.runs[-1]["data"] == "synthetic-planted · states shuffled" and not lab.error
    lab.load("synthetic")
    assert lab.data_panel.data_pick.value == "synthetic" and lab.control_model is None


def test_real_rossmann_files_get_the_same_views_and_score():
    lab = EntityLab("rossmann", path=FIXTURE)
    assert (
        lab.data_kind == "rossmann" and "Rossmann's real sales" in lab.states_panel.data_html.value
    )
    assert sorted(lab.state_map.all_keys) == sorted(lab.positions.index) and len(lab.positions) >= 3
    lab.fit(epochs=1, bs=64)
    s = lab.map_score(n_perm=200)
    assert {"disparity", "better_than", "p_value", "significant"} <= set(s)
    assert s["verdict"] in lab.map_html.value and len(lab.rings["weekday"].all_keys) >= 1
    lab.shuffle_states(epochs=1, bs=64)
    assert "Shuffled-states control" in lab.map_html.value
    table = lab.other_models(max_train=200, max_valid=50)
    assert len(table) == 7 and table["valid_error"].notna().all()
    assert set(table["input"]) == {"codes", "one-hot", "embeddings"}
    assert "Rossmann" in table["data"].iloc[0]


# --- issue 20 item 5: Sunday's place on the weekday ring ---------------------------------------------
def test_weekday_ring_says_how_many_rows_sunday_had_and_why_it_sits_near_the_centre(lab):
    counts = lab.data.counts("DayOfWeek")
    sun = int(counts[lab.data.classes["DayOfWeek"].index(7)])
    text = lab.ring_html["weekday"].value
    assert f"Sun: {sun:,} training rows" in text and "toward the centre" in text
    assert "Mon:" not in text  # only the sparse day is named
    assert "Sun" in lab.rings["weekday"].all_keys


# --- issue 23 item 2: embeddings inside other models ---------------------------------------------------
def test_other_models_table_on_the_default_data(default_lab):
    table = default_lab.other_models()
    assert list(table.columns[:3]) == ["model", "input", "valid_error"]
    assert set(table["model"]) >= {
        "KNeighborsRegressor",
        "RandomForestRegressor",
        "HistGradientBoostingRegressor",
    }
    by = table.set_index(["model", "input"])
    assert by.loc[("KNeighborsRegressor", "one-hot"), "paper_mape"] == 0.290
    assert by.loc[("KNeighborsRegressor", "embeddings"), "paper_mape"] == 0.116
    assert by.loc[("RandomForestRegressor", "codes"), "paper_mape"] == 0.158
    assert table["data"].str.contains("no geography planted").all()
    # as in the paper: the embeddings improve KNN's valid error by a clear margin
    knn_plain = by.loc[("KNeighborsRegressor", "one-hot"), "valid_error"]
    knn_emb = by.loc[("KNeighborsRegressor", "embeddings"), "valid_error"]
    assert knn_emb < 0.9 * knn_plain, (knn_emb, knn_plain)
    # MAPE of sales, checked by hand for the network's own row
    data = default_lab.data  # the same seeded samples: 1,000 training rows, then 2,000 valid
    rng = np.random.default_rng(default_lab.seed)
    rng.choice(data.train_idx.numpy(), 1000, replace=False)
    va = torch.as_tensor(np.sort(rng.choice(data.valid_idx.numpy(), 2000, replace=False)))
    pred = predict(default_lab.model, default_lab.data, va)
    y = default_lab.data.y[va].double().numpy()
    mape = np.mean(np.abs(np.exp(y) - np.exp(pred)) / np.exp(y))
    assert by.loc[("neural network", "embeddings"), "valid_error"] == pytest.approx(mape, rel=1e-5)
    # the page's button shows the same table
    default_lab.use_panel.other_button.click()
    assert len(default_lab.use_panel.other_table.frame) == len(table)
    assert "Guo &amp; Berkhahn 2016" in default_lab.use_panel.other_html.value or (
        "Guo & Berkhahn 2016" in default_lab.use_panel.other_html.value
    )


@pytest.fixture(scope="module")
def default_lab():
    lab = EntityLab()
    lab.fit(epochs=5)
    return lab


# --- issue 23 item 4: the Embedding Projector ----------------------------------------------------------
def test_export_projector_reads_back(lab, tmp_path):
    vec_path, meta_path = lab.export_projector(tmp_path, "states")
    assert vec_path.name == "states_vectors.tsv" and meta_path.name == "states_metadata.tsv"
    vectors = np.loadtxt(vec_path, delimiter="\t")
    emb = lab.embedding("State")
    np.testing.assert_allclose(vectors, emb.to_numpy(), rtol=1e-5, atol=1e-6)
    meta = pd.read_csv(meta_path, sep="\t", dtype=str)
    assert list(meta.columns) == ["State", "code", "train_rows"]
    assert list(meta["State"]) == list(emb.index)
    counts = lab.data.counts("State")[1:]
    assert list(meta["train_rows"].astype(int)) == list(counts)
    _, days = lab.export_projector(tmp_path, "days", column="DayOfWeek")
    assert list(pd.read_csv(days, sep="\t")["DayOfWeek"])[:2] == ["Mon", "Tue"]
    # the page offers both files of the chosen column
    lab.view_pick.value = "Other models"
    lab.use_panel.projector_pick.value = "Month"
    links = lab.use_panel.files.children[0].value
    assert 'download="Month_vectors.tsv"' in links and 'download="Month_metadata.tsv"' in links
    lab.view_pick.value = "States"


# --- issue 24 item 3: names stay whole, labels do not pile up -----------------------------------------
def test_points_keep_room_for_their_names_and_sizes_are_listed(lab):
    for view in (lab.state_map, lab.state_emb, lab.rings["weekday"], lab.rings["month"]):
        x, y = np.asarray(view.mark.x), np.asarray(view.mark.y)
        span = np.ptp(x)
        # the rightmost point (BE, SN; Tue, May) has a fifth of the width beside it for its name
        assert view.x_scale.max >= x.max() + 0.2 * span and view.x_scale.min < x.min()
        assert view.y_scale.min < y.min() and view.y_scale.max > y.max()
    assert lab.state_emb.y_axis.label_offset == "7ex"
    # embedding sizes: names in a table, not piled on the plot
    assert not lab.sizes.mark.display_names
    table = lab.sizes_panel.sizes_table.frame
    assert list(table["column"]) == lab.data.cat_names
    assert list(table["width"]) == [w for _, w in get_emb_sz(lab.data)]


def test_every_panel_is_a_whole_widget(lab):
    """A panel attribute that shadows a Widget name (``keys`` did) empties its state and the page
    fails to render; each panel must send its full model."""
    for panel in (lab.states_panel, lab.calendars, lab.sizes_panel, lab.data_panel, lab.use_panel):
        state = panel.get_state()
        assert state["_model_module"] == "@jupyter-widgets/controls" and state["children"]


def test_state_and_calendar_views_tick_at_round_steps(lab):
    """Left to the page, bqplot spaced the map's ticks by pixels (433.25, 216.62): every view
    that EntityLab scales now ticks at each multiple of a 1, 2 or 5 × 10^k step of its domain."""
    views = [lab.states_panel.state_map, lab.states_panel.state_emb, *lab.calendars.rings.values()]
    for view in views:
        for axis, scale in ((view.x_axis, view.x_scale), (view.y_axis, view.y_scale)):
            ticks = np.asarray(axis.tick_values, dtype=float)
            assert len(ticks) >= 2, view.figure.title
            step = ticks[1] - ticks[0]
            mantissa = step / 10 ** np.floor(np.log10(step))
            assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
            np.testing.assert_allclose(np.diff(ticks), step)
            assert ticks[0] == scale.min and ticks[-1] == pytest.approx(scale.max)
