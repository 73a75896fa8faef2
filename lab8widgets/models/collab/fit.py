"""``fit_collab``: the generic one-cycle loop of ``models.train`` on a CollabData split with MSE as
the loss, and the policy CollabLab applies: its settings (``CollabSettings``), the automatic batch
size and the book's ablation recipe."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..settings import setting
from ..train import FitSettings, Run, TrainEvent, fit
from .data import CollabData, auto_bs
from .modules import get_emb_sz

__all__ = [
    "ABLATION",
    "CollabSettings",
    "FitResult",
    "ablation_steps",
    "check_fit_args",
    "check_whole",
    "describe_run",
    "fit_collab",
    "mse",
    "resolve_y_range",
    "run_settings",
    "valid_mse",
    "valid_mse_by_count",
    "FEW_RATINGS",
]

Event = TrainEvent
DEFAULT_BS = 512
ABLATION = (  # the book's sequence, each step adding one idea to the one before
    ("dot product", dict(y_range=False, bias=False, wd=0.0)),
    ("+ y_range", dict(bias=False, wd=0.0)),
    ("+ bias", dict(wd=0.0)),
    ("+ weight decay", dict()),
    ("neural net", dict(use_nn=True)),
)


@dataclass(frozen=True)
class CollabSettings(FitSettings):
    """A CollabLab run: the fit settings plus the model's (``y_range`` on means the data's range)."""

    n_factors: int = setting(50, lo=1, hi=1000, label="n_factors")
    n_act: int = setting(100, lo=1, hi=4096, label="hidden")
    y_range: bool = setting(True, label="y_range")
    bias: bool = setting(True, label="bias")
    use_nn: bool = setting(False, label="neural net")
    metadata: bool = setting(False, label="genres (metadata)")


def ablation_steps(base: CollabSettings) -> list[tuple[str, CollabSettings]]:
    """The book's ablation from ``base``: dot product, + y_range, + bias, + weight decay, neural net
    (``base.wd`` applies from "+ weight decay" on; a ``wd`` of 0 there becomes the book's 0.1)."""
    if base.wd == 0:
        base = base.replace(wd=0.1)
    base = base.replace(y_range=True, bias=True, use_nn=False, metadata=False)
    return [(label, base.replace(**change)) for label, change in ABLATION]


@dataclass
class FitResult(Run):
    """A collab run: a :class:`Run` whose history entries also carry ``valid_mse``."""

    @property
    def valid_mse(self) -> float:
        return self.metric("valid_mse")


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error, the loss of the lesson's recommenders (fastai's ``MSELossFlat``)."""
    d = pred - y
    return (d * d).mean()


def _mse_metric(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    d = pred.double() - y.double()
    return {"valid_mse": float((d * d).mean())}


@torch.no_grad()
def valid_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> float:
    """Mean squared error of ``model`` on (x, y) (what fastai's valid_loss reports), in float64."""
    was = model.training
    model.eval()
    dev = next(iter(model.parameters())).device
    total = 0.0
    try:
        for i in range(0, len(y), chunk):
            d = model(x[i : i + chunk].to(dev)).double() - y[i : i + chunk].to(dev).double()
            total += float((d * d).sum())
    finally:
        model.train(was)
    return total / max(len(y), 1)


FEW_RATINGS = 5  # "items with few ratings": at most this many training ratings


def valid_mse_by_count(model: nn.Module, data: CollabData, few: int = FEW_RATINGS) -> dict:
    """Valid MSE overall and on the ratings of items with at most ``few`` training ratings (where
    metadata should help most), with how many valid ratings each covers."""
    few = check_whole("few", few, 0, 1 << 30)
    x, y = data.x[data.valid_idx], data.y[data.valid_idx]
    rare = torch.from_numpy(data.item_counts[x[:, 1].numpy()] <= few)
    n_rare = int(rare.sum())
    return {
        "valid_mse": valid_mse(model, x, y),
        "valid_mse_few": valid_mse(model, x[rare], y[rare]) if n_rare else math.nan,
        "n_valid": len(y),
        "n_valid_few": n_rare,
        "few": few,
    }


def check_whole(name: str, v: Any, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi], or a ValueError that names it (bools and text are refused)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {v!r}")
    return int(v)


def check_fit_args(epochs: Any, lr: Any, wd: Any, bs: Any) -> tuple[int, float, float, int]:
    """The four fit settings checked by :class:`FitSettings` (ValueError names field, value, range)."""
    s = FitSettings(epochs=epochs, lr=lr, wd=wd, bs=bs)
    return s.epochs, s.lr, s.wd, s.bs


def fit_collab(
    model: nn.Module,
    data: CollabData,
    epochs: int = 5,
    lr: float = 5e-3,
    wd: float = 0.1,
    bs: int | None = DEFAULT_BS,
    *,
    settings: FitSettings | None = None,
    seed: int | None = 0,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    dense: bool | None = None,
    lock: Any = None,
    **schedule: Any,
) -> FitResult:
    """Train ``model`` on ``data`` with fastai's ``fit_one_cycle`` recipe (MSE loss, AdamW, wd).

    ``settings`` (a :class:`FitSettings`) wins over ``epochs``/``lr``/``wd``/``bs``; ``bs=None`` is
    :func:`auto_bs`. Events are :class:`TrainEvent` ("step", "epoch" with ``valid_mse`` in its
    metrics, "diverged", "stopped", "done"); see :func:`lab8widgets.models.train.fit` for Stop and
    the divergence guard. ``dense`` forces (True) or forbids (False) dense AdamW steps.
    """
    if settings is None:
        if bs is None:
            bs = auto_bs(len(data.train_idx))
        settings = FitSettings(epochs=epochs, lr=lr, wd=wd, bs=bs)
    optimizer = "auto" if dense is None else ("dense" if dense else "row")
    run = fit(
        model,
        mse,
        (data.x[data.train_idx], data.y[data.train_idx]),
        (data.x[data.valid_idx], data.y[data.valid_idx]),
        settings,
        metrics=_mse_metric,
        optimizer=optimizer,
        callback=callback,
        should_stop=should_stop,
        seed=seed,
        lock=lock,
        reports_per_epoch=reports_per_epoch,
        **schedule,
    )
    res = FitResult(**vars(run))
    res.message = res.message.replace(f"steps of {res.bs}.", f"steps of {res.bs} ratings.")
    return res


def resolve_y_range(data: CollabData, y_range: Any) -> tuple[float, float] | None:
    """``None``/``False`` → no squashing; ``"auto"``/``True`` → the data's range (the book's
    (0, 5.5) on 5 stars); ``(low, high)`` → as given. ValueError otherwise."""
    if y_range is None or y_range is False:
        return None
    if y_range is True or (isinstance(y_range, str) and y_range == "auto"):
        return data.default_y_range()
    try:
        lo, hi = (float(v) for v in y_range)
    except (TypeError, ValueError):
        raise ValueError(f"y_range must be None, 'auto' or (low, high), got {y_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"y_range must be (low, high) with low < high, got {y_range!r}")
    return (lo, hi)


def run_settings(
    data: CollabData, *, y_range: Any = "auto", bs: int | None = None, **fields: Any
) -> tuple[CollabSettings, tuple[float, float] | None]:
    """A run's checked settings and y_range: ``bs=None`` is :func:`auto_bs` for the data."""
    yr = resolve_y_range(data, y_range)
    bs = auto_bs(len(data.train_idx)) if bs is None else bs
    return CollabSettings(bs=bs, y_range=yr is not None, **fields), yr


def describe_run(data: CollabData, s: CollabSettings, engine: str) -> tuple[str, str]:
    """(model class name, size in words) of a run by ``engine`` ("lab8widgets" or "fastai")."""
    ours = engine == "lab8widgets"
    tags = " + genres" if ours and s.metadata else ""
    if s.use_nn:
        (_, su), (_, si) = get_emb_sz(data)
        return ("CollabNN" if ours else "EmbeddingNN"), f"emb {su}+{si}, {s.n_act} hidden{tags}"
    return ("DotProductBias" if ours else "EmbeddingDotBias"), f"{s.n_factors} factors{tags}"
