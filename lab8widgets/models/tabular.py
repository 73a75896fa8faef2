"""The lesson's tabular model (entity embeddings), its data preparation and a fast one-cycle loop.

``tabular_data`` (in ``tabular_data.py``) prepares a DataFrame as fastai's ``TabularPandas`` does
and splits it by date as the course does for Rossmann. ``TabularModel`` is fastai's: an
embedding per categorical column, the continuous columns batch-normed, then Linear → ReLU →
BatchNorm → Dropout blocks, laid out so fastai's ``state_dict`` loads into it. ``fit_tabular`` is a
plain-torch ``fit_one_cycle`` (AdamW, fastai's schedule, no weight decay on norms and biases) that
keeps the data in tensors and runs on one thread; ``compare_fastai`` runs fastai's own
``tabular_learner`` on the same rows, split and sizes. No widget code; fastai is imported lazily.
"""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._threads import one_thread
from .collab import one_cycle
from .tabular_data import NA, TabularData, get_emb_sz, tabular_data

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NA",
    "FitResult",
    "TabularData",
    "TabularModel",
    "compare_fastai",
    "fastai_tabular",
    "fit_tabular",
    "get_emb_sz",
    "partial_dependence",
    "predict",
    "tabular_data",
    "tabular_model",
]

DEFAULT_LAYERS = (200, 100)  # fastai tabular_learner's default
DEFAULT_PS = (0.001, 0.01)  # the course's Rossmann dropout
DEFAULT_EMBED_P = 0.04
DEFAULT_BS = 512
FOREACH = False  # measured: a per-tensor loop costs less CPU than foreach here
DIVERGE_FACTOR = 3.0  # a running loss this many times its first window's is "diverged"
Event = dict[str, Any]


# --- the model ----------------------------------------------------------------------------------


def _lin_bn_drop(n_in: int, n_out: int, bn: bool, p: float, act: bool) -> nn.Sequential:
    """fastai's ``LinBnDrop(lin_first=True)``: Linear (no bias before a norm), ReLU, BatchNorm, Dropout."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not bn)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    if bn:
        norm = nn.BatchNorm1d(n_out)
        norm.bias.data.fill_(1e-3)  # fastai's BatchNorm init
        norm.weight.data.fill_(1.0)
        layers.append(norm)
    if p:
        layers.append(nn.Dropout(p))
    return nn.Sequential(*layers)


class SigmoidRange(nn.Module):
    """Squash outputs into (low, high), as fastai's ``SigmoidRange``."""

    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * (self.high - self.low) + self.low


class TabularModel(nn.Module):
    """fastai's ``TabularModel``: embeddings + batch-normed continuous columns → LinBnDrop blocks.

    Parameter names match fastai's, so ``model.load_state_dict(fastai_model.state_dict())`` works.
    ``cat_names`` and ``classes`` (optional) let ``embedding(model, "State")`` name the rows.
    """

    def __init__(
        self,
        emb_szs: Sequence[tuple[int, int]],
        n_cont: int,
        out_sz: int = 1,
        layers: Sequence[int] = DEFAULT_LAYERS,
        ps: float | Sequence[float] | None = None,
        embed_p: float = 0.0,
        y_range: Sequence[float] | None = None,
        *,
        cat_names: Sequence[str] | None = None,
        classes: dict[str, list] | None = None,
    ):
        super().__init__()
        layers = [int(n) for n in layers]
        if ps is None:
            ps = [0.0] * len(layers)
        elif isinstance(ps, numbers.Real):
            ps = [float(ps)] * len(layers)
        ps = [float(p) for p in ps]
        if len(ps) != len(layers):
            raise ValueError(f"ps needs one dropout per layer: {len(layers)}, got {len(ps)}")
        self.embeds = nn.ModuleList()
        for ni, nf in emb_szs:
            emb = nn.Embedding(int(ni), int(nf))
            with torch.no_grad():  # fastai's Embedding init: N(0, 1) folded into ±2, × 0.01
                emb.weight.normal_().fmod_(2).mul_(0.01)
            self.embeds.append(emb)
        self.emb_drop = nn.Dropout(embed_p)
        self.bn_cont = nn.BatchNorm1d(n_cont) if n_cont else None
        self.n_emb = sum(int(nf) for _, nf in emb_szs)
        self.n_cont = int(n_cont)
        sizes = [self.n_emb + self.n_cont, *layers, int(out_sz)]
        blocks = [
            _lin_bn_drop(sizes[i], sizes[i + 1], bn=i < len(layers), p=p, act=i < len(layers))
            for i, p in enumerate([*ps, 0.0])
        ]
        if y_range is not None:
            low, high = (float(v) for v in y_range)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"y_range must be (low, high) with low < high, got {y_range!r}")
            blocks.append(SigmoidRange(low, high))
        self.layers = nn.Sequential(*blocks)
        self.cat_names = list(cat_names) if cat_names is not None else None
        self.classes = dict(classes) if classes is not None else None

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        if self.n_emb:
            x = torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)
            parts.append(self.emb_drop(x))
        if self.n_cont:
            parts.append(self.bn_cont(x_cont) if self.bn_cont is not None else x_cont)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return self.layers(x)


