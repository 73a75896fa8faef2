"""One fit loop for every model of the labs: fastai's ``fit_one_cycle`` recipe in plain torch.

Give it a model, a loss function, train and valid data (``(x, y)`` tensors, shuffled here, or any
sized iterable of ``(xb, yb)`` batches; ``x`` may be a tuple of tensors for a model with several
inputs, as tabular's ``model(x_cat, x_cont)``), :class:`FitSettings` and optionally a metrics function. It
streams :class:`TrainEvent` values to ``callback``, checks ``should_stop()`` every step, and guards
the run: a NaN/inf loss, or a loss that grows far above where it started, stops the run with status
"diverged", a message that says so, and the weights of the last epoch that ended well. The forward
pass goes through ``torch.func.functional_call`` so RowAdamW's gathered rows stand in for the full
embedding tables without touching a module's private ``_parameters``.

The shape is fastai's ``Learner.fit`` → ``_do_epoch`` → ``one_batch``: :class:`Fit` runs epochs of
batches, and three small objects do the rest: :class:`Stop` (the button), :class:`Divergence`
(the guard and the last good weights) and :class:`Stream` (the events and the running losses).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from .._threads import one_thread
from .events import FitSettings, Run, TrainEvent
from .optim import RowAdamW
from .schedule import one_cycle

__all__ = [
    "OPTIMIZERS",
    "Divergence",
    "Fit",
    "Stop",
    "Stream",
    "evaluate",
    "fit",
    "model_device",
    "snapshot",
]

OPTIMIZERS = ("auto", "row", "dense")
Data = tuple[torch.Tensor, torch.Tensor] | Iterable


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (the CPU for a model without any)."""
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights, on their own device, to restore after a bad step."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _is_x(x: Any) -> bool:
    """A model input: a tensor, or a tuple of tensors (one per ``forward`` argument)."""
    if isinstance(x, tuple | list):
        return bool(x) and all(isinstance(t, torch.Tensor) for t in x)
    return isinstance(x, torch.Tensor)


def _is_tensors(data: Any) -> bool:
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and _is_x(data[0])
        and isinstance(data[1], torch.Tensor)
    )


