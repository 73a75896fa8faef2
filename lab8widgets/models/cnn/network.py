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
("head"), after the first conv activation only ("conv1": on the first maps of strokes, where the
preset puts it for the global-pool heads), after every conv activation ("conv", the
spreadsheet's masked activations) or both "head" and "conv".
The modules are named (``conv1``, ``act1``, ``pool1``, ``drop``, ``fc`` …) so a notebook can reach
``lab.model.conv1.weight``. Pure torch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..layers import make_activation
from .settings import N_CONV, CNNSettings

__all__ = ["AdaptiveConcatPool2d", "make_cnn"]


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
    conv1_drop = s.dropout > 0 and s.dropout_at == "conv1"
    head_drop = s.dropout > 0 and s.dropout_at in ("head", "both")
    stride = 1 if s.head == "maxpool" else 2
    widths = [1] + [s.channels * 2**i for i in range(N_CONV)]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    size = 28
    for i in range(N_CONV):
        n = i + 1
        layers[f"conv{n}"] = nn.Conv2d(widths[i], widths[i + 1], 3, stride=stride, padding=1)
        layers[f"act{n}"] = make_activation(s.activation)  # models.layers, shared with ConvLab
        if conv_drop or (conv1_drop and n == 1):
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
