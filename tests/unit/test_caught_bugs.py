"""Tests that catch bugs which once slipped through the suite (issue 24 item 7); each was planted
by hand and seen to fail here. The fifth, a diverged run with a lower loss marked best, is
``test_runbook.py::test_a_diverged_run_with_a_lower_loss_is_never_best``; fastai's own
``exp_rmspe`` is also checked in ``test_tabular_model``'s step-for-step test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.data import synthetic_store_sales
from lab8widgets.models.layers import SparseDropout
from lab8widgets.models.tabular import (
    NA,
    exp_rmspe,
    fit_tabular,
    partial_dependence,
    tabular_data,
    tabular_model,
)
from lab8widgets.models.train import FitSettings, fit


@pytest.mark.parametrize("shape", [(64, 32), (10, 10)])
def test_sparse_dropout_keeps_dropping_past_its_pool(shape):
    """The pool holds POOL batches of positions (at least 65,536 elements): every batch past it
    (batch POOL + 1 = 65 for a 2,048-element batch; a 100-element
    batch that straddles the pool's end at batch 656) still drops
    about p of its elements, as ``nn.Dropout`` would. Summed over a few seeds per batch number,
    so one short batch at a refill stands out."""
    p, seeds = 0.1, 16
    x = torch.ones(shape)
    n = x.numel()
    span = max(SparseDropout.POOL * n, 1 << 16)
    batches = 3 * span // n + 2  # through two refills and past each boundary
    counts = np.zeros(batches)
    for seed in range(seeds):
        torch.manual_seed(seed)
        d = SparseDropout(p)
        counts += [int((d(x) == 0).sum()) for _ in range(batches)]
    m = n * seeds
    low = m * p - 5 * np.sqrt(m * p * (1 - p))
    bad = np.flatnonzero(counts < low) + 1
    assert not len(bad), f"batches {bad[:5].tolist()} drew {counts[bad[:5] - 1].tolist()} drops"
    # and the whole stream drops p of its elements
    total = m * batches
    assert abs(counts.sum() - total * p) < 5 * np.sqrt(total * p * (1 - p))


def test_exp_rmspe_divides_by_the_target():
    """Sales 100 and 200 predicted as 110 and 180: errors of 10% each, so exactly 0.1 (dividing
    by the prediction would give 0.1015)."""
    y = torch.log(torch.tensor([100.0, 200.0], dtype=torch.float64))
    pred = torch.log(torch.tensor([110.0, 180.0], dtype=torch.float64))
    assert exp_rmspe(pred, y) == pytest.approx(0.1, abs=1e-9)
    assert exp_rmspe(y, y) == 0.0


@pytest.fixture(scope="module")
def small():
    sales = synthetic_store_sales(n_stores=12, start="2014-01-01", end="2014-06-30", seed=3)
    return tabular_data(sales.frame, sales.cat_names, sales.cont_names, sales.y_name)


def test_fit_tabular_reports_the_exp_rmspe_of_its_predictions(small):
    data = small
    model = tabular_model(data, seed=0)
    res = fit_tabular(model, data, epochs=1, lr=1e-2, bs=512)
    model.eval()
    with torch.no_grad():
        pred = model(data.x_cat[data.valid_idx], data.x_cont[data.valid_idx]).reshape(-1)
    y = data.y[data.valid_idx].double()
    ey, ep = torch.exp(y), torch.exp(pred.double())
    by_hand = float(torch.sqrt((((ey - ep) / ey) ** 2).mean()))
    assert res.history[-1]["exp_rmspe"] == pytest.approx(by_hand, rel=1e-5)


def test_partial_dependence_has_one_row_per_real_class(small):
    """Every class of the column, in order, and no ``#na#`` (unseen values are no weekday)."""
    data = small
    model = tabular_model(data, seed=0)
    pdp = partial_dependence(model, data, "DayOfWeek")
    assert list(pdp.index) == list(data.classes["DayOfWeek"])[1:]
    assert NA not in pdp.index and len(pdp) == 7
    assert np.isfinite(pdp.to_numpy()).all()


def test_the_generic_loop_evaluates_in_eval_mode():
    """With dropout in the model, each epoch's valid loss and metrics are those of the model in
    eval mode (dropout off), computed here by hand; the model is back in train mode after."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g)
    y = x.sum(1, keepdim=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 1))
    seen = []

    def metrics(pred, yb):
        seen.append(pred.clone())
        return {"mae": (pred - yb).abs().mean()}

    run = fit(model, F.mse_loss, (x[:300], y[:300]), (x[300:], y[300:]),
              FitSettings(epochs=2, lr=1e-2, wd=0.0, bs=32), metrics=metrics, optimizer="dense")  # fmt: skip
    assert run.status == "done" and model.training
    model.eval()
    with torch.no_grad():
        pred = model(x[300:])
    assert run.history[-1]["valid_loss"] == pytest.approx(
        float(F.mse_loss(pred, y[300:])), rel=1e-6
    )
    assert run.history[-1]["mae"] == pytest.approx(float((pred - y[300:]).abs().mean()), rel=1e-6)
    torch.testing.assert_close(seen[-1], pred)