def tabular_model(
    data: TabularData,
    layers: Sequence[int] = DEFAULT_LAYERS,
    ps: float | Sequence[float] | None = DEFAULT_PS,
    embed_p: float = DEFAULT_EMBED_P,
    y_range: Sequence[float] | None | str = "auto",
    sz_dict: dict[str, int] | None = None,
    seed: int | None = 0,
) -> TabularModel:
    """The model ``tabular_learner`` builds for ``data`` (sizes from ``get_emb_sz``).

    ``y_range="auto"`` is the course's ``(0, 1.2 · max)`` for log sales. ``seed`` makes the initial
    weights repeatable without touching torch's global generator.
    """
    if y_range == "auto":
        y_range = data.default_y_range()
    with torch.random.fork_rng(devices=[]) if seed is not None else nullcontext():
        if seed is not None:
            torch.manual_seed(int(seed))
        return TabularModel(
            get_emb_sz(data, sz_dict),
            len(data.cont_names),
            1,
            layers,
            ps=ps,
            embed_p=embed_p,
            y_range=y_range,
            cat_names=data.cat_names,
            classes=data.classes,
        )


@torch.no_grad()
def predict(
    model: nn.Module, data: TabularData, rows: Any = None, chunk: int = 16384
) -> np.ndarray:
    """The model's predictions (eval mode) for ``rows`` of ``data`` (all rows when None)."""
    idx = torch.arange(len(data.y)) if rows is None else torch.as_tensor(rows)
    was = model.training
    model.eval()
    out = []
    dev = _device(model)
    with one_thread():
        for i in range(0, len(idx), chunk):
            j = idx[i : i + chunk]
            out.append(model(data.x_cat[j].to(dev), data.x_cont[j].to(dev)).squeeze(-1).cpu())
    model.train(was)
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


@torch.no_grad()
def partial_dependence(
    model: nn.Module, data: TabularData, name: str, rows: Any = None
) -> pd.Series:
    """Mean prediction over ``rows`` (default: valid) with column ``name`` set to each class in turn.

    What the model learned a category does, all else as in the data: for ``DayOfWeek`` this is the
    weekly pattern, to compare with the one planted in synthetic data.
    """
    import pandas as pd

    j = data._cat_index(name)
    idx = data.valid_idx if rows is None else torch.as_tensor(rows)
    dev = _device(model)
    xc, xn = data.x_cat[idx].clone().to(dev), data.x_cont[idx].to(dev)
    was = model.training
    model.eval()
    means = {}
    with one_thread():
        for code, cls in enumerate(data.classes[name]):
            if code == 0:
                continue
            xc[:, j] = code
            means[cls] = float(model(xc, xn).mean())
    model.train(was)
    return pd.Series(means, name=name)


# --- training ------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """What a run did: per-epoch history, fitting seconds and how it ended."""

    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "done"  # done | stopped | diverged
    message: str = ""
    steps: int = 0
    bs: int = 0
    learner: Any = None  # fastai's Learner, for compare_fastai

    @property
    def valid_mse(self) -> float:
        return self.history[-1]["valid_mse"] if self.history else float("nan")


