"""The tabular model and its data prep against fastai's own TabularPandas, get_emb_sz and model."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from lab8widgets.data import rossmann, synthetic_store_sales
from lab8widgets.models.collab import emb_sz_rule, one_cycle
from lab8widgets.models.tabular import (
    NA,
    TabularModel,
    compare_fastai,
    fastai_tabular,
    fit_tabular,
    get_emb_sz,
    predict,
    tabular_data,
    tabular_model,
)
from lab8widgets.models.train import RowAdamW, TrainEvent, optim

from .test_rossmann import FIXTURE

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def ross():
    sales = rossmann(FIXTURE)
    return sales, tabular_data(sales.frame, sales.cat_names, sales.cont_names, sales.y_name)


@pytest.fixture(scope="module")
def small():
    sales = synthetic_store_sales(n_stores=24, start="2014-01-01", end="2014-12-31", seed=3)
    return sales, tabular_data(sales.frame, sales.cat_names, sales.cont_names, sales.y_name)


# --- data prep = fastai's procs -----------------------------------------------------------------


def test_codes_and_scaling_equal_fastai_tabular_pandas(ross):
    sales, data = ross
    to = fastai_tabular(data)
    # FillMissing added the flag for the store with no competition distance, as fastai does
    assert data.cat_names == list(to.cat_names)
    assert "CompetitionDistance_na" in data.cat_names
    for name in data.cat_names:
        assert list(map(str, data.classes[name])) == list(map(str, to.classes[name])), name
        assert data.classes[name][0] == NA
    assert np.array_equal(data.x_cat.numpy(), to.cats.to_numpy())
    assert np.allclose(data.x_cont.numpy(), to.conts.to_numpy(), atol=1e-5)
    assert sorted(to.train.items.index) == data.train_idx.tolist()


def test_split_is_the_last_days_by_date(ross):
    sales, data = ross
    dates = sales.frame["Date"]
    valid_dates = dates.iloc[data.valid_idx.numpy()]
    assert valid_dates.min() > dates.iloc[data.train_idx.numpy()].max()
    assert valid_dates.dt.normalize().nunique() == 48
    d2 = tabular_data(sales.frame, ["Store"], [], "LogSales", valid_days=7)
    assert sales.frame["Date"].iloc[d2.valid_idx.numpy()].dt.normalize().nunique() == 7


def test_unseen_category_in_valid_is_na(small):
    sales, _ = small
    frame = sales.frame.copy()
    last = frame["Date"] >= frame["Date"].max() - pd.Timedelta(days=3)
    frame.loc[last, "StoreType"] = "z"  # only in validation rows
    data = tabular_data(frame, ["StoreType"], [], "LogSales")
    assert "z" not in data.classes["StoreType"]
    j = data.cat_names.index("StoreType")
    assert (data.x_cat[torch.as_tensor(np.flatnonzero(last.to_numpy())), j] == 0).all()


def test_emb_sizes_equal_fastai_get_emb_sz(ross, small):
    from fastai.tabular.model import get_emb_sz as fa_get_emb_sz

    for _, data in (ross, small):
        ours = get_emb_sz(data)
        assert ours == fa_get_emb_sz(fastai_tabular(data))
        assert ours == [
            (len(data.classes[n]), emb_sz_rule(len(data.classes[n]))) for n in data.cat_names
        ]
    assert get_emb_sz(small[1], {"State": 2})[small[1].cat_names.index("State")][1] == 2


# --- the model = fastai's TabularModel ------------------------------------------------------------


def test_model_matches_fastai_tabular_model(small):
    from fastai.tabular.model import TabularModel as FaTabularModel

    _, data = small
    ours = tabular_model(data, layers=(50, 20), ps=(0.1, 0.2), embed_p=0.04, y_range=(0, 12))
    fa = FaTabularModel(
        get_emb_sz(data),
        len(data.cont_names),
        1,
        [50, 20],
        ps=[0.1, 0.2],
        embed_p=0.04,
        y_range=(0, 12),
    )
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in fa.state_dict().items()
    ]
    ours.load_state_dict(fa.state_dict())
    ours.eval(), fa.eval()
    xc, xn = data.x_cat[:300], data.x_cont[:300]
    with torch.no_grad():
        torch.testing.assert_close(ours(xc, xn), fa(xc, xn))
    # fastai's initial values: embeddings ~ N(0, 0.01), norms weight 1 and bias 1e-3
    fresh = tabular_model(data)
    assert float(fresh.embeds[0].weight.detach().std()) == pytest.approx(0.01, rel=0.3)
    assert torch.all(fresh.layers[0][2].bias == 1e-3)


def test_model_output_stays_in_y_range(small):
    _, data = small
    model = tabular_model(data)
    low, high = data.default_y_range()
    assert low == 0 and high == pytest.approx(1.2 * float(data.y[data.train_idx].max()))
    pred = predict(model, data)
    assert pred.shape == (len(data.y),) and (pred > low).all() and (pred < high).all()


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="one dropout per layer"):
        TabularModel([(3, 2)], 0, layers=[4, 4], ps=[0.1])
    with pytest.raises(ValueError, match="y_range"):
        TabularModel([(3, 2)], 0, layers=[4], y_range=(2, 1))


# --- bad input ----------------------------------------------------------------------------------


def test_absent_column_is_named(small):
    sales, _ = small
    with pytest.raises(ValueError, match=r"\['Weather'\] not in the data; its columns are"):
        tabular_data(sales.frame, ["Store", "Weather"], ["Promo"], "LogSales")
    with pytest.raises(ValueError, match="Profit"):
        tabular_data(sales.frame, ["Store"], ["Promo"], "Profit")


def test_text_in_continuous_column(small):
    sales, _ = small
    frame = sales.frame.copy()
    frame["CompetitionDistance"] = frame["CompetitionDistance"].astype(object)
    frame.loc[5, "CompetitionDistance"] = "far"
    with pytest.raises(
        ValueError, match=r"continuous column 'CompetitionDistance' holds text \('far'\)"
    ):
        tabular_data(frame, ["Store"], ["CompetitionDistance"], "LogSales")
    with pytest.raises(ValueError, match="target 'StoreType' holds text"):
        tabular_data(frame, ["Store"], [], "StoreType")


def test_empty_category(small):
    sales, _ = small
    frame = sales.frame.copy()
    frame["State"] = frame["State"].astype(object)
    frame.loc[[3, 9], "State"] = ""
    frame.loc[11, "State"] = None
    with pytest.raises(
        ValueError, match=r"categorical column 'State' has 3 empty value\(s\) \(rows 3, 9, 11\)"
    ):
        tabular_data(frame, ["State"], [], "LogSales")


def test_other_bad_frames(small):
    sales, _ = small
    f = sales.frame
    with pytest.raises(ValueError, match="pandas DataFrame"):
        tabular_data([1, 2], ["a"], [], "y")
    with pytest.raises(ValueError, match="at least one categorical"):
        tabular_data(f, [], ["Promo"], "LogSales")
    with pytest.raises(ValueError, match="both categorical and continuous"):
        tabular_data(f, ["Promo"], ["Promo"], "LogSales")
    with pytest.raises(ValueError, match="cannot also be an input"):
        tabular_data(f, ["LogSales"], [], "LogSales")
    with pytest.raises(ValueError, match="valid_days"):
        tabular_data(f, ["Store"], [], "LogSales", valid_days=0)
    with pytest.raises(ValueError, match="leaves"):
        tabular_data(f, ["Store"], [], "LogSales", valid_days=10_000)
    nan_y = f.assign(LogSales=f["LogSales"].where(f.index != 4))
    with pytest.raises(ValueError, match="target 'LogSales' has 1 empty"):
        tabular_data(nan_y, ["Store"], [], "LogSales")


def test_any_dataframe_without_dates_splits_at_random():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"colour": rng.choice(["red", "green", "blue"], 500), "x": rng.normal(size=500)}
    )
    frame["y"] = frame["x"] * 2 + frame["colour"].map({"red": 1, "green": 0, "blue": -1})
    data = tabular_data(frame, ["colour"], ["x"], "y", valid_pct=0.2, seed=1)
    assert len(data.valid_idx) == 100 and "random 20%" in data.split
    assert data.classes["colour"] == [NA, "blue", "green", "red"]
    assert data.default_y_range()[0] < float(data.y[data.train_idx].min())  # padded range
    result = fit_tabular(tabular_model(data), data, epochs=3, lr=1e-2, bs=64)
    assert result.status == "done" and result.valid_mse < float(data.y.var())


# --- training -----------------------------------------------------------------------------------


def test_fit_streams_and_follows_fastai_one_cycle(small):
    _, data = small
    model = tabular_model(data)
    events, made, steps = [], [], []
    init, step = RowAdamW.__init__, RowAdamW.step

    def spy_init(self, model, lrs, moms, wd, *a, **k):
        made.append((np.asarray(lrs), np.asarray(moms), wd, k.get("dense")))
        return init(self, model, lrs, moms, wd, *a, **k)

    def spy_step(self, *a, **k):
        steps.append(self.t)
        return step(self, *a, **k)

    RowAdamW.__init__, RowAdamW.step = spy_init, spy_step
    try:
        res = fit_tabular(model, data, epochs=2, lr=5e-3, bs=256, callback=events.append)
    finally:
        RowAdamW.__init__, RowAdamW.step = init, step
    # the shared loop's optimizer, dense (BatchNorm, dropout: no row path), on fastai's one cycle
    want_lr, want_mom = one_cycle(res.steps, 5e-3)
    ((lrs, moms, wd, dense),) = made
    assert dense and wd == 0.2 and len(steps) == res.steps
    assert np.allclose(lrs, want_lr) and np.allclose(moms, want_mom)
    assert all(isinstance(e, TrainEvent) for e in events)
    assert res.steps == 2 * (len(data.train_idx) // 256)
    kinds = [e["kind"] for e in events]
    assert kinds.count("epoch") == 2 and kinds.count("step") >= 10
    assert [h["epoch"] for h in res.history] == [1, 2]
    assert all(math.isfinite(h["valid_mse"]) and h["exp_rmspe"] > 0 for h in res.history)
    assert res.history[-1]["valid_mse"] < res.history[0]["valid_mse"] * 1.5


def test_fit_is_repeatable_under_a_seed_with_dropout_on(small):
    """Dropout masks (drawn ahead in pools), batch order and weights all follow ``seed``: the same
    model refitted from the same weights with the same seed repeats its run to the bit (no pool
    left over from the last run), another seed gives another run; its dropouts are nn.Dropouts."""
    _, data = small
    model = tabular_model(data, ps=(0.05, 0.05), embed_p=0.04)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 3
    start = {k: v.clone() for k, v in model.state_dict().items()}
    losses = []
    for seed in (4, 4, 5):
        model.load_state_dict(start)
        run = fit_tabular(model, data, epochs=2, bs=128, seed=seed)
        losses.append([h["train_loss"] for h in run.history])
    assert losses[0] == losses[1] and losses[0] != losses[2]


def test_should_stop_stops_and_keeps_a_partial_entry(small):
    _, data = small
    model = tabular_model(data)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 12

    res = fit_tabular(model, data, epochs=3, bs=128, should_stop=stop)
    assert res.status == "stopped" and res.steps == 12
    assert res.history[-1]["partial"] and math.isfinite(res.history[-1]["valid_mse"])


def test_non_finite_loss_stops_and_restores_the_start():
    # targets so large their squared error overflows float32: the very first loss is inf
    frame = pd.DataFrame({"c": ["a", "b"] * 50, "y": [1.0, 1e30] * 50})
    data = tabular_data(frame, ["c"], [], "y")
    model = tabular_model(data, y_range=None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = fit_tabular(model, data, epochs=2, bs=16, lr=1e-2)
    assert res.status == "diverged" and "Loss became inf" in res.message
    assert "restored the weights from the start of training" in res.message
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_huge_lr_is_flagged_diverged_and_weights_restored(small):
    _, data = small
    model = tabular_model(data)
    fit_tabular(model, data, epochs=1, bs=256, lr=1e-2)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    events = []
    res = fit_tabular(model, data, epochs=2, bs=256, lr=1e4, callback=events.append)
    assert res.status == "diverged", res.history
    assert events[-1]["kind"] == "diverged" and "lr=10000" in events[-1]["message"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, good[k])


def test_fit_rejects_bad_settings(small):
    _, data = small
    model = tabular_model(data)
    for kw, msg in (
        (dict(lr=-1), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(epochs=0), "epochs"),
        (dict(wd="x"), "wd"),
        (dict(bs=True), "bs"),
    ):
        with pytest.raises(ValueError, match=msg):
            fit_tabular(model, data, **kw)


def test_compare_fastai_trains_tabular_learner_on_the_same_split(small):
    _, data = small
    res = compare_fastai(data, epochs=1, lr=1e-2, bs=256)
    learn = res.learner
    assert res.status == "done" and len(res.history) == 1
    assert sorted(learn.dls.valid.items.index) == data.valid_idx.tolist()
    ours = tabular_model(data)
    assert [v.shape for v in ours.state_dict().values()] == [
        v.shape for v in learn.model.state_dict().values()
    ]
    untrained = float(
        ((predict(ours, data, data.valid_idx) - data.y[data.valid_idx].numpy()) ** 2).mean()
    )
    assert math.isfinite(res.valid_mse) and res.valid_mse < untrained
    # fastai 2.8's default loader draws rows with replacement; dl_type picks its shuffling one
    from fastai.tabular.core import TabDataLoader, TabWeightedDL

    assert type(learn.dls.train) is TabWeightedDL
    shuffled = compare_fastai(data, epochs=1, lr=1e-2, bs=256, dl_type=TabDataLoader)
    assert type(shuffled.learner.dls.train) is TabDataLoader and shuffled.status == "done"


def test_fit_tabular_is_fastai_tabular_learner_step_for_step(small, monkeypatch):
    """The recipe, not just the shapes: from the same weights, with one batch per epoch (bs = the
    training rows, so batch order cannot differ) and no dropout, ``fit_tabular`` and fastai's
    ``tabular_learner(...).fit_one_cycle`` end with the same weights and valid loss. This breaks
    if any piece of the recipe drifts: one-cycle lr/momentum, Adam's betas and eps, true weight
    decay, none on BatchNorm and bias parameters (wd_bn_bias=False), BatchNorm placement."""
    from fastai.tabular.all import MSELossFlat, TabDataLoader, tabular_config, tabular_learner

    from lab8widgets.models.train import fit_one_cycle_fastai

    _, data = small
    n = len(data.train_idx)
    kw = dict(epochs=6, lr=3e-2, wd=0.5, bs=n)
    ours = tabular_model(data, ps=0, embed_p=0)
    start = {k: v.clone() for k, v in ours.state_dict().items()}

    def make_learner():
        # fastai 2.8's default tabular loader (TabWeightedDL) draws rows with replacement; the
        # plain TabDataLoader shuffles, so its one batch is every training row, as ours
        dls = fastai_tabular(data).dataloaders(bs=n, path=".", dl_type=TabDataLoader)
        cfg = tabular_config(ps=0, embed_p=0)
        learn = tabular_learner(dls, layers=[200, 100], config=cfg,
                                y_range=data.default_y_range(), loss_func=MSELossFlat())  # fmt: skip
        learn.model.load_state_dict(start)
        return learn

    theirs = fit_one_cycle_fastai(make_learner, kw["epochs"], kw["lr"], kw["wd"],
                                  valid_as="valid_mse")  # fmt: skip
    mine = fit_tabular(ours, data, **kw)
    assert mine.steps == theirs.steps == 6
    fa = theirs.learner.model.state_dict()

    def apart() -> dict[str, float]:
        """How far ours ended from fastai, as a share of how far fastai's weights moved."""
        return {
            name: float((p.detach() - fa[name]).norm() / (fa[name] - start[name]).norm())
            for name, p in ours.named_parameters()
        }

    assert max(apart().values()) < 0.02, apart()  # measured ≤ 0.008 (float rounding, threads)
    for a, b in zip(mine.history, theirs.history, strict=True):
        assert a["valid_mse"] == pytest.approx(b["valid_mse"], rel=1e-3)
    # the course's metric is fastai's exp_rmspe (divided by the target, not the prediction)
    from fastai.metrics import exp_rmspe as fa_exp_rmspe

    y = data.y[data.valid_idx].double()
    pred = torch.from_numpy(predict(ours, data, data.valid_idx)).double()
    assert mine.history[-1]["exp_rmspe"] == pytest.approx(
        float(fa_exp_rmspe.func(pred, y)), rel=1e-5
    )
    fa_pred, fa_y = theirs.learner.get_preds()
    assert mine.history[-1]["exp_rmspe"] == pytest.approx(
        float(fa_exp_rmspe.func(fa_pred.reshape(-1).double(), fa_y.reshape(-1).double())), rel=1e-2
    )
    # sharp enough to see a recipe slip: decaying BatchNorm weights and biases too (fastai's
    # wd_bn_bias=True) puts the norms' weights as far from fastai's as fastai moved them
    monkeypatch.setattr(optim, "norm_bias_names", lambda model: set())
    ours.load_state_dict(start)
    fit_tabular(ours, data, **kw)
    slipped = apart()
    assert min(slipped[f"layers.{i}.2.weight"] for i in (0, 1)) > 0.3, slipped
