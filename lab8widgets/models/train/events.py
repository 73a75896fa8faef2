"""What a training run says while it runs (``TrainEvent``), what it leaves behind (``Run``), how a
lab keeps it in its runs table (``RunRecord``), plus the settings every fit loop shares
(``FitSettings``). Typed values, so a view can draw any model's run (embeddings, CNNs, tabular)
without knowing which lesson it came from."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings, setting

__all__ = ["BATCH_SIZES", "STATUSES", "FitSettings", "Run", "RunRecord", "TrainEvent"]

BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
STATUSES = ("running", "done", "stopped", "diverged")


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


@dataclass(eq=False)
class RunRecord(Mapping):
    """One row of a lab's runs table: a numbered run, its colour on the chart, what it ran with
    and how it ended.

    ``settings`` are the values the run used (a settings dataclass's ``asdict()``), ``extra`` the
    lab's own descriptive fields (model name, sizes, train_n). ``status`` is running | done |
    stopped | diverged; ``history`` is the per-epoch list of :class:`Run` (a diverged run keeps
    only the epochs that ended well).

    It reads like the dicts the labs kept before (``rec["status"]``, ``rec["valid_mse"]``,
    ``{**rec}``): a key is looked up in the record's fields, then ``extra``, then the last epoch's
    history entry (its losses and metrics), then ``settings``; ``epochs_done`` is whole unless
    the run was stopped.
    """

    run: int
    label: str = ""
    color: str = ""
    engine: str = "lab8widgets"
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    message: str = ""
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    score: str = "valid_loss"  # the history field that ranks runs (lower is better)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    def finish(self, result: Run) -> RunRecord:
        """Take a finished :class:`Run`'s outcome (history copied, so the record owns it)."""
        if result.status not in STATUSES[1:]:
            raise ValueError(
                f"a finished run's status must be done, stopped or diverged, got {result.status!r}"
            )
        self.history = [dict(h) for h in result.history]
        self.status, self.message = result.status, result.message
        self.seconds, self.steps = float(result.seconds), int(result.steps)
        return self

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def epochs_done(self) -> float:
        done = self.history[-1]["epoch"] if self.history else 0
        return float(done) if self.status == "stopped" else int(done)

    @property
    def valid_loss(self) -> float:
        return self.metric("valid_loss")

    @property
    def value(self) -> float:
        """The ranking value (``score`` of the last epoch); NaN before the first epoch."""
        return self.metric(self.score)

    def metric(self, name: str) -> float:
        """The last epoch's ``name`` (a loss or a metric); NaN before the first epoch."""
        return float(self.history[-1].get(name, math.nan)) if self.history else math.nan

    def as_dict(self) -> dict[str, Any]:
        """A flat dict: settings, extra, the last epoch's numbers, then the record's own fields."""
        last = {k: v for k, v in (self.history[-1] if self.history else {}).items()}
        last.pop("epoch", None)
        last.pop("partial", None)
        if self.score not in last:
            last[self.score] = math.nan
        own = dict(
            run=self.run,
            label=self.label,
            color=self.color,
            engine=self.engine,
            status=self.status,
            message=self.message,
            history=self.history,
            seconds=self.seconds,
            steps=self.steps,
            epochs_done=self.epochs_done,
        )
        return {**self.settings, **last, **self.extra, **own}

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())
