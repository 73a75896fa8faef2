"""The generic fit loop of ``models.train`` on a model that is not an embedding model: a small
classifier with cross-entropy, an accuracy metric, dense AdamW, batches, devices, typed events."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.models.collab import DotProductBias
from lab8widgets.models.train import (
    FitSettings,
    RowAdamW,
    Run,
    TrainEvent,
    evaluate,
    fit,
    one_cycle,
)


def blobs(n: int = 1200, seed: int = 0):
    """Three Gaussian clusters in 4-D: a classifier learns them to >95% accuracy."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + torch.randn(n, 4, generator=g)
    return x, y


def accuracy(pred, y):
    return {"accuracy": (pred.argmax(1) == y).float().mean()}


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def test_dense_fit_trains_a_classifier_and_streams_typed_events():
    x, y = blobs()
    model = mlp()
    events: list[TrainEvent] = []
    run = fit(
        model,
        F.cross_entropy,
        (x[:1000], y[:1000]),
        (x[1000:], y[1000:]),
        FitSettings(epochs=3, lr=1e-2, wd=0.01, bs=32),
        metrics=accuracy,
        optimizer="dense",
        callback=events.append,
    )
    assert isinstance(run, Run) and run.status == "done" and run.steps == 3 * (1000 // 32)
    assert [h["epoch"] for h in run.history] == [1, 2, 3]
    assert run.metric("accuracy") > 0.95 and run.valid_loss < 0.3
    loss, mets = evaluate(model, F.cross_entropy, (x[1000:], y[1000:]), accuracy)
    assert math.isclose(loss, run.valid_loss, rel_tol=1e-5)
    assert mets["accuracy"] == run.metric("accuracy")
    assert all(isinstance(e, TrainEvent) for e in events)
    assert [e.kind for e in events if e.kind != "step"] == ["epoch"] * 3 + ["done"]
    ep = [e for e in events if e.kind == "epoch"]
    assert ep[-1].metrics["accuracy"] == run.metric("accuracy") and ep[-1].fraction == 1.0
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) >= 20 and all(0 < e.epoch < 3 for e in steps)
    assert ep[0]["valid_loss"] == ep[0].valid_loss  # dict-style reading still works


def test_batches_from_an_iterable_and_stop():
    x, y = blobs()
    batches = [(x[i : i + 50], y[i : i + 50]) for i in range(0, 1000, 50)]
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 30  # during the second epoch (20 batches an epoch)

    model = mlp()
    run = fit(
        model,
        F.cross_entropy,
        batches,
        (x[1000:], y[1000:]),
        FitSettings(epochs=5, lr=1e-2, bs=64),
        metrics=accuracy,
        should_stop=stop,
    )
    assert run.status == "stopped" and run.steps == 30
    assert run.history[-1]["partial"] is True and 1 < run.history[-1]["epoch"] < 2
    loss, _ = evaluate(model, F.cross_entropy, (x[1000:], y[1000:]))
    assert math.isclose(loss, run.history[-1]["valid_loss"], rel_tol=1e-6)


