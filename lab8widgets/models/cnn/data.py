"""Digits for the CNN: a stratified, seeded train/valid split of real MNIST (``cnn_data``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .settings import DIGIT_SETS

__all__ = ["CNNData", "cnn_data"]


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
