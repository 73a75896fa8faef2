"""A small CNN on MNIST digits, as Lesson 8 ends its tour: conv layers, an activation, dropout, and
four ways to get from feature maps to class scores (the "head").

- ``maxpool``: 3×3 convolutions with stride 1, each followed by a 2×2 max pool (the spreadsheet's
  and the classic LeNet shape), then flatten and a linear layer.
- ``stride2``: stride-2 convolutions do the downsampling instead of pooling (fastbook's
  ``simple_cnn``), then flatten and a linear layer.
- ``avgpool``: the stride-2 body, then global average pooling (``AdaptiveAvgPool2d(1)``) and a
  linear layer: a head that works for any image size.
- ``concatpool``: the stride-2 body, then fastai's ``AdaptiveConcatPool2d`` (max and average pooled
  features side by side) and a linear layer.

Dropout (``nn.Dropout``, inverted scaling by ``1/(1-p)``) sits before the last linear layer
("head"), after every conv activation ("conv", the spreadsheet's masked activations) or both.
The modules are named (``conv1``, ``act1``, ``pool1``, ``drop``, ``fc`` …) so a notebook can reach
``lab.model.conv1.weight``. Pure torch; fastai is imported only by the comparison helper.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ACTIVATION_NAMES, make_activation
from ..settings import setting
from ..train import FitSettings, Run, TrainEvent, fit, model_device
from ..train.fastai_bridge import fit_one_cycle_fastai

__all__ = [
    "ACTIVATIONS",
    "DIGIT_SETS",
    "DROPOUT_AT",
    "HEADS",
    "AdaptiveConcatPool2d",
    "CNNData",
    "CNNSettings",
    "OVERFIT",
    "OVERFIT_DROPOUT",
    "accuracy",
    "cnn_data",
    "evaluate",
    "fit_cnn",
    "fit_fastai",
    "make_cnn",
    "misclassified",
]

HEADS = ("maxpool", "stride2", "avgpool", "concatpool")
ACTIVATIONS = ACTIVATION_NAMES  # relu, leaky_relu, gelu, silu, mish, sigmoid, tanh
DROPOUT_AT = ("head", "conv", "both")
DIGIT_SETS = ("3 vs 7", "0-9")
N_CONV = 3  # three conv layers: 28 → 14 → 7 → 3 (max-pool) or 4 (stride 2)


@dataclass(frozen=True)
class CNNSettings(FitSettings):
    """Everything a learner picks for one CNN run: the fit loop's ``epochs``, ``lr``, ``wd``,
    ``bs`` and the network's shape; ``validate()`` refuses bad values by name."""

    lr: float = setting(1e-2, lo=0, hi=10, lo_open=True, log=True, label="lr")
    wd: float = setting(0.01, lo=0, hi=100, label="wd")  # fastai's default for a Learner

    head: str = setting("maxpool", choices=HEADS, help="how feature maps become class scores")
    activation: str = setting("relu", choices=ACTIVATIONS, help="the non-linearity after a conv")
    dropout: float = setting(
        0.0, lo=0.0, hi=0.99, label="dropout p", help="probability of zeroing an activation"
    )
    dropout_at: str = setting("head", choices=DROPOUT_AT, label="dropout at")
    channels: int = setting(8, lo=1, hi=128, help="filters of conv1 (conv2 has 2×, conv3 4×)")
    digits: str = setting("3 vs 7", choices=DIGIT_SETS)
    train_size: int = setting(
        0, lo=0, hi=100_000, label="train size", help="training images to use (0: all)"
    )
    seed: int = setting(0, lo=0, hi=2**31 - 1, help="weights, split and batch order")


# --- layers ---------------------------------------------------------------------------------------


