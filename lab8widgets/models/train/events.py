"""What a training run says while it runs (``TrainEvent``) and what it leaves behind (``Run``),
plus the settings every fit loop shares (``FitSettings``). Typed values, so a view can draw any
model's run (embeddings, CNNs, tabular) without knowing which lesson it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings, setting

__all__ = ["BATCH_SIZES", "FitSettings", "Run", "TrainEvent"]

BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class FitSettings(Settings):
    """fastai's ``fit_one_cycle(epochs, lr, wd=wd)`` at batch size ``bs``: what a learner types.

    ``lr`` stops at 10 and ``wd`` at 100: beyond those no model here trains, and a typed 100 for
    lr is refused with this range instead of being clipped.
    """

    epochs: int = setting(5, lo=1, hi=1000, label="epochs")
    lr: float = setting(5e-3, lo=0, hi=10, lo_open=True, log=True, label="lr")
    wd: float = setting(0.1, lo=0, hi=100, label="wd")
    bs: int = setting(64, choices=BATCH_SIZES, label="bs")


@dataclass
class TrainEvent:
    """One report from a fit loop.

    ``kind``: "step" (running train loss, a few times an epoch), "epoch" (after each epoch, with
    the valid loss and metrics; ``partial`` when a Stop cut the epoch short), "diverged" (the loss
    became NaN/inf or grew far above its start: ``message`` says which) or "done"/"stopped".
    ``epoch`` is fractional for steps (2.5 = half-way through the third epoch).
    """

    kind: str
    epoch: float = 0.0
    step: int = 0
    total: int = 0
    seconds: float = 0.0
    train_loss: float = math.nan
    valid_loss: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    partial: bool = False
    window_loss: float = math.nan  # train loss over the last few steps (the curve's end point)

    @property
    def fraction(self) -> float:
        """How much of the run is done, for a progress bar."""
        return self.step / self.total if self.total else 0.0

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style reading (``ev["kind"]``, ``ev.get("valid_mse")``): fields, then metrics."""
        if key in self.metrics:
            return self.metrics[key]
        return getattr(self, key, default)

    def __getitem__(self, key: str) -> Any:
        if key in self.metrics or hasattr(self, key):
            return self.get(key)
        raise KeyError(key)


@dataclass
class Run:
    """How a run ended: per-epoch ``history`` (dicts: epoch, train_loss, valid_loss, seconds, the
    metrics, ``partial`` for a cut epoch), fitting seconds, steps, and ``status`` done | stopped |
    diverged with a ``message`` a learner can read."""

    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "done"
    message: str = ""
    steps: int = 0
    bs: int = 0
    learner: Any = None  # a peer library's learner (fastai), when one trained

    @property
    def valid_loss(self) -> float:
        return self.history[-1]["valid_loss"] if self.history else math.nan

    @property
    def epochs_done(self) -> float:
        return self.history[-1]["epoch"] if self.history else 0

    def metric(self, name: str) -> float:
        """The last epoch's ``name`` (a metric or a history field); NaN before the first epoch."""
        return float(self.history[-1].get(name, math.nan)) if self.history else math.nan