def _map(x: Any, f: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``f`` on a tensor input, or on each tensor of a tuple input."""
    return tuple(f(t) for t in x) if isinstance(x, tuple | list) else f(x)


def _args(x: Any) -> tuple:
    """The positional arguments of ``model(...)`` for input ``x``."""
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def _batches(data: Data, chunk: int, device: torch.device):
    if _is_tensors(data):
        x, y = data
        for i in range(0, len(y), chunk):
            yield _map(x, lambda t, i=i: t[i : i + chunk].to(device)), y[i : i + chunk].to(device)
    else:
        for xb, yb in data:
            yield _map(xb, lambda t: t.to(device)), yb.to(device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_func: Callable,
    valid: Data,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
    chunk: int = 8192,
) -> tuple[float, dict[str, float]]:
    """(mean loss, metrics) of ``model`` on ``valid``, in eval mode; ``loss_func`` must average."""
    was = model.training
    model.eval()
    total, n, preds, ys = 0.0, 0, [], []
    try:
        for xb, yb in _batches(valid, chunk, model_device(model)):
            pred = model(*_args(xb))
            total += float(loss_func(pred, yb)) * len(yb)
            n += len(yb)
            if metrics is not None:
                preds.append(pred)
                ys.append(yb)
    finally:
        model.train(was)
    found = {}
    if metrics is not None and preds:
        found = {k: float(v) for k, v in metrics(torch.cat(preds), torch.cat(ys)).items()}
    return total / max(n, 1), found


class Stop:
    """The Stop button's question (``should_stop()``), asked before every batch."""

    def __init__(self, should_stop: Callable[[], bool] | None = None):
        self.should_stop = should_stop

    def __call__(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())


class Divergence:
    """The divergence guard: a NaN/inf loss, or a train or valid loss ``factor`` times the starting
    valid loss, ends the run; it keeps the weights of the last epoch that ended well to restore."""

    def __init__(self, start_loss: float, factor: float, model: nn.Module):
        self.start_loss, self.factor = start_loss, factor
        self.good, self.good_epochs = snapshot(model), 0

    def grew(self, loss: float) -> bool:
        s = self.start_loss
        return math.isfinite(s) and s > 0 and loss > self.factor * s

    def check(self, what: str, loss: float, where: str) -> None:
        """Raise :class:`Diverged` when ``loss`` is not finite or grew too far."""
        if not math.isfinite(loss):
            raise Diverged(f"{what} became {loss} {where}")
        if self.grew(loss):
            raise Diverged(
                f"{what} grew to {loss:.4g}, {loss / self.start_loss:.0f}× its start "
                f"({self.start_loss:.4g}), {where} (a diverging run)"
            )

    def keep(self, model: nn.Module, epochs: int) -> None:
        """An epoch ended well: its weights are the ones to come back to."""
        self.good, self.good_epochs = snapshot(model), epochs

    def restore(self, model: nn.Module, lock: Any) -> str:
        """Put the last good weights back; says where they are from."""
        with lock:
            model.load_state_dict(self.good)
        return (
            f"the end of epoch {self.good_epochs}" if self.good_epochs else "the start of training"
        )


class Diverged(Exception):
    """Ends a fit from inside a batch or an epoch (as fastai's ``CancelFitException`` does)."""


class Stopped(Exception):
    """Ends a fit when Stop was pressed (before batch ``batch`` of the epoch)."""

    def __init__(self, batch: int):
        super().__init__(batch)
        self.batch = batch


class Stream:
    """Streams :class:`TrainEvent` values: the running train loss a few times an epoch (a window
    of the last steps), each epoch's entry, and how the run ended."""

    def __init__(self, callback: Callable[[TrainEvent], Any] | None, every: int, total: int):
        self.emit = callback or (lambda e: None)
        self.every, self.total = every, total
        self.t0 = time.perf_counter()
        self.reset()

    def reset(self) -> None:
        """A new epoch: empty the epoch's and the window's sums."""
        self.run_loss, self.run_n, self.win_loss, self.win_n = 0.0, 0, 0.0, 0

    def add(self, loss: float) -> None:
        self.run_loss += loss
        self.run_n += 1
        self.win_loss += loss
        self.win_n += 1

    def due(self, b: int, per_epoch: int) -> bool:
        """A step report is due after batch ``b`` (never on an epoch's last batch)."""
        return (b + 1) % self.every == 0 and b + 1 < per_epoch

    @property
    def window(self) -> float:
        return self.win_loss / self.win_n

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def step(self, epoch: float, step: int) -> None:
        self.emit(
            TrainEvent(
                "step",
                epoch=epoch,
                step=step,
                total=self.total,
                seconds=self.seconds,
                train_loss=self.window,
            )
        )
        self.win_loss, self.win_n = 0.0, 0

    def epoch(self, entry: dict, step: int, seconds: float, window: bool = False) -> None:
        ev = _epoch_event(entry, step, self.total, seconds)
        if window:  # the curve's end point: the train loss over the epoch's last steps
            ev.window_loss = self.window if self.win_n else entry["train_loss"]
        self.emit(ev)

    def end(self, kind: str, epoch: float, step: int, seconds: float, message: str) -> None:
        self.emit(
            TrainEvent(
                kind, epoch=epoch, step=step, total=self.total, seconds=seconds, message=message
            )
        )


class Fit:
    """One fit: ``run()`` → ``do_epoch`` → ``one_batch`` (fastai's ``Learner.fit`` shape), with
    :class:`Stop`, :class:`Divergence` and :class:`Stream` doing the rest."""

    def __init__(
        self,
        model: nn.Module,
        loss_func: Callable,
        train: Data,
        valid: Data,
        settings: FitSettings,
        *,
        metrics: Callable | None = None,
        optimizer: str = "auto",
        stop: Stop | None = None,
        callback: Callable[[TrainEvent], Any] | None = None,
        seed: int | None = 0,
        lock: Any = None,
        reports_per_epoch: int = 10,
        diverge_factor: float = 4.0,
        schedule: dict | None = None,
    ):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        self.model, self.loss_func, self.train, self.valid = model, loss_func, train, valid
        self.s, self.metrics, self.factor = settings, metrics, diverge_factor
        self.stop, self.callback = stop or Stop(), callback
        self.device = model_device(model)
        self.lock = lock if lock is not None else nullcontext()
        self.gen = torch.Generator()
        self.gen.manual_seed(0 if seed is None else int(seed))
        self.plan_batches()
        self.total = self.per_epoch * settings.epochs
        self.every = max(1, self.per_epoch // max(1, reports_per_epoch))
        self.opt = self.optimizer(optimizer, schedule or {})
        self.res = Run(bs=self.bs)

    def plan_batches(self) -> None:
        """Batch size and batches per epoch; ``(x, y)`` tensors move to the model's device once."""
        if _is_tensors(self.train):
            x, y = self.train
            self.tensors = (_map(x, lambda t: t.to(self.device)), y.to(self.device))
            self.n = len(y)
            self.bs = min(self.s.bs, self.n)
            self.per_epoch = max(self.n // self.bs, 1)
        else:
            self.tensors = None
            self.bs = self.s.bs
            self.per_epoch = len(self.train)  # type: ignore[arg-type]

    def optimizer(self, kind: str, schedule: dict) -> RowAdamW:
        """RowAdamW on fastai's one-cycle schedule: row steps for embedding tables unless ``kind``
        is "dense" or lr × wd is large enough to flip signs; AdamW on everything else."""
        lrs, b1s = one_cycle(self.total, self.s.lr, **schedule)
        has_rows = bool(getattr(self.model, "row_params", None))
        dense = kind == "dense" or not has_rows
        if kind == "auto" and has_rows:
            dense = bool((lrs * self.s.wd).max() >= 0.5)  # lr × wd this large flips signs
        opt = RowAdamW(self.model, lrs, b1s, self.s.wd, dense=dense)
        self.dense_names = [k for k, p in opt.dense_params.items() if p.requires_grad]
        self.dense_inputs = [opt.dense_params[k] for k in self.dense_names]
        return opt

    def run(self) -> Run:
        with self.lock:
            start_loss, _ = evaluate(self.model, self.loss_func, self.valid)
        self.guard = Divergence(start_loss, self.factor, self.model)
        self.stream = Stream(self.callback, self.every, self.total)
        self.epoch_start = self.stream.t0
        self.model.train()
        try:
            for epoch in range(self.s.epochs):
                self.do_epoch(epoch)
        except Stopped as e:
            return self.stopped(epoch, e.batch)
        except Diverged as e:
            return self.diverged(str(e))
        res = self.res
        res.message = f"Trained {self.s.epochs} epoch(s), {self.total} steps of {self.bs}."
        self.stream.end("done", self.s.epochs, self.opt.t, res.seconds, res.message)
        return res

    def batches(self) -> Iterable:
        """An epoch's batches: slices of one shuffled gather of tensors, or the given iterable's."""
        if self.tensors is None:
            return _batches(self.train, self.bs, self.device)
        (tx, ty), bs = self.tensors, self.bs
        perm = torch.randperm(self.n, generator=self.gen)[: self.per_epoch * bs].to(self.device)
        ex, ey = _map(tx, lambda t: t.index_select(0, perm)), ty.index_select(0, perm)
        return (
            (_map(ex, lambda t, b=b: t[b * bs : (b + 1) * bs]), ey[b * bs : (b + 1) * bs])
            for b in range(self.per_epoch)
        )

    def do_epoch(self, epoch: int) -> None:
        stream = self.stream
        stream.reset()
        for b, (xb, yb) in enumerate(self.batches()):
            if self.stop():
                raise Stopped(b)
            stream.add(self.one_batch(xb, yb, f"at step {b + 1} of epoch {epoch + 1}"))
            if stream.due(b, self.per_epoch):
                self.guard.check(
                    "Train loss", stream.window, f"at step {b + 1} of epoch {epoch + 1}"
                )
                stream.step(epoch + (b + 1) / self.per_epoch, self.opt.t)
        vl, mets = self.validate()
        now = time.perf_counter()
        entry = dict(
            epoch=epoch + 1,
            train_loss=stream.run_loss / max(stream.run_n, 1),
            valid_loss=vl,
            seconds=now - self.epoch_start,
            **mets,
        )
        self.epoch_start = now
        self.res.steps, self.res.seconds = self.opt.t, now - stream.t0
        self.guard.check("Valid loss", vl, f"after epoch {epoch + 1}")
        self.res.history.append(entry)
        self.guard.keep(self.model, epoch + 1)
        stream.epoch(entry, self.opt.t, now - stream.t0, window=True)

    def one_batch(self, xb: Any, yb: torch.Tensor, where: str) -> float:
        """One step under the lock (readers see whole steps); returns the batch's loss."""
        xb, yb = _map(xb, lambda t: t.to(self.device)), yb.to(self.device)
        opt = self.opt
        with self.lock:
            leaves, xl = opt.gather(xb)
            pred = (  # gathered rows stand in for their tables (no weights are tied)
                functional_call(self.model, leaves, _args(xl), tie_weights=False, strict=False)
                if leaves
                else self.model(*_args(xl))
            )
            loss = self.loss_func(pred, yb)
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise Diverged(f"Loss became {lv} {where}")
            grads = torch.autograd.grad(
                loss, [*leaves.values(), *self.dense_inputs], allow_unused=True
            )
            opt.step(leaves, dict(zip([*leaves, *self.dense_names], grads, strict=True)))
        return lv

    def validate(self) -> tuple[float, dict[str, float]]:
        with self.lock:
            self.opt.catch_up()
            return evaluate(self.model, self.loss_func, self.valid, self.metrics)

    def stopped(self, epoch: int, b: int) -> Run:
        """Stop: keep the last finished step's weights and record the cut epoch as ``partial``."""
        res, stream = self.res, self.stream
        vl, mets = self.validate()
        now = time.perf_counter()
        done = epoch + b / self.per_epoch
        if stream.run_n or not res.history:  # else the last epoch's entry is the last step
            entry = dict(
                epoch=round(done, 3),
                train_loss=stream.run_loss / stream.run_n if stream.run_n else math.nan,
                valid_loss=vl,
                seconds=now - self.epoch_start,
                **mets,
                partial=True,
            )
            res.history.append(entry)
            stream.epoch(entry, self.opt.t, now - stream.t0)
        res.status, res.steps, res.seconds = "stopped", self.opt.t, now - stream.t0
        res.message = (
            f"Stopped after {self.opt.t} of {self.total} steps "
            f"(epoch {done:.2f} of {self.s.epochs})."
        )
        stream.end("stopped", done, self.opt.t, res.seconds, res.message)
        return res

    def diverged(self, why: str) -> Run:
        """Diverged: the last good epoch's weights come back and the history ends there."""
        res, guard = self.res, self.guard
        back = guard.restore(self.model, self.lock)
        del res.history[guard.good_epochs :]
        res.status, res.steps, res.seconds = "diverged", self.opt.t, self.stream.seconds
        res.message = (
            f"{why}: lr={self.s.lr:g} (wd={self.s.wd:g}) is too high for this model. Stopped and "
            f"restored the weights from {back}."
        )
        self.stream.end("diverged", guard.good_epochs, self.opt.t, res.seconds, res.message)
        return res


def fit(
    model: nn.Module,
    loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train: Data,
    valid: Data,
    settings: FitSettings | None = None,
    *,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
    optimizer: str = "auto",
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    seed: int | None = 0,
    lock: Any = None,
    reports_per_epoch: int = 10,
    diverge_factor: float = 4.0,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
    single_thread: bool = True,
) -> Run:
    """Train ``model`` with the one-cycle schedule and AdamW; returns the :class:`Run`.

    ``optimizer``: "row" (RowAdamW on the model's ``row_params``: embedding models), "dense"
    (AdamW on every parameter: CNNs, tabular heads) or "auto" (rows when the model has them and
    ``lr × wd`` stays small). ``lock`` is held around each step so readers see whole steps.
    ``diverge_factor``: a train or valid loss this many times the starting valid loss is divergence.
    A Stop keeps the weights of the last finished step and records a ``partial`` epoch.
    ``pct_start``, ``div``, ``div_final`` and ``moms`` shape fastai's one-cycle schedule.
    """
    one = Fit(
        model,
        loss_func,
        train,
        valid,
        settings if settings is not None else FitSettings(),
        metrics=metrics,
        optimizer=optimizer,
        stop=Stop(should_stop),
        callback=callback,
        seed=seed,
        lock=lock,
        reports_per_epoch=reports_per_epoch,
        diverge_factor=diverge_factor,
        schedule=dict(pct_start=pct_start, div=div, div_final=div_final, moms=moms),
    )
    with one_thread(single_thread and one.device.type == "cpu"):
        return one.run()


def _epoch_event(entry: dict, step: int, total: int, seconds: float) -> TrainEvent:
    known = {"epoch", "train_loss", "valid_loss", "seconds", "partial"}
    return TrainEvent(
        "epoch",
        epoch=entry["epoch"],
        step=step,
        total=total,
        seconds=seconds,
        train_loss=entry["train_loss"],
        valid_loss=entry["valid_loss"],
        metrics={k: v for k, v in entry.items() if k not in known},
        partial=bool(entry.get("partial", False)),
        window_loss=entry["train_loss"],
    )
