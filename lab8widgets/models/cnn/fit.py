"""Reading and training the small CNN: valid loss and accuracy, misclassified digits, and the fit
(the labs' one loop, or fastai's ``Learner`` on the same rows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..train import Run, TrainEvent, fit, model_device
from ..train.fastai_bridge import fit_one_cycle_fastai
from .data import CNNData
from .settings import CNNSettings

__all__ = ["accuracy", "evaluate", "fit_cnn", "fit_fastai", "misclassified"]


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048
) -> tuple[float, float, torch.Tensor]:
    """(cross-entropy loss, accuracy, predicted classes) of ``model`` in eval mode (no dropout)."""
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    total, preds = 0.0, []
    try:
        for i in range(0, len(y), chunk):
            out = model(x[i : i + chunk].to(device)).float().cpu()
            total += float(F.cross_entropy(out, y[i : i + chunk], reduction="sum"))
            preds.append(out.argmax(1))
    finally:
        model.train(was)
    pred = torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)
    n = max(len(y), 1)
    return total / n, float((pred == y).float().sum()) / n, pred


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose highest score is the right class (fastai's ``accuracy``)."""
    return float((out.argmax(dim=-1) == y).float().mean())


def misclassified(pred: torch.Tensor, data: CNNData, limit: int = 24) -> list[tuple[int, int, int]]:
    """(valid index, true digit, predicted digit) of up to ``limit`` wrongly classified valid images."""
    wrong = torch.nonzero(pred != data.valid_y).flatten().tolist()[:limit]
    return [(i, data.vocab[int(data.valid_y[i])], data.vocab[int(pred[i])]) for i in wrong]


def _metrics(out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {"accuracy": accuracy(out, y)}


# --- training -------------------------------------------------------------------------------------


def fit_cnn(
    model: nn.Module,
    data: CNNData,
    settings: CNNSettings | None = None,
    *,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lock: Any = None,
) -> Run:
    """Train ``model`` on ``data`` with fastai's ``fit_one_cycle`` recipe (cross-entropy, AdamW),
    through the labs' one fit loop; each history entry has ``accuracy`` on the valid set.

    A NaN or exploding loss stops the run and restores the last good weights (``run.status``
    "diverged"); ``should_stop()`` ends it after the current step.
    """
    s = settings or CNNSettings()
    devices = [model_device(model)] if model_device(model).type == "cuda" else []
    # dropout draws its masks from torch's global generator: seed it for the run, so the same
    # settings give the same curves, and put the caller's state back afterwards
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(s.seed)
        return fit(
            model,
            F.cross_entropy,
            (data.train_x, data.train_y),
            (data.valid_x, data.valid_y),
            s,
            metrics=_metrics,
            optimizer="dense",
            callback=callback,
            should_stop=should_stop,
            seed=s.seed,
            lock=lock,
        )


def fit_fastai(
    model: nn.Module,
    data: CNNData,
    settings: CNNSettings | None = None,
    *,
    single_thread: bool = True,
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Run:
    """fastai's own ``Learner(dls, model, CrossEntropyLossFlat, metrics=accuracy).fit_one_cycle``
    on the same tensors and batch size (train shuffled, last partial batch dropped, as ours).

    Streams the same events as ``fit_cnn`` (through ``models.train.fastai_bridge``);
    ``run.seconds`` counts ``fit_one_cycle`` only; the learner is in ``run.learner``.
    ``single_thread`` runs it on one intra-op thread, as our loop runs (``False``: torch's default).
    """
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy as fastai_accuracy
    from torch.utils.data import TensorDataset

    s = settings or CNNSettings()
    train = TensorDataset(data.train_x, data.train_y)
    valid = TensorDataset(data.valid_x, data.valid_y)
    bs = min(s.bs, len(train))

    def make_learner():  # under the seed: fastai's DataLoader shuffles with Python's random
        dls = DataLoaders(
            DataLoader(train, bs=bs, shuffle=True, drop_last=True, num_workers=0),
            DataLoader(valid, bs=max(bs, 256), num_workers=0),
            device=torch.device("cpu"),
        )
        return Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=fastai_accuracy)

    return fit_one_cycle_fastai(
        make_learner,
        s.epochs,
        s.lr,
        s.wd,
        result=Run(bs=bs),
        seed=s.seed,
        callback=callback,
        should_stop=should_stop,
        single_thread=single_thread,
        unit="images",
    )
