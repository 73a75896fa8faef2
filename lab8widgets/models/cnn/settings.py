"""What a learner picks for one CNN run (``CNNSettings``) and the choices each field offers."""

from __future__ import annotations

from dataclasses import dataclass

from ..layers import ACTIVATION_NAMES
from ..settings import setting
from ..train import FitSettings

__all__ = ["ACTIVATIONS", "DIGIT_SETS", "DROPOUT_AT", "HEADS", "N_CONV", "CNNSettings"]

HEADS = ("maxpool", "stride2", "avgpool", "concatpool")
ACTIVATIONS = ACTIVATION_NAMES  # relu, leaky_relu, gelu, silu, mish, sigmoid, tanh
DROPOUT_AT = ("head", "conv1", "conv", "both")
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
