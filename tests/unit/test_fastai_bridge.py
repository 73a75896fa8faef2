"""The fastai bridge of ``models.train``: fastai's own fit_one_cycle streamed as our TrainEvents,
checked against what fastai itself recorded, on a small real fastai Learner."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from lab8widgets.models.train import Run, TrainEvent, fit_one_cycle_fastai

warnings.filterwarnings("ignore")


def make_learner_factory(n: int = 640, bs: int = 64, batch_losses: list | None = None):
    """A linear regression as a plain fastai Learner (rmse as a named metric, which fastai calls "_rmse"); ``batch_losses``
    collects every training batch's loss as fastai computed it."""
    from fastai.callback.core import Callback
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.metrics import rmse
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    train, valid = TensorDataset(x[: n - 128], y[: n - 128]), TensorDataset(x[-128:], y[-128:])

    class Spy(Callback):
        def after_batch(self):
            if self.training and batch_losses is not None:
                batch_losses.append(float(self.loss.detach()))

    def make():
        dls = DataLoaders(
            DataLoader(train, bs=bs, shuffle=True, drop_last=True),
            DataLoader(valid, bs=128),
            device=torch.device("cpu"),
        )
        return Learner(dls, nn.Linear(3, 1), loss_func=nn.MSELoss(), metrics=rmse, cbs=[Spy()])

    return make


def test_streams_fastai_training_as_train_events():
    losses, events = [], []
    make = make_learner_factory(batch_losses=losses)
    py, npy = random.getstate(), np.random.get_state()
    res = fit_one_cycle_fastai(
        make, 3, 1e-1, 0.01, seed=1, callback=events.append,
        reports_per_epoch=4, valid_as="valid_mse",
    )  # fmt: skip
    # the callers' generators are left as they were
    assert random.getstate() == py and all(
        np.array_equal(a, b) for a, b in zip(np.random.get_state(), npy, strict=True)
    )
    learn = res.learner
    per_epoch = len(learn.dls.train)
    assert isinstance(res, Run) and res.status == "done" and res.steps == 3 * per_epoch == 24
    assert all(isinstance(e, TrainEvent) for e in events)
    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 3 and kinds[-1] == "done" and events[-1].fraction == 1.0
    assert kinds.count("step") == 3 * 3  # every 2 of 8 batches, not at an epoch's last batch
    steps = [e.step for e in events if e.kind != "done"]
    assert steps == sorted(steps) and all(e.total == 24 for e in events)
    # the history is fastai's own numbers: its valid loss and named metric, our mean train loss
    for e, (entry, rec) in enumerate(zip(res.history, learn.recorder.values, strict=True)):
        assert entry["epoch"] == e + 1
        assert entry["valid_loss"] == pytest.approx(float(rec[1]))
        assert entry["valid_mse"] == entry["valid_loss"]
        assert entry["_rmse"] == pytest.approx(float(rec[2]))
        mean = np.mean(losses[e * per_epoch : (e + 1) * per_epoch])
        assert entry["train_loss"] == pytest.approx(mean, rel=1e-6)
    assert res.history[-1]["valid_loss"] == pytest.approx(float(learn.validate()[0]), rel=1e-5)
    first, last = res.history[0]["valid_loss"], res.history[-1]["valid_loss"]
    assert last < first and last < 1.0  # it really learns y = x·w (the variance of y is ~5)
    assert not any(type(cb).__name__ == "Stream" for cb in learn.cbs)  # handed back clean
    assert "3 epoch(s), 24 steps of 64 rows" in res.message and res.seconds > 0


def test_same_seed_same_run_other_seed_other_run():
    a = fit_one_cycle_fastai(make_learner_factory(), 2, 1e-1, 0.01, seed=3)
    b = fit_one_cycle_fastai(make_learner_factory(), 2, 1e-1, 0.01, seed=3)
    c = fit_one_cycle_fastai(make_learner_factory(), 2, 1e-1, 0.01, seed=4)
    assert [h["valid_loss"] for h in a.history] == [h["valid_loss"] for h in b.history]
    assert a.history[-1]["valid_loss"] != c.history[-1]["valid_loss"]


def test_stop_cancels_and_records_a_partial_epoch():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] >= 11

    events = []
    res = fit_one_cycle_fastai(make_learner_factory(), 3, 1e-1, 0.01, should_stop=stop,
                               callback=events.append)  # fmt: skip
    assert res.status == "stopped" and res.steps == 11
    last = res.history[-1]
    assert last["partial"] is True and 1 < last["epoch"] < 2 and math.isfinite(last["_rmse"])
    assert last["valid_loss"] == pytest.approx(float(res.learner.validate()[0]), rel=1e-5)
    assert events[-1].kind == "stopped" and "11 of 24 steps" in events[-1].message
