"""Lesson 8, claim 2: an embedding is indexing, and indexing is a one-hot matrix product done fast.
``compare_paths`` runs both in value and gradient; ``time_paths`` times both as the vocabulary grows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._threads import one_thread
from .checks import check_indices

# --- 2. lookup = one-hot × matrix -----------------------------------------------------------------


@dataclass
class Lookup:
    """Both paths through the same embedding matrix ``E`` for the same indices, and their gradients.

    ``upstream`` is the gradient fed back into both outputs (the same random tensor), so the
    gradients on ``E`` are compared on a fair, non-trivial signal.
    """

    indices: list[int]
    E: torch.Tensor
    one_hot: torch.Tensor
    product: torch.Tensor
    lookup: torch.Tensor
    upstream: torch.Tensor
    grad_one_hot: torch.Tensor
    grad_lookup: torch.Tensor

    @property
    def max_value_diff(self) -> float:
        return float((self.product - self.lookup).abs().max())

    @property
    def max_grad_diff(self) -> float:
        return float((self.grad_one_hot - self.grad_lookup).abs().max())

    @property
    def values_equal(self) -> bool:
        return torch.equal(self.product, self.lookup)

    @property
    def grads_equal(self) -> bool:
        return torch.allclose(self.grad_one_hot, self.grad_lookup)

    @property
    def nonzero_grad_rows(self) -> list[int]:
        return torch.nonzero(self.grad_lookup.abs().sum(1)).flatten().tolist()


def compare_paths(E: torch.Tensor, indices: Sequence[int], seed: int = 0) -> Lookup:
    """``one_hot(idx) @ E`` and ``F.embedding(idx, E)``, forward and backward, on copies of ``E``."""
    n_rows = E.shape[0]
    idx = check_indices(indices, n_rows)
    base = E.detach().clone()
    t = torch.tensor(idx, device=base.device)
    e1 = base.clone().requires_grad_(True)
    e2 = base.clone().requires_grad_(True)
    with one_thread():  # small tensors: a second OpenMP thread only costs on a busy machine
        one_hot = F.one_hot(t, n_rows).to(base.dtype)
        product = one_hot @ e1
        lookup = F.embedding(t, e2)
        gen = torch.Generator().manual_seed(seed)
        upstream = torch.randn(lookup.shape, generator=gen).to(base)  # same numbers on any device
        product.backward(upstream)
        lookup.backward(upstream)
    return Lookup(
        idx,
        base,
        one_hot,
        product.detach(),
        lookup.detach(),
        upstream,
        e1.grad.detach(),
        e2.grad.detach(),
    )


def time_paths(
    sizes: Sequence[int] = (10, 100, 1_000, 10_000, 100_000),
    n_idx: int = 64,
    n_factors: int = 50,
    repeats: int = 5,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[float, str], Any] | None = None,
) -> list[dict[str, float]]:
    """Median milliseconds of one forward pass through each path, per vocabulary size.

    The one-hot path builds the (n_idx × vocab) one-hot matrix and multiplies, as the lesson
    writes it; the lookup path indexes. One thread, so a busy machine's second core does not decide.
    Stops early (returning what it has) when ``should_stop()`` turns true.
    """
    out: list[dict[str, float]] = []
    gen = torch.Generator().manual_seed(0)
    with one_thread(), torch.no_grad():
        for k, vocab in enumerate(sizes):
            if should_stop is not None and should_stop():
                break
            E = torch.randn(vocab, n_factors, generator=gen)
            idx = torch.randint(0, vocab, (n_idx,), generator=gen)
            oh, lk = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                F.one_hot(idx, vocab).float() @ E
                oh.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                F.embedding(idx, E)
                lk.append(time.perf_counter() - t0)
            row = dict(
                vocab=int(vocab),
                one_hot_ms=1e3 * statistics.median(oh),
                lookup_ms=1e3 * statistics.median(lk),
            )
            row["ratio"] = row["one_hot_ms"] / max(row["lookup_ms"], 1e-9)
            out.append(row)
            if progress is not None:
                progress(
                    (k + 1) / len(sizes),
                    f"vocab {vocab:,}: one-hot {row['one_hot_ms']:.3f} ms, "
                    f"lookup {row['lookup_ms']:.3f} ms",
                )
    return out


def toy_table(n_rows: int = 8, n_factors: int = 4, seed: int = 0) -> nn.Parameter:
    """A small ``nn.Embedding`` weight (N(0, 1)) whose numbers are big enough to read."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Embedding(n_rows, n_factors).weight
