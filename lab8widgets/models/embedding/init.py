"""Lesson 8, claim 3: ``create_params`` starts at normal(0, 0.01), ``nn.Embedding`` at N(0, 1);
``init_comparison`` shows what that does to the first predictions of the book's ``DotProductBias``."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .._threads import one_thread
from ..collab import DotProductBias

# --- 3. create_params vs nn.Embedding -------------------------------------------------------------


def histogram(
    values: torch.Tensor, bins: int = 40, range: tuple[float, float] | None = None
) -> tuple[list[float], list[int]]:
    """Bin centres and counts of ``values`` (``torch.histogram``); a shared ``range`` lets two
    histograms be compared bar for bar."""
    v = values.detach().flatten().float()
    if range is None:
        counts, edges = torch.histogram(v, bins=bins)
    else:
        counts, edges = torch.histogram(v, bins=bins, range=(float(range[0]), float(range[1])))
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    return centres, [int(c) for c in counts.tolist()]


@dataclass
class InitComparison:
    """Two ``DotProductBias`` models that differ only in how their tables start."""

    create_params_model: DotProductBias
    embedding_model: DotProductBias
    x: torch.Tensor  # (n, 2) user and movie rows of the ratings predicted
    y: torch.Tensor  # their true ratings
    preds: dict[str, torch.Tensor] = field(default_factory=dict)

    def weights(self, which: str) -> torch.Tensor:
        m = self._model(which)
        return torch.cat([m.user_factors.detach().flatten(), m.movie_factors.detach().flatten()])

    def mse(self, which: str) -> float:
        return float(F.mse_loss(self.preds[which], self.y))

    def summary(self, which: str) -> dict[str, float]:
        """Spread of the weights, and mean, spread and MSE of the first predictions."""
        self._model(which)  # a KeyError naming the choices for anything else
        p = self.preds[which]
        return dict(
            weight_std=float(self.weights(which).std()),
            mean=float(p.mean()),
            std=float(p.std()),
            mse=self.mse(which),
        )

    def prediction_histograms(self, bins: int = 44) -> dict[str, tuple[list[float], list[int]]]:
        """Histograms of both models' first predictions over one range (y_range when set), so
        their bars compare one for one."""
        lo_hi = self.create_params_model.y_range
        if lo_hi is None:
            both = torch.cat(list(self.preds.values()))
            lo_hi = (float(both.min()), float(both.max()))
        return {k: histogram(p, bins, lo_hi) for k, p in self.preds.items()}

    def _model(self, which: str) -> DotProductBias:
        if which == "create_params":
            return self.create_params_model
        if which == "nn.Embedding":
            return self.embedding_model
        raise KeyError(f"{which!r}: choose 'create_params' or 'nn.Embedding'")


def init_comparison(
    x: torch.Tensor,
    y: torch.Tensor,
    n_users: int,
    n_movies: int,
    n_factors: int = 50,
    y_range: tuple[float, float] | None = (0, 5.5),
    seed: int = 0,
) -> InitComparison:
    """The book's ``DotProductBias`` as built (``create_params``: normal(0, 0.01)) against the same
    model with ``nn.Embedding`` tables (N(0, 1)), and their first predictions on ``x``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        a = DotProductBias(n_users, n_movies, n_factors, y_range=y_range)
        b = DotProductBias(n_users, n_movies, n_factors, y_range=y_range)
        b.user_factors = nn.Embedding(n_users, n_factors).weight
        b.movie_factors = nn.Embedding(n_movies, n_factors).weight
        b.user_bias = nn.Parameter(nn.Embedding(n_users, 1).weight.detach().flatten())
        b.movie_bias = nn.Parameter(nn.Embedding(n_movies, 1).weight.detach().flatten())
    out = InitComparison(a, b, x, y.float())
    with torch.no_grad(), one_thread():
        out.preds = {"create_params": a(x), "nn.Embedding": b(x)}
    return out
