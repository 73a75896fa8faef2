"""fastai's own ``collab_learner`` on the same split as a CollabData, streaming the same events
as ``fit_collab`` (fastai is imported only when this runs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..train import TrainEvent
from ..train.fastai_bridge import fit_one_cycle_fastai
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

    Streams the same events as ``fit_collab`` (through ``models.train.fastai_bridge``); ``seconds``
    counts fitting only (not building the DataLoaders). The learner is in ``result.learner``.
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    from fastai.collab import collab_learner

    y_range = _as_y_range(y_range)

    def make_learner():  # under the seed: its DataLoader draws its shuffling generator here
        d = dls if dls is not None else fastai_dls(data, bs=bs)
        layers = [n_act] if use_nn else None
        return collab_learner(d, n_factors=n_factors, use_nn=use_nn, layers=layers, y_range=y_range)

    return fit_one_cycle_fastai(
        make_learner,
        epochs,
        lr,
        wd,
        result=FitResult(bs=bs),
        seed=seed,
        callback=callback,
        should_stop=should_stop,
        reports_per_epoch=reports_per_epoch,
        valid_as="valid_mse",
        unit="ratings",
    )
