"""fastai's own training, seen through this package's eyes: one bridge for every "compare with
fastai" runner (collab, tabular, CNN).

``fit_one_cycle_fastai(make_learner, epochs, lr, wd, ...)`` builds the learner under a seed, runs
fastai's ``fit_one_cycle`` with a fastai ``Callback`` that turns its batches and epochs into the
same :class:`TrainEvent` values the shared loop streams (step, epoch, done | stopped), checks
``should_stop()`` every batch, and returns a :class:`Run` with the same history fields as ours
(mean train loss of the epoch, fastai's valid loss, its metrics). fastai is imported only here,
and only when a runner calls it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from .._threads import one_thread
from .events import Run, TrainEvent

__all__ = ["fit_one_cycle_fastai", "stream_callback"]


def stream_callback(
    res: Run,
    emit: Callable[[TrainEvent], Any],
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    valid_as: str | None = None,
):
    """A fastai ``Callback`` that fills ``res.history`` and streams events to ``emit``.

    Each epoch's entry holds ``epoch``, ``train_loss`` (the mean over the epoch's batches, as our
    loop reports it, not the Recorder's smoothed value), ``valid_loss``, ``seconds``, every metric
    the learner records by name (``accuracy``), and ``valid_as`` (e.g. "valid_mse") set to the
    valid loss when the loss is that metric. ``should_stop()`` returning True cancels the fit and
    sets ``res.status = "stopped"``.
    """
    from fastai.callback.core import Callback, CancelFitException

    class Stream(Callback):
        order = 60  # after the Recorder, which has the epoch's valid loss and metrics by then

        def before_fit(self):
            self.per_epoch = len(self.dls.train)
            self.total = self.per_epoch * self.n_epoch
            self.every = max(1, self.per_epoch // max(1, reports_per_epoch))
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
            done = self.iter + 1
            if done < self.per_epoch and done % self.every == 0:
                emit(
                    TrainEvent(
                        "step",
                        epoch=self.epoch + done / self.per_epoch,
                        step=self.step,
                        total=self.total,
                        seconds=time.perf_counter() - self.t0,
                        train_loss=self.win / self.win_n,
                    )
                )
                self.win, self.win_n = 0.0, 0
            if should_stop is not None and should_stop():
                res.status = "stopped"
                raise CancelFitException()

        def after_epoch(self):
            now = time.perf_counter()
            values = list(self.recorder.values[-1])  # [train (smoothed), valid, *metrics]
            names = [m.name for m in self.learn.metrics]
            valid = float(values[1])
            metrics = {n: float(v) for n, v in zip(names, values[2:], strict=False)}
            if valid_as:
                metrics[valid_as] = valid
            train = self.sum / max(self.n, 1)
            entry = dict(
                epoch=self.epoch + 1,
                train_loss=train,
                valid_loss=valid,
                seconds=now - self.e0,
                **metrics,
            )
            self.e0 = now
            res.history.append(entry)
            emit(
                TrainEvent(
                    "epoch",
                    epoch=self.epoch + 1,
                    step=self.step,
                    total=self.total,
                    seconds=now - self.t0,
                    train_loss=train,
                    valid_loss=valid,
                    metrics=metrics,
                    window_loss=self.win / self.win_n if self.win_n else train,
                )
            )

    return Stream()


def fit_one_cycle_fastai(
    make_learner: Callable[[], Any],
    epochs: int,
    lr: float,
    wd: float,
    *,
    result: Run | None = None,
    seed: int | None = 0,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    valid_as: str | None = None,
    single_thread: bool | None = None,
    unit: str = "rows",
) -> Run:
    """``make_learner().fit_one_cycle(epochs, lr, wd=wd)``, seeded, streamed, timed.

    ``make_learner`` runs under ``seed`` (torch, NumPy and Python's ``random``, which fastai's
    DataLoader shuffles with), so the same seed gives fastai the same initial weights and batch
    order; the callers' generators are restored afterwards. ``single_thread``: None runs on one
    intra-op thread only off the main thread (there OpenMP cost fastai ~50%; on the main thread two
    threads win), True or False always or never. ``seconds`` counts ``fit_one_cycle`` only. A
    Stop (``should_stop``) adds a ``partial`` entry with fastai's valid loss at that point. The
    learner is handed back in ``result.learner`` without the streaming callback.
    """
    res = result if result is not None else Run()
    emit = callback or (lambda e: None)
    if single_thread is None:
        single_thread = threading.current_thread() is not threading.main_thread()
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with one_thread() if single_thread else nullcontext(), torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
                np.random.seed(int(seed))
                random.seed(int(seed))
            learn = make_learner()
            import fastai.callback.progress  # noqa: F401  (adds Learner.no_bar)
            import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle)

            stream = stream_callback(res, emit, should_stop, reports_per_epoch, valid_as)
            learn.add_cb(stream)
            t0 = time.perf_counter()
            try:
                with learn.no_bar(), learn.no_logging():
                    learn.fit_one_cycle(epochs, lr, wd=wd)
            finally:
                learn.remove_cb(stream)  # the learner handed back behaves like a plain fastai one
            res.seconds = time.perf_counter() - t0
            per_epoch = len(learn.dls.train)
            res.steps, res.learner, res.bs = learn.train_iter, learn, learn.dls.train.bs
            total = per_epoch * epochs
            if res.status == "stopped":
                done = res.steps / per_epoch
                if not res.history or res.history[-1]["epoch"] < done:
                    with learn.no_bar(), learn.no_logging():
                        found = [float(v) for v in learn.validate()]
                    names = [m.name for m in learn.metrics]
                    metrics = dict(zip(names, found[1:], strict=False))
                    if valid_as:
                        metrics[valid_as] = found[0]
                    res.history.append(
                        dict(
                            epoch=round(done, 3),
                            train_loss=float("nan"),
                            valid_loss=found[0],
                            seconds=0.0,
                            **metrics,
                            partial=True,
                        )
                    )
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    res.message = (
        f"fastai stopped after {res.steps} of {total} steps."
        if res.status == "stopped"
        else f"fastai trained {epochs} epoch(s), {total} steps of {res.bs} {unit}."
    )
    emit(
        TrainEvent(
            res.status,
            epoch=res.epochs_done,
            step=res.steps,
            total=total,
            seconds=res.seconds,
            message=res.message,
        )
    )
    return res
