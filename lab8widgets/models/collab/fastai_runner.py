"""fastai's own ``collab_learner`` on the same split as a CollabData, streaming the same events
as ``fit_collab`` (fastai is imported only when this runs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from .._threads import one_thread
from ..train import TrainEvent
from .data import CollabData
from .fit import FitResult, check_fit_args
from .modules import _as_y_range

__all__ = ["fastai_dls", "fit_fastai"]


def fastai_dls(data: CollabData, bs: int = 64):
    """fastai ``DataLoaders`` over the same rows, split and class numbering as ``data``."""
    from fastai.collab import TabularCollab
    from fastai.data.block import TransformBlock
    from fastai.tabular.core import Categorify

    splits = (data.train_idx.tolist(), data.valid_idx.tolist())
    to = TabularCollab(
        data.frame,
        [Categorify],
        [data.user_name, data.item_name],
        y_names=[data.rating_name],
        y_block=TransformBlock(),
        splits=splits,
    )
    return to.dataloaders(path=".", bs=bs)


def fit_fastai(
    data: CollabData,
    epochs: int = 5,
    lr: float = 5e-3,
    wd: float = 0.1,
    n_factors: int = 50,
    y_range: Sequence[float] | None = (0, 5.5),
    use_nn: bool = False,
    n_act: int = 100,
    bs: int = 64,
    *,
    seed: int | None = 0,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    dls: Any = None,
) -> FitResult:
    """fastai's own ``collab_learner(...).fit_one_cycle(epochs, lr, wd=wd)`` on the same split.

    Streams the same events as ``fit_collab``; ``seconds`` counts fitting only (not building the
    DataLoaders). The learner is returned in ``result.learner``.
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    from fastai.callback.core import Callback, CancelFitException
    from fastai.collab import collab_learner

    y_range = _as_y_range(y_range)
    dls = dls if dls is not None else fastai_dls(data, bs=bs)
    emit = callback or (lambda e: None)
    res = FitResult(bs=bs)
    per_epoch = len(dls.train)
    total = per_epoch * epochs
    every = max(1, per_epoch // max(1, reports_per_epoch))

    class Stream(Callback):
        order = 60  # after Recorder, which computes valid_loss in after_epoch

        def before_fit(self):
            self.t0 = self.e0 = time.perf_counter()
            self.step = 0

        def before_epoch(self):
            self.loss_sum, self.n, self.win, self.win_n = 0.0, 0, 0.0, 0

        def after_batch(self):
            if not self.training:
                return
            lv = float(self.loss.detach())
            self.step += 1
            self.loss_sum += lv
            self.n += 1
            self.win += lv
            self.win_n += 1
            if self.iter + 1 < per_epoch and (self.iter + 1) % every == 0:
                emit(
                    TrainEvent(
                        "step",
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
            valid = float(self.recorder.values[-1][1])
            entry = dict(
                epoch=self.epoch + 1,
                train_loss=self.loss_sum / max(self.n, 1),
                valid_loss=valid,
                seconds=now - self.e0,
                valid_mse=valid,
            )
            self.e0 = now
            res.history.append(entry)
            emit(
                TrainEvent(
                    "epoch",
                    epoch=entry["epoch"],
                    step=self.step,
                    total=total,
                    seconds=now - self.t0,
                    train_loss=entry["train_loss"],
                    valid_loss=valid,
                    metrics={"valid_mse": valid},
                )
            )

    stream = Stream()
    learn = collab_learner(
        dls,
        n_factors=n_factors,
        use_nn=use_nn,
        layers=[n_act] if use_nn else None,
        y_range=y_range,
        cbs=[stream],
    )
    np_state = np.random.get_state()
    # Off the main thread, OpenMP costs fastai ~50% (measured 9.2 s an epoch with 2 threads
    # against 7.2 s with 1; on the main thread 2 threads win): give it the faster setting.
    off_main = threading.current_thread() is not threading.main_thread()
    try:
        with one_thread() if off_main else nullcontext(), torch.random.fork_rng():
            if seed is not None:
                torch.manual_seed(seed)
                np.random.seed(seed)
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(epochs, lr, wd=wd)
            res.seconds = time.perf_counter() - t0
    finally:
        np.random.set_state(np_state)
        learn.remove_cb(stream)  # the learner handed back behaves like a plain fastai one
    res.steps = learn.train_iter
    res.learner = learn
    if res.status == "stopped":
        done = res.steps / per_epoch
        if not res.history or res.history[-1]["epoch"] < done:
            with learn.no_bar(), learn.no_logging():
                mse = float(learn.validate()[0])
            res.history.append(
                dict(
                    epoch=round(done, 3),
                    train_loss=float("nan"),
                    valid_loss=mse,
                    seconds=0.0,
                    valid_mse=mse,
                    partial=True,
                )
            )
        res.message = f"fastai stopped after {res.steps} of {total} steps."
    else:
        res.message = f"fastai trained {epochs} epoch(s), {total} steps of {bs} ratings."
    return res
