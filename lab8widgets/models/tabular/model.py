"""The lesson's tabular model (entity embeddings), its data preparation and a fast one-cycle loop.

``tabular_data`` (in ``data.py``) prepares a DataFrame as fastai's ``TabularPandas`` does
and splits it by date as the course does for Rossmann. ``TabularModel`` is fastai's: an
embedding per categorical column, the continuous columns batch-normed, then Linear → ReLU →
BatchNorm → Dropout blocks, laid out so fastai's ``state_dict`` loads into it (its dropouts are
``SparseDropout``: ``nn.Dropout``'s distribution with only the dropped positions drawn; at the
course's small p, per-element draws were a third of a CPU training step). ``fit_tabular`` is
``fit_one_cycle`` through the shared loop of ``lab8widgets.models.train`` (dense AdamW, fastai's
schedule, no weight decay on norms and biases), data kept in tensors, one thread; ``compare_fastai`` runs fastai's own
``tabular_learner`` on the same rows, split and sizes. No widget code; fastai is imported lazily.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .._threads import one_thread
from ..layers import SparseDropout
from ..settings import setting
from ..train import FitSettings, Run, TrainEvent, fit
from ..train.fastai_bridge import fit_one_cycle_fastai
from .data import TabularData, get_emb_sz

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FitResult",
    "TabularFit",
    "TabularModel",
    "check_batch",
    "compare_fastai",
    "fastai_tabular",
    "fit_tabular",
    "partial_dependence",
    "predict",
    "tabular_model",
]

DEFAULT_LAYERS = (200, 100)  # fastai tabular_learner's default
DEFAULT_PS = (0.001, 0.01)  # the course's Rossmann dropout
DEFAULT_EMBED_P = 0.04
DEFAULT_BS = 512
DIVERGE_FACTOR = 4.0  # a loss this many times the starting valid loss is "diverged"


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
        layers.append(SparseDropout(p))
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
        self.emb_drop = SparseDropout(embed_p)
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
            # e.weight[rows] is e(rows) for these plain tables (no padding_idx, max_norm); its
            # backward (index_add_) costs a third of nn.Embedding's on a CPU
            x = torch.cat(
                [e.weight.index_select(0, x_cat[:, i]) for i, e in enumerate(self.embeds)], 1
            )
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

    j = data.cat_index(name)
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


class FitResult(Run):
    """The shared loop's :class:`Run`, with the course's metric names: per-epoch history
    (epoch, train_loss, valid_loss, valid_mse, exp_rmspe, seconds), fitting seconds, status."""

    @property
    def valid_mse(self) -> float:
        return self.history[-1]["valid_mse"] if self.history else float("nan")


@dataclass(frozen=True)
class TabularFit(FitSettings):
    """``fit_one_cycle(epochs, lr, wd=wd)`` at ``bs`` with the course's Rossmann defaults.

    Wider than :class:`FitSettings` where a tabular learner may go: an lr up to 100, high enough to
    watch a run diverge (lr 30 does) and be flagged by the loop, not so high that a typo passes;
    ``fit_tabular`` also refuses a batch larger than the training rows.
    """

    epochs: int = setting(5, lo=1, hi=1000, label="epochs")
    lr: float = setting(1e-2, lo=0, hi=100, lo_open=True, log=True, label="lr")
    wd: float = setting(0.2, lo=0, hi=1e3, label="wd")
    bs: int = setting(DEFAULT_BS, lo=2, hi=1 << 20, label="bs")


def check_batch(settings: TabularFit, data: TabularData) -> TabularFit:
    """``settings`` if its batch fits the training rows, else a ValueError with the range (a batch
    of 100,000 on 90,342 rows would run one short batch an epoch and teach nothing)."""
    n = len(data.train_idx)
    if settings.bs > n:
        raise ValueError(
            f"bs {settings.bs:,} is more than the {n:,} training rows: "
            f"choose a batch size from 2 to {n:,}"
        )
    return settings


@torch.no_grad()
def evaluate(model: nn.Module, data: TabularData, chunk: int = 16384) -> tuple[float, float]:
    """(MSE, exp_rmspe) on the validation rows; exp_rmspe is the course's Rossmann metric."""
    pred = torch.from_numpy(predict(model, data, data.valid_idx, chunk)).double()
    return _metrics(pred, data.y[data.valid_idx])