class AdaptiveConcatPool2d(nn.Module):
    """fastai's ``AdaptiveConcatPool2d``: max-pooled and average-pooled features, concatenated
    (max first), so the head sees both the strongest and the typical response of each channel."""

    def __init__(self, size: int = 1):
        super().__init__()
        self.size = size
        self.ap = nn.AdaptiveAvgPool2d(size)
        self.mp = nn.AdaptiveMaxPool2d(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


def make_cnn(
    settings: CNNSettings | None = None, n_classes: int = 2, **changes: Any
) -> nn.Sequential:
    """The small CNN ``settings`` describe (``changes`` override fields, checked by name).

    Weights are drawn from ``settings.seed`` without touching the global torch generator, so two
    calls with the same settings give the same model (and fastai can be handed an exact copy).
    """
    s = (settings or CNNSettings()).replace(**changes) if changes else (settings or CNNSettings())
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer ≥ 2, got {n_classes!r}")
    with torch.random.fork_rng(devices=[]):  # modules draw weights on construction; _init redraws
        model = _build(s, n_classes)
    _init(model, s.seed)
    # channels-last weights make the convolutions hand channels-last maps to the pooling, whose
    # CPU kernel is ~3× faster on them (measured: 5 epochs of the max-pool net 25-55% faster)
    return model.to(memory_format=torch.channels_last)


def _build(s: CNNSettings, n_classes: int) -> nn.Sequential:
    conv_drop = s.dropout > 0 and s.dropout_at in ("conv", "both")
    head_drop = s.dropout > 0 and s.dropout_at in ("head", "both")
    stride = 1 if s.head == "maxpool" else 2
    widths = [1] + [s.channels * 2**i for i in range(N_CONV)]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    size = 28
    for i in range(N_CONV):
        n = i + 1
        layers[f"conv{n}"] = nn.Conv2d(widths[i], widths[i + 1], 3, stride=stride, padding=1)
        layers[f"act{n}"] = make_activation(s.activation)  # models.layers, shared with ConvLab
        if conv_drop:
            layers[f"drop{n}"] = nn.Dropout(s.dropout)
        if s.head == "maxpool":
            layers[f"pool{n}"] = nn.MaxPool2d(2)
            size //= 2
        else:
            size = (size + 1) // 2
    last = widths[-1]
    if s.head == "avgpool":
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        features = last
    elif s.head == "concatpool":
        layers["pool"] = AdaptiveConcatPool2d(1)
        features = 2 * last
    else:
        features = last * size * size
    layers["flatten"] = nn.Flatten()
    if head_drop:
        layers["drop"] = nn.Dropout(s.dropout)
    layers["fc"] = nn.Linear(features, n_classes)
    return nn.Sequential(layers)


def _init(model: nn.Module, seed: int) -> None:
    """Re-draw every weight from a private generator (PyTorch's default init, seeded)."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=√5) gives exactly this bound
                m.weight.uniform_(-bound, bound, generator=gen)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=gen)


# --- data -----------------------------------------------------------------------------------------


@dataclass
class CNNData:
    """Train and valid tensors (N, 1, 28, 28) in [0, 1], class indices, and the digit each means."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    vocab: tuple[int, ...]  # class index → digit
    source: str

    @property
    def n_classes(self) -> int:
        return len(self.vocab)

    def describe(self) -> str:
        return (
            f"{len(self.train_y):,} train / {len(self.valid_y):,} valid images of "
            f"{', '.join(map(str, self.vocab))}"
        )


def _stratified(labels: np.ndarray, frac: float, gen: np.random.Generator) -> np.ndarray:
    """Indices of about ``frac`` of every class (at least one each), in a seeded random order."""
    picked = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        gen.shuffle(rows)
        picked.append(rows[: max(1, round(len(rows) * frac))])
    out = np.concatenate(picked)
    gen.shuffle(out)
    return out


def cnn_data(
    digits: str | Sequence[int] = "3 vs 7",
    train_size: int = 0,
    valid_pct: float = 0.2,
    seed: int = 0,
    *,
    path: str | Path | None = None,
    images: Any = None,
    labels: Any = None,
    source: str = "",
) -> CNNData:
    """Digits for the CNN: split (stratified, seeded) into train and valid, train cut to ``train_size``.

    ``digits`` is ``"3 vs 7"``, ``"0-9"`` or a list of digits. Images come from ``images``/``labels``
    when given, else :func:`lab8widgets.data.mnist.mnist_digits` (full MNIST or fastai's
    ``mnist_sample`` from the fastai cache, or the shipped subset). The valid set does not change
    with ``train_size``, so runs on smaller training sets are compared on the same valid images.
    """
    wanted = _digit_list(digits)
    if not 0 < float(valid_pct) < 1:
        raise ValueError(f"valid_pct must be in (0, 1), got {valid_pct!r}")
    if images is None:
        from ...data.mnist import mnist_digits

        d = mnist_digits(wanted, path=path)
        images, labels, source = d.images, d.labels, d.source
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, H, W) and N labels, got {images.shape}, {labels.shape}"
        )
    keep = np.isin(labels, wanted)
    images, labels = images[keep], labels[keep]
    vocab = tuple(int(c) for c in np.unique(labels))
    if len(vocab) < 2:
        raise ValueError(f"need images of at least two digits, got {list(vocab)}")
    gen = np.random.default_rng(seed)
    valid = _stratified(labels, valid_pct, gen)
    train = np.setdiff1d(np.arange(len(labels)), valid)
    gen.shuffle(train)
    if train_size:
        if train_size < len(vocab):
            raise ValueError(
                f"train_size must be 0 (all) or at least one image per class ({len(vocab)}), "
                f"got {train_size}"
            )
        if train_size < len(train):
            sub = _stratified(labels[train], train_size / len(train), gen)[:train_size]
            train = train[sub]
    index = {d: i for i, d in enumerate(vocab)}
    y = torch.tensor([index[int(v)] for v in labels], dtype=torch.long)
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    tr, va = torch.from_numpy(train), torch.from_numpy(valid)
    return CNNData(x[tr], y[tr], x[va], y[va], vocab, source)


def _digit_list(digits: str | Sequence[int]) -> tuple[int, ...]:
    if isinstance(digits, str):
        if digits == "3 vs 7":
            return (3, 7)
        if digits in ("0-9", "all"):
            return tuple(range(10))
        raise ValueError(
            f"digits must be one of {', '.join(map(repr, DIGIT_SETS))} or a list of digits, "
            f"got {digits!r}"
        )
    from ...data.mnist import _check_digits

    return _check_digits(digits)


# --- reading a model ------------------------------------------------------------------------------


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

# "Dropout off vs on": a training set small enough for the CNN to memorise (100 digits of 0-9),
# many epochs at a high lr, so without dropout the valid loss turns and climbs while train loss
# falls to ~0. p=0.5 on every conv activation (the spreadsheet's masked activations) keeps it from
# memorising. Measured over split seeds 0-3 and all four heads: off, the valid loss rises 0.2-1.8
# above its lowest point (except avgpool on two seeds, too few weights to memorise); on, it rises
# at most 0.17× as much. Dropout before the last layer alone helps the max-pool net much less.
OVERFIT = dict(digits="0-9", train_size=100, epochs=25, lr=3e-2, bs=16, wd=0.01, seed=0)
OVERFIT_DROPOUT = dict(dropout=0.5, dropout_at="conv")


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
        make_learner, s.epochs, s.lr, s.wd, result=Run(bs=bs), seed=s.seed, callback=callback,
        should_stop=should_stop, single_thread=single_thread, unit="images",
    )  # fmt: skip
