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

from lab8widgets.models.tabular import get_emb_sz
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
        assert lab.fit(epochs=2, seed=3, wait=False) == []
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
    hist = lab.compare_fastai(epochs=1, bs=512)
    assert len(lab.runs) == n + 1 and lab.runs[-1]["engine"] == "fastai"
    assert math.isfinite(hist[-1]["valid_mse"]) and lab.fastai_learner is not None
    assert "fastai" in lab.panel.runs_html.value


def test_diverging_lr_shows_banner_raises_and_keeps_the_model(lab):
    good = {k: v.clone() for k, v in lab.model.state_dict().items()}
    with pytest.raises(ValueError, match="too high"):
        lab.fit(epochs=1, lr=1e4)
    assert "too high" in lab.error and lab.runs[-1]["status"] == "diverged"
    for k, v in lab.model.state_dict().items():
        torch.testing.assert_close(v, good[k])
    with pytest.raises(ValueError, match="lr"):
        lab.fit(lr=-1)
    assert "lr" in lab.error
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
        ),  # fmt: skip
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
    assert "Rossmann" in lab.source and lab.runs == []
