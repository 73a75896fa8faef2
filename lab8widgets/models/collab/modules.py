"""The lesson's collaborative-filtering models: ``create_params``, ``sigmoid_range``,
``DotProductBias`` (the book's dot product with biases) and ``CollabNN`` sized by fastai's
``get_emb_sz`` rule. Plain torch; no data, no training, no widgets."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .data import CollabData

__all__ = [
    "CollabNN",
    "DotProductBias",
    "bias_tables",
    "create_params",
    "emb_sz_rule",
    "factor_tables",
    "get_emb_sz",
    "make_model",
    "sigmoid_range",
]


def create_params(size: int | Sequence[int]) -> nn.Parameter:
    """The lesson's embedding from scratch: a tensor that ``model.parameters()`` tracks."""
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    return nn.Parameter(torch.zeros(*size).normal_(0, 0.01))


def sigmoid_range(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Squash predictions into (low, high): a sigmoid stretched to the rating scale."""
    return torch.sigmoid(x) * (high - low) + low


def _as_y_range(y_range: Sequence[float] | None) -> tuple[float, float] | None:
    if y_range is None:
        return None
    low, high = (float(v) for v in y_range)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"y_range must be (low, high) with low < high, got {tuple(y_range)!r}")
    return low, high


class DotProductBias(nn.Module):
    """The book's model: user · movie factors plus a user and a movie bias, squashed by y_range.

    ``bias=False`` gives the book's first ``DotProduct``; ``y_range=None`` leaves scores unsquashed.
    """

    #: parameters looked up by row: name -> column of ``x`` that indexes them (0 user, 1 item)
    row_params = {"user_factors": 0, "user_bias": 0, "movie_factors": 1, "movie_bias": 1}

    def __init__(
        self,
        n_users: int,
        n_movies: int,
        n_factors: int = 50,
        y_range: Sequence[float] | None = (0, 5.5),
        bias: bool = True,
    ):
        super().__init__()
        self.user_factors = create_params([n_users, n_factors])
        self.movie_factors = create_params([n_movies, n_factors])
        if bias:
            self.user_bias = create_params([n_users])
            self.movie_bias = create_params([n_movies])
        else:
            self.register_parameter("user_bias", None)
            self.register_parameter("movie_bias", None)
        self.y_range = _as_y_range(y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        users = self.user_factors[x[:, 0]]
        movies = self.movie_factors[x[:, 1]]
        res = (users * movies).sum(dim=1)
        if self.user_bias is not None:
            res = res + self.user_bias[x[:, 0]] + self.movie_bias[x[:, 1]]
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


def emb_sz_rule(n_cat: int) -> int:
    """fastai's rule of thumb for an embedding's width given its number of categories."""
    return min(600, round(1.6 * n_cat**0.56))


class CollabNN(nn.Module):
    """The book's neural net: concatenated user and item embeddings through one hidden layer.

    Embedding sizes come from ``get_emb_sz`` (fastai's rule), not from ``n_factors``.
    """

    row_params = {"user_factors": 0, "item_factors": 1}

    def __init__(
        self,
        user_sz: tuple[int, int],
        item_sz: tuple[int, int],
        y_range: Sequence[float] | None = (0, 5.5),
        n_act: int = 100,
    ):
        super().__init__()
        self.user_factors = create_params(user_sz)
        self.item_factors = create_params(item_sz)
        self.layers = nn.Sequential(
            nn.Linear(user_sz[1] + item_sz[1], n_act), nn.ReLU(), nn.Linear(n_act, 1)
        )
        self.y_range = _as_y_range(y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embs = self.user_factors[x[:, 0]], self.item_factors[x[:, 1]]
        res = self.layers(torch.cat(embs, dim=1)).squeeze(-1)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


def factor_tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(user factors, item factors) of either model, detached, on the CPU (to read or draw)."""
    items = getattr(model, "movie_factors", None)
    if items is None:
        items = model.item_factors
    return model.user_factors.detach().cpu(), items.detach().cpu()


def bias_tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(user bias, item bias) of a DotProductBias with biases (on the CPU), else None."""
    ub, ib = getattr(model, "user_bias", None), getattr(model, "movie_bias", None)
    return None if ub is None or ib is None else (ub.detach().cpu(), ib.detach().cpu())


def get_emb_sz(data: CollabData, sz_dict: dict[str, int] | None = None) -> list[tuple[int, int]]:
    """fastai's ``get_emb_sz`` for the user and item columns: (n categories incl. #na#, width)."""
    sz_dict = sz_dict or {}
    return [
        (data.n_users, int(sz_dict.get(data.user_name, emb_sz_rule(data.n_users)))),
        (data.n_items, int(sz_dict.get(data.item_name, emb_sz_rule(data.n_items)))),
    ]


def make_model(
    data: CollabData,
    n_factors: int = 50,
    y_range: Sequence[float] | None = (0, 5.5),
    bias: bool = True,
    use_nn: bool = False,
    n_act: int = 100,
) -> nn.Module:
    """The book's ``DotProductBias`` or, with ``use_nn``, ``CollabNN`` sized by ``get_emb_sz``."""
    if use_nn:
        user_sz, item_sz = get_emb_sz(data)
        return CollabNN(user_sz, item_sz, y_range=y_range, n_act=n_act)
    return DotProductBias(data.n_users, data.n_items, n_factors, y_range=y_range, bias=bias)