def test_dense_path_is_torch_adamw_with_fastais_no_wd_on_biases():
    """fastai's AdamW (wd_bn_bias=False): torch's AdamW with weight decay off for Linear biases."""
    x, y = blobs(640)
    settings = FitSettings(epochs=2, lr=1e-2, wd=0.5, bs=64)
    ours = mlp()
    fit(ours, F.cross_entropy, (x, y), (x[:64], y[:64]), settings, optimizer="dense", seed=3)

    ref = mlp()
    decay = [p for n, p in ref.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in ref.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW(
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-2,
        betas=(0.95, 0.99),
        eps=1e-5,
        weight_decay=0.5,
    )
    lrs, moms = one_cycle(20, 1e-2)
    gen = torch.Generator().manual_seed(3)
    t = 0
    for _ in range(2):
        perm = torch.randperm(640, generator=gen)
        for b in range(10):
            idx = perm[b * 64 : (b + 1) * 64]
            for pg in opt.param_groups:
                pg["lr"], pg["betas"] = lrs[t], (moms[t], 0.99)
            opt.zero_grad()
            F.cross_entropy(ref(x[idx]), y[idx]).backward()
            opt.step()
            t += 1
    for (n, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)


def test_fused_dense_step_equals_the_per_parameter_step(monkeypatch):
    """torch's fused AdamW kernel, called for the dense parameters, gives the per-parameter path's
    weights (same one-cycle lr and β1 per step, decay off for biases), to float rounding."""
    from lab8widgets.models.train import optim

    x, y = blobs(640)
    settings = FitSettings(epochs=2, lr=1e-2, wd=0.5, bs=64)
    runs = {}
    for fused in (True, False):
        monkeypatch.setattr(optim, "FUSED", fused)
        model = mlp()
        made = []
        init = RowAdamW.__init__

        def spy(self, *a, _init=init, _made=made, **k):
            _init(self, *a, **k)
            _made.append(self.fused)

        monkeypatch.setattr(RowAdamW, "__init__", spy)
        fit(model, F.cross_entropy, (x, y), (x[:64], y[:64]), settings, optimizer="dense", seed=3)
        monkeypatch.setattr(RowAdamW, "__init__", init)
        assert made == [fused]
        runs[fused] = model
    for (n, p), q in zip(runs[True].named_parameters(), runs[False].parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=n)


def test_channels_last_weights_take_the_per_parameter_path():
    """A channels_last conv weight is not plainly contiguous: the fused kernel (raw memory) would
    pair its elements with the wrong gradients, so such a model takes the per-parameter path."""
    from lab8widgets.models.train import optim

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    model[0].weight.data = model[0].weight.data.contiguous(memory_format=torch.channels_last)
    lrs, moms = one_cycle(4, 1e-2)
    assert not RowAdamW(model, lrs, moms, 0.1, dense=True).fused
    assert RowAdamW(mlp(), lrs, moms, 0.1, dense=True).fused == optim.FUSED


def test_optimizer_state_lives_on_the_models_device():
    """A moved model (here the meta device, as a GPU stand-in) gets its state on that device."""
    model = DotProductBias(10, 12, 4).to("meta")
    lrs, moms = one_cycle(10, 1e-2)
    opt = RowAdamW(model, lrs, moms, wd=0.1)
    assert opt.rows and all(t.device.type == "meta" for t in opt.row_state.values())
    assert all(t.device.type == "meta" for t in opt.last.values())
    assert opt.tab.device.type == "meta"
    dense = RowAdamW(mlp().to("meta"), lrs, moms, wd=0.1)
    assert all(m.device.type == "meta" and v.device.type == "meta" for m, v in dense.state.values())


def test_fit_moves_cpu_data_to_the_models_device(monkeypatch):
    """Data given on the CPU is moved to where the model lives (checked with a recording .to)."""
    seen = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        seen.append(args[0] if args else kwargs.get("device"))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    x, y = blobs(200)
    fit(mlp(), F.cross_entropy, (x, y), (x, y), FitSettings(epochs=1, bs=64))
    assert torch.device("cpu") in seen


def test_unknown_optimizer_and_bad_settings_are_named():
    x, y = blobs(100)
    with pytest.raises(ValueError, match="optimizer must be one of auto, row, dense"):
        fit(mlp(), F.cross_entropy, (x, y), (x, y), optimizer="sgd")
    with pytest.raises(ValueError, match=r"lr must be a number in \(0, 10\], got 100"):
        FitSettings(lr=100)
    assert FitSettings(lr=0.0031).lr == 0.0031  # a valid value is kept exactly


def test_growth_guard_restores_the_last_good_epoch():
    """A loss that blows up after a good epoch brings back that epoch's weights."""
    x, y = blobs()
    model = mlp()
    kept = {}

    def spoil(ev):
        if ev.kind == "epoch" and ev.epoch == 1:
            kept.update({n: p.detach().clone() for n, p in model.named_parameters()})
            with torch.no_grad():
                model[2].weight.mul_(1e3)  # confident and wrong: a huge but finite loss

    run = fit(
        model,
        F.cross_entropy,
        (x[:1000], y[:1000]),
        (x[1000:], y[1000:]),
        FitSettings(epochs=3, lr=1e-4, wd=0.0, bs=32),
        callback=spoil,
    )
    assert run.status == "diverged" and len(run.history) == 1
    assert "its start" in run.message and "end of epoch 1" in run.message
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), kept[n])
    assert np.isfinite(run.history[0]["valid_loss"])