def exp_rmspe(pred: torch.Tensor, y: torch.Tensor) -> float:
    """The course's Rossmann metric (fastai's ``exp_rmspe``) on log-sales predictions: the root
    mean square of (sales − predicted sales) / sales, each error a share of the true sales."""
    ey = torch.exp(y.reshape(-1).double())
    return float(torch.sqrt((((ey - torch.exp(pred.reshape(-1).double())) / ey) ** 2).mean()))


def _metrics(pred: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    pred, y = pred.reshape(-1).double(), y.reshape(-1).double()
    mse = float(((pred - y) ** 2).mean())
    return mse, exp_rmspe(pred, y)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def mse_flat(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """fastai's ``MSELossFlat``: the model's (n, 1) output against (n,) targets."""
    return nn.functional.mse_loss(pred.reshape(-1), y.reshape(-1))


def _course_metrics(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    mse, rmspe = _metrics(pred, y)
    return {"valid_mse": mse, "exp_rmspe": rmspe}


def fit_tabular(
    model: nn.Module,
    data: TabularData,
    epochs: int = 5,
    lr: float = 1e-2,
    wd: float = 0.2,
    bs: int = DEFAULT_BS,
    *,
    seed: int | None = 0,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    lock: Any = None,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> FitResult:
    """fastai's ``fit_one_cycle(epochs, lr, wd=wd)`` with MSE, run by the shared fit loop.

    The loop (``lab8widgets.models.train.fit``, dense AdamW) streams ``TrainEvent`` values to
    ``callback`` (read them as ``ev["kind"]``, ``ev["valid_mse"]``), checks ``should_stop()`` each
    step and flags a diverging run, restoring the last good epoch's weights. Metrics are the
    course's: ``valid_mse`` and ``exp_rmspe`` on the validation rows. ``seed`` fixes the shuffle
    and the dropout masks without touching torch's global generator.
    """
    settings = check_batch(TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs), data)
    tr, va = data.train_idx, data.valid_idx
    train = ((data.x_cat[tr], data.x_cont[tr]), data.y[tr])
    valid = ((data.x_cat[va], data.x_cont[va]), data.y[va])
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))  # dropout masks
        run = fit(
            model,
            mse_flat,
            train,
            valid,
            settings,
            metrics=_course_metrics,
            optimizer="dense",
            callback=callback,
            should_stop=should_stop,
            seed=seed,
            lock=lock,
            reports_per_epoch=reports_per_epoch,
            diverge_factor=DIVERGE_FACTOR,
            pct_start=pct_start,
            div=div,
            div_final=div_final,
            moms=moms,
        )
    return FitResult(**{f.name: getattr(run, f.name) for f in fields(run)})


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
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    to: Any = None,
    dl_type: Any = None,
    single_thread: bool | None = None,
) -> FitResult:
    """fastai's ``tabular_learner(...).fit_one_cycle(epochs, lr, wd=wd)`` on the same split and sizes.

    Streams the same events as ``fit_tabular``; ``seconds`` counts fitting only. The learner is in
    ``result.learner``; its valid loss is fastai's own (MSE on the same validation rows).
    ``dl_type`` is handed to ``TabularPandas.dataloaders``: None is fastai's default, which in
    fastai 2.8 is ``TabWeightedDL`` (each epoch draws its rows with replacement); fastai's
    ``TabDataLoader`` shuffles every training row once an epoch, as ``fit_tabular`` does.
    ``single_thread``: None runs fastai on one intra-op thread only off the main thread; True
    always (as ``fit_tabular`` runs), False never.
    """
    s = TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs)  # ValueError names field, value, range
    from fastai.tabular.all import MSELossFlat, tabular_config, tabular_learner

    if y_range == "auto":
        y_range = data.default_y_range()
    to = to if to is not None else fastai_tabular(data)

    def make_learner():  # under the seed: initial weights and the DataLoader's shuffling
        cfg = tabular_config(ps=list(ps) if isinstance(ps, Sequence) else ps, embed_p=embed_p)
        dls = to.dataloaders(bs=s.bs, path=".", **({"dl_type": dl_type} if dl_type else {}))
        return tabular_learner(
            dls, layers=list(layers), config=cfg, y_range=y_range, loss_func=MSELossFlat()
        )

    return fit_one_cycle_fastai(
        make_learner,
        s.epochs,
        s.lr,
        s.wd,
        result=FitResult(bs=s.bs),
        seed=seed,
        callback=callback,
        should_stop=should_stop,
        reports_per_epoch=reports_per_epoch,
        valid_as="valid_mse",
        single_thread=single_thread,
    )
