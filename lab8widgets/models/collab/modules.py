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
    "has_metadata",
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


def _add_tags(model: nn.Module, tags: torch.Tensor | None, width: int, bias: bool) -> None:
    """Metadata (lesson 8, 28:19): one learned embedding (and bias) per tag, e.g. per genre; an
    item's vector is its own factors plus the mean of its tags' embeddings (``tags`` is the
    (n_items, n_tags) table of 1/n weights, or the ``ItemTags`` that holds it and the names). A
    rarely rated item then starts from what its genres learned from every film that shares them."""
    model.tag_names = list(getattr(tags, "names", [])) or None
    tags = getattr(tags, "weights", tags)
    if tags is None:
        model.register_buffer("movie_tags", None)
        model.register_parameter("tag_factors", None)
        model.register_parameter("tag_bias", None)
        return
    tags = torch.as_tensor(tags, dtype=torch.float32)
    model.register_buffer("movie_tags", tags.clone())
    model.tag_factors = create_params([tags.shape[1], width])
    if bias:
        model.tag_bias = create_params([tags.shape[1]])
    else:
        model.register_parameter("tag_bias", None)
    # the item tables are read whole (dense AdamW) because the tag table is indexed by item id
    model.row_params = {n: c for n, c in model.row_params.items() if c == 0}


class DotProductBias(nn.Module):
    """The book's model: user · movie factors plus a user and a movie bias, squashed by y_range.

    ``bias=False`` gives the book's first ``DotProduct``; ``y_range=None`` leaves scores unsquashed.
    ``item_tags`` (from ``item_tags(data, genres).weights``) adds metadata: each movie's vector is
    ``movie_factors`` plus the mean of its genres' ``tag_factors`` (and its bias gains their
    ``tag_bias``).
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
        item_tags: torch.Tensor | None = None,
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
        _add_tags(self, item_tags, n_factors, bias)
        self.y_range = _as_y_range(y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        users = self.user_factors[x[:, 0]]
        movies = self.movie_factors[x[:, 1]]
        tags = None if self.movie_tags is None else self.movie_tags[x[:, 1]]
        if tags is not None:
            movies = movies + tags @ self.tag_factors
        res = (users * movies).sum(dim=1)
        if self.user_bias is not None:
            res = res + self.user_bias[x[:, 0]] + self.movie_bias[x[:, 1]]
            if tags is not None:
                res = res + tags @ self.tag_bias
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


def emb_sz_rule(n_cat: int) -> int:
    """fastai's rule of thumb for an embedding's width given its number of categories."""
    return min(600, round(1.6 * n_cat**0.56))


class CollabNN(nn.Module):
    """The book's neural net: concatenated user and item embeddings through one hidden layer.

    Embedding sizes come from ``get_emb_sz`` (fastai's rule), not from ``n_factors``.
    ``item_tags`` adds metadata as in ``DotProductBias``: the mean of the item's genres'
    ``tag_factors`` joins its ``item_factors`` before the layers.
    """

    row_params = {"user_factors": 0, "item_factors": 1}

    def __init__(
        self,
        user_sz: tuple[int, int],
        item_sz: tuple[int, int],
        y_range: Sequence[float] | None = (0, 5.5),
        n_act: int = 100,
        item_tags: torch.Tensor | None = None,
    ):
        super().__init__()
        self.user_factors = create_params(user_sz)
        self.item_factors = create_params(item_sz)
        _add_tags(self, item_tags, item_sz[1], bias=False)
        self.layers = nn.Sequential(
            nn.Linear(user_sz[1] + item_sz[1], n_act), nn.ReLU(), nn.Linear(n_act, 1)
        )
        self.y_range = _as_y_range(y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        items = self.item_factors[x[:, 1]]
        if self.movie_tags is not None:
            items = items + self.movie_tags[x[:, 1]] @ self.tag_factors
        embs = self.user_factors[x[:, 0]], items
        res = self.layers(torch.cat(embs, dim=1)).squeeze(-1)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)


def has_metadata(model: nn.Module) -> bool:
    """Whether ``model`` learns an embedding per tag (genre) of its items."""
    return getattr(model, "movie_tags", None) is not None


def factor_tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(user factors, item factors) of either model, detached, on the CPU (to read or draw).

    With metadata an item's vector is what the model uses: its own factors plus the mean of its
    tags' embeddings."""
    with torch.no_grad():
        items = getattr(model, "movie_factors", None)
        if items is None:
            items = model.item_factors
        if has_metadata(model):
            items = items + model.movie_tags @ model.tag_factors
        return model.user_factors.detach().cpu(), items.detach().cpu()


def bias_tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(user bias, item bias) of a DotProductBias with biases (on the CPU), else None (with
    metadata, an item's bias includes the mean of its tags' biases)."""
    ub, ib = getattr(model, "user_bias", None), getattr(model, "movie_bias", None)
    if ub is None or ib is None:
        return None
    with torch.no_grad():
        if has_metadata(model) and getattr(model, "tag_bias", None) is not None:
            ib = ib + model.movie_tags @ model.tag_bias
        return ub.detach().cpu(), ib.detach().cpu()


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
    item_tags: torch.Tensor | None = None,
) -> nn.Module:
    """The book's ``DotProductBias`` or, with ``use_nn``, ``CollabNN`` sized by ``get_emb_sz``;
    ``item_tags`` (``item_tags(data, genres).weights``) adds a learned embedding per genre."""
    if use_nn:
        user_sz, item_sz = get_emb_sz(data)
        return CollabNN(user_sz, item_sz, y_range=y_range, n_act=n_act, item_tags=item_tags)
    return DotProductBias(
        data.n_users, data.n_items, n_factors, y_range=y_range, bias=bias, item_tags=item_tags
    )
