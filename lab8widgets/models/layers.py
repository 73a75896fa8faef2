"""Non-linearities and a reproducible dropout, pure torch: ConvLab shows them, a CNN trainer reuses them.

* ``ACTIVATIONS`` / ``make_activation(name)``: ReLU, LeakyReLU, GELU, SiLU, Mish, sigmoid, tanh as
  ``nn.Module``s; ``activation_name(module)`` reads the name back from a module.
* ``activation_curve(name, x)``: the function and its derivative, the derivative from autograd.
* ``SeededDropout``: inverted dropout (train: keep with probability 1 − p and scale by 1/(1 − p);
  eval: identity) whose mask comes from a seed, so the same seed gives the same mask and a new
  seed a new one. The mask equals ``F.dropout``'s under ``torch.manual_seed(seed)``.
* ``SparseDropout``: ``nn.Dropout`` (same distribution, same scaling) that draws only the dropped
  positions, as geometric gaps: at the small p tabular models use, the CPU draws ~p·n random
  numbers instead of n (a 512×200 batch at p = 0.001: ~60 µs instead of ~380 µs).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "SeededDropout",
    "SparseDropout",
    "activation_curve",
    "activation_name",
    "check_p",
    "dropout_mask",
    "dropped_positions",
    "make_activation",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)
# How the lesson writes each one, for titles.
FORMULAS = {
    "relu": "max(0, x)",
    "leaky_relu": "max(0.01x, x)",
    "gelu": "x·Φ(x)",
    "silu": "x·σ(x)",
    "mish": "x·tanh(softplus(x))",
    "sigmoid": "1 / (1 + e⁻ˣ)",
    "tanh": "tanh(x)",
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (ValueError listing the names otherwise)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATION_NAMES))}, got {name!r}"
        )
    return ACTIVATIONS[name]()


def activation_name(module: nn.Module) -> str | None:
    """The name of ``module``'s activation (None for a module that is none of ours)."""
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    return None


def activation_curve(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(x), f'(x)) for activation ``name``; the derivative by autograd, not a written formula."""
    fn = make_activation(name)
    xs = x.detach().clone().to(torch.float64).requires_grad_(True)
    with torch.enable_grad():
        y = fn(xs)
        (dy,) = torch.autograd.grad(y.sum(), xs)
    return y.detach(), dy.detach()


def check_p(p: Any) -> float:
    """A dropout probability in [0, 1), or a ValueError saying so."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not math.isfinite(float(p)):
        raise ValueError(f"dropout p must be a number in [0, 1), got {p!r}")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"dropout p must be a number in [0, 1), got {p!r}")
    return float(p)


def dropout_mask(shape: tuple[int, ...], p: float, seed: int) -> torch.Tensor:
    """The 0/1 keep-mask ``F.dropout`` draws for ``shape`` after ``torch.manual_seed(seed)``.

    Drawn on the CPU with the global generator forked, so the caller's random state is untouched.
    (``F.dropout`` on the CPU draws ``bernoulli_(1 − p)`` over the input's shape, whatever its values.)
    """
    p = check_p(p)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        kept = F.dropout(torch.ones(shape), p, training=True)
    return (kept != 0).to(torch.float32)


class SeededDropout(nn.Module):
    """Inverted dropout with a fixed, reproducible mask (``seed``) for every forward in train mode."""

    def __init__(self, p: float = 0.0, seed: int = 0):
        super().__init__()
        self.p = check_p(p)
        self.seed = int(seed)

    def mask(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The 0/1 mask this layer applies to activations of ``shape`` (all ones when off)."""
        if not self.training or self.p == 0.0:
            return torch.ones(shape)
        return dropout_mask(shape, self.p, self.seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        m = self.mask(tuple(x.shape)).to(device=x.device, dtype=x.dtype)
        return x * (m / (1.0 - self.p))  # as F.dropout scales: the mask first, then the product

    def extra_repr(self) -> str:
        return f"p={self.p}, seed={self.seed}"


SPARSE_MAX_P = 0.1  # above this a dense draw is as cheap (measured: equal near p = 0.3 on 512×200)


def dropped_positions(n: int, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sorted flat positions (int64) that independent Bernoulli(p) draws over ``n`` elements drop.

    The gaps between successive dropped positions of a Bernoulli(p) sequence are geometric(p), so
    their running sums are the positions: exactly the distribution of ``F.dropout``'s zeros, from
    ~n·p random numbers drawn by torch's generator (``torch.manual_seed`` makes it repeatable).
    """
    if n <= 0 or p <= 0.0:
        return torch.zeros(0, dtype=torch.long)
    mean = n * p
    k = int(mean + 6.0 * math.sqrt(mean) + 16)  # enough gaps to pass n almost always
    pos = torch.empty(k, dtype=torch.long).geometric_(p, generator=generator).cumsum_(0)
    while int(pos[-1]) <= n:  # rare: draw more gaps after the last one
        more = torch.empty(k, dtype=torch.long).geometric_(p, generator=generator)
        pos = torch.cat([pos, more.cumsum_(0).add_(pos[-1])])
    return pos[: int(torch.searchsorted(pos, n, right=True))].sub_(1)


class SparseDropout(nn.Dropout):
    """``nn.Dropout`` that, on the CPU at p ≤ 0.1, draws only the positions it zeroes.

    Same layer, same distribution (each element zeroed independently with probability p, the rest
    scaled by 1/(1 − p), as ``F.dropout``), same ``state_dict`` (none); only the random numbers
    differ: ``dropped_positions`` instead of one ``bernoulli_`` per element, which is most of a
    tabular training step's time on a CPU otherwise. Elsewhere (GPU, larger p) it is ``nn.Dropout``.

    The positions are drawn for a stream of ``POOL`` batches at once and each forward takes the
    next ``numel`` elements of that stream (a stretch of a Bernoulli sequence is one too): a few
    small ops a step instead of a dozen. ``train()``/``eval()`` drop the pool, so a run that seeds
    torch's generator and then calls ``model.train()`` draws the same masks every time.
    """

    POOL = 64  # batches of positions drawn at once

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__(p, inplace)
        self._pool: torch.Tensor | None = None
        self._sorted = np.zeros(0, np.int64)  # the pool's numbers, for a cheap searchsorted
        self._span = self._at = 0

    def train(self, mode: bool = True) -> SparseDropout:
        self._pool = None
        return super().train(mode)

    def _positions(self, n: int) -> torch.Tensor:
        """Flat positions to drop in the next ``n`` elements of the stream."""
        if self._pool is None or self._at + n > self._span:
            self._span, self._at = max(self.POOL * n, 1 << 16), 0
            self._pool = dropped_positions(self._span, self.p)
            self._sorted = self._pool.numpy()
        lo, hi = np.searchsorted(self._sorted, (self._at, self._at + n)).tolist()
        pos = self._pool[lo:hi] - self._at
        self._at += n
        return pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sparse = 0.0 < self.p <= SPARSE_MAX_P and not self.inplace and x.device.type == "cpu"
        if not (self.training and sparse):
            return super().forward(x)
        # a mask and one product (autograd's own node): cheaper than a Python autograd Function
        mask = torch.full(x.shape, 1.0 / (1.0 - self.p), dtype=x.dtype)
        mask.view(-1).index_fill_(0, self._positions(x.numel()), 0.0)
        return x * mask