@torch.no_grad()
def evaluate(model: nn.Module, data: TabularData, chunk: int = 16384) -> tuple[float, float]:
    """(MSE, exp_rmspe) on the validation rows; exp_rmspe is the course's Rossmann metric."""
    pred = torch.from_numpy(predict(model, data, data.valid_idx, chunk)).double()
    y = data.y[data.valid_idx].double()
    mse = float(((pred - y) ** 2).mean())
    ey = torch.exp(y)
    rmspe = float(torch.sqrt((((ey - torch.exp(pred)) / ey) ** 2).mean()))
    return mse, rmspe


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _no_wd_names(model: nn.Module) -> set[str]:
    """fastai's ``wd_bn_bias=False``: no weight decay on norm layers and biases."""
    out = set()
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        own = [n for n, _ in mod.named_parameters(recurse=False)]
        if isinstance(mod, (nn.BatchNorm1d, nn.LayerNorm)):
            out.update(prefix + n for n in own)
        elif "bias" in own:
            out.add(prefix + "bias")
    return out


def check_fit_args(epochs: Any, lr: Any, wd: Any, bs: Any) -> tuple[int, float, float, int]:
    """Validate what a learner types; a ValueError names the bad one and its range."""

    def whole(name, v, lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
            raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {v!r}")
        return int(v)

    def real(name, v, lo, hi, lo_open=True):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
        v = float(v)
        if (v <= lo if lo_open else v < lo) or v > hi:
            raise ValueError(
                f"{name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v:g}"
            )
        return v

    return (
        whole("epochs", epochs, 1, 1000),
        real("lr", lr, 0, 1e6),
        real("wd", wd, 0, 1e3, lo_open=False),
        whole("bs", bs, 2, 1 << 20),
    )


@one_thread()
def fit_tabular(
    model: nn.Module,
    data: TabularData,
    epochs: int = 5,
    lr: float = 1e-2,
    wd: float = 0.2,
    bs: int = DEFAULT_BS,
    *,
    seed: int | None = 0,
    callback: Callable[[Event], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    lock: Any = None,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> FitResult:
    """Train with fastai's ``fit_one_cycle(epochs, lr, wd=wd)`` recipe: MSE, AdamW, one cycle.

    ``callback(event)`` streams ``{"kind": "step", ...}`` (running train loss)
    ``reports_per_epoch`` times an epoch and ``{"kind": "epoch", ..., "valid_mse", "exp_rmspe"}``
    after each; ``should_stop()`` is checked every step (a stop keeps the last step's weights). A
    non-finite loss, or a running loss ``DIVERGE_FACTOR`` times its first window's, stops the run
    with status "diverged" and restores the weights of the last epoch that ended well.
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    tr = data.train_idx
    n = len(tr)
    bs = min(bs, n)
    per_epoch = max(1, n // bs)  # fastai drops the last partial training batch
    total = per_epoch * epochs
    lrs, b1s = one_cycle(total, lr, div=div, div_final=div_final, pct_start=pct_start, moms=moms)
    no_wd = _no_wd_names(model)
    decay = [p for nm, p in model.named_parameters() if nm not in no_wd]
    plain = [p for nm, p in model.named_parameters() if nm in no_wd]
    groups = [{"params": decay, "weight_decay": wd}, {"params": plain, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.95, 0.99), eps=1e-5, foreach=FOREACH)
    gen = torch.Generator()
    gen.manual_seed(0 if seed is None else int(seed))
    lock = lock if lock is not None else nullcontext()
    every = max(1, per_epoch // max(1, reports_per_epoch))
    emit = callback or (lambda e: None)
    res = FitResult(bs=bs)
    good, good_epochs = _snapshot(model), 0
    first_window: float | None = None
    t0 = epoch_start = time.perf_counter()
    dev = _device(model)  # a learner may have moved the model to a GPU: follow it
    x_cat, x_cont, y = data.x_cat[tr].to(dev), data.x_cont[tr].to(dev), data.y[tr].to(dev)
    step = 0

    def diverge(why: str) -> FitResult:
        with lock:
            model.load_state_dict(good)
        del res.history[good_epochs:]
        back = f"the end of epoch {good_epochs}" if good_epochs else "the start of training"
        res.status, res.steps, res.seconds = "diverged", step, time.perf_counter() - t0
        res.message = f"{why}: lr={lr:g} is too high. Stopped and restored the weights from {back}."
        emit(dict(kind="diverged", message=res.message, step=step, total=total))
        return res

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))  # dropout masks
        model.train()
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=gen)
            run, run_n, win, win_n = 0.0, 0, 0.0, 0
            for b in range(per_epoch):
                if should_stop is not None and should_stop():
                    with lock:
                        mse, rmspe = evaluate(model, data)
                    done = epoch + b / per_epoch
                    now = time.perf_counter()
                    if run_n or not res.history:
                        res.history.append(
                            dict(
                                epoch=round(done, 3),
                                train_loss=run / run_n if run_n else float("nan"),
                                valid_mse=mse,
                                exp_rmspe=rmspe,
                                seconds=now - epoch_start,
                                partial=True,
                            )
                        )
                        emit(dict(kind="epoch", **res.history[-1], step=step, total=total))
                    res.status, res.steps, res.seconds = "stopped", step, now - t0
                    res.message = (
                        f"Stopped after {step} of {total} steps (epoch {done:.2f} of {epochs})."
                    )
                    return res
                idx = perm[b * bs : (b + 1) * bs].to(dev)
                for g in opt.param_groups:
                    g["lr"] = float(lrs[step])
                    g["betas"] = (float(b1s[step]), 0.99)
                with lock:
                    pred = model(x_cat[idx], x_cont[idx]).squeeze(-1)
                    loss = nn.functional.mse_loss(pred, y[idx])
                    lv = float(loss.detach())
                    if not math.isfinite(lv):
                        return diverge(f"Loss became {lv} at step {b + 1} of epoch {epoch + 1}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                step += 1
                run += lv
                run_n += 1
                win += lv
                win_n += 1
                if (b + 1) % every == 0:
                    w = win / win_n
                    if first_window is None:
                        first_window = w
                    elif w > DIVERGE_FACTOR * first_window:
                        return diverge(
                            f"Train loss grew to {w:.3g}, {w / first_window:.0f}× its start"
                        )
                    if b + 1 < per_epoch:
                        emit(
                            dict(
                                kind="step",
                                epoch=epoch + (b + 1) / per_epoch,
                                train_loss=w,
                                step=step,
                                total=total,
                                seconds=time.perf_counter() - t0,
                            )
                        )
                    win, win_n = 0.0, 0
            with lock:
                mse, rmspe = evaluate(model, data)
            now = time.perf_counter()
            entry = dict(
                epoch=epoch + 1,
                train_loss=run / max(run_n, 1),
                valid_mse=mse,
                exp_rmspe=rmspe,
                seconds=now - epoch_start,
            )
            epoch_start = now
            res.steps, res.seconds = step, now - t0
            if not math.isfinite(mse):
                return diverge(f"Valid loss became {mse} after epoch {epoch + 1}")
            res.history.append(entry)
            good, good_epochs = _snapshot(model), epoch + 1
            emit(dict(kind="epoch", **entry, step=step, total=total))
    res.message = f"Trained {epochs} epoch(s), {total} steps of {bs} rows."
    return res


# --- fastai on the same rows ----------------------------------------------------------------------


def fastai_tabular(data: TabularData):
    """fastai's ``TabularPandas`` over the same rows and split, with the course's procs."""
    from fastai.data.block import RegressionBlock
    from fastai.tabular.core import Categorify, FillMissing, Normalize, TabularPandas

    given = [c for c in data.cat_names if not (c.endswith("_na") and c[:-3] in data.na_dict)]
    splits = (data.train_idx.tolist(), data.valid_idx.tolist())
    return TabularPandas(
        data.frame,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=list(given),
        cont_names=list(data.cont_names),
        y_names=data.y_name,
        y_block=RegressionBlock(),
        splits=splits,
    )


def compare_fastai(
    data: TabularData,
    epochs: int = 5,
    lr: float = 1e-2,
    wd: float = 0.2,
    bs: int = DEFAULT_BS,
    layers: Sequence[int] = DEFAULT_LAYERS,
    ps: float | Sequence[float] | None = DEFAULT_PS,
    embed_p: float = DEFAULT_EMBED_P,
    y_range: Sequence[float] | None | str = "auto",
    *,
    seed: int | None = 0,
    callback: Callable[[Event], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    to: Any = None,
) -> FitResult:
    """fastai's ``tabular_learner(...).fit_one_cycle(epochs, lr, wd=wd)`` on the same split and sizes.

    Streams the same events as ``fit_tabular``; ``seconds`` counts fitting only. The learner is in
    ``result.learner``; its valid loss is fastai's own (MSE on the same validation rows).
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    # .all also patches fit_one_cycle, no_bar and no_logging onto Learner
    from fastai.tabular.all import (
        Callback,
        CancelFitException,
        MSELossFlat,
        tabular_config,
        tabular_learner,
    )

    if y_range == "auto":
        y_range = data.default_y_range()
    to = to if to is not None else fastai_tabular(data)
    dls = to.dataloaders(bs=bs, path=".")
    emit = callback or (lambda e: None)
    res = FitResult(bs=bs)
    per_epoch = len(dls.train)
    total = per_epoch * epochs
    every = max(1, per_epoch // max(1, reports_per_epoch))

    class Stream(Callback):
        order = 60  # after the Recorder has the epoch's valid loss

        def before_fit(self):
            self.t0 = self.e0 = time.perf_counter()
            self.step = 0

        def before_epoch(self):
            self.sum, self.n, self.win, self.win_n = 0.0, 0, 0.0, 0

        def after_batch(self):
            if not self.training:
                return
            lv = float(self.loss.detach())
            self.step += 1
            self.sum, self.n = self.sum + lv, self.n + 1
            self.win, self.win_n = self.win + lv, self.win_n + 1
            if self.iter + 1 < per_epoch and (self.iter + 1) % every == 0:
                emit(
                    dict(
                        kind="step",
                        epoch=self.epoch + (self.iter + 1) / per_epoch,
                        train_loss=self.win / self.win_n,
                        step=self.step,
                        total=total,
                        seconds=time.perf_counter() - self.t0,
                    )
                )
                self.win, self.win_n = 0.0, 0
            if should_stop is not None and should_stop():
                res.status = "stopped"
                raise CancelFitException()

        def after_epoch(self):
            now = time.perf_counter()
            entry = dict(
                epoch=self.epoch + 1,
                train_loss=self.sum / max(self.n, 1),
                valid_mse=float(self.recorder.values[-1][1]),
                seconds=now - self.e0,
            )
            self.e0 = now
            res.history.append(entry)
            emit(dict(kind="epoch", **entry, step=self.step, total=total))

    stream = Stream()
    np_state = np.random.get_state()
    off_main = threading.current_thread() is not threading.main_thread()
    try:
        with one_thread() if off_main else nullcontext(), torch.random.fork_rng():
            if seed is not None:
                torch.manual_seed(seed)
                np.random.seed(seed)
            cfg = tabular_config(ps=list(ps) if isinstance(ps, Sequence) else ps, embed_p=embed_p)
            learn = tabular_learner(
                dls,
                layers=list(layers),
                config=cfg,
                y_range=y_range,
                loss_func=MSELossFlat(),
                cbs=[stream],
            )
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(epochs, lr, wd=wd)
            res.seconds = time.perf_counter() - t0
    finally:
        np.random.set_state(np_state)
    learn.remove_cb(stream)
    res.steps, res.learner = learn.train_iter, learn
    res.message = (
        f"fastai stopped after {res.steps} of {total} steps."
        if res.status == "stopped"
        else f"fastai trained {epochs} epoch(s), {total} steps of {bs} rows."
    )
    return res
