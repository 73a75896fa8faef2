"""Reading what a collaborative-filtering model learned: PCA of its factors, cosine neighbours, and
the bootstrapping problem (fitting a new user's vector and bias with the item factors frozen).

Pure torch/numpy/scikit-learn, no widgets. Every model kind is first read into one ``Factors``
record (CPU tensors, so a model moved to a GPU still works): the lesson's ``DotProductBias`` and
``CollabNN`` with their ``CollabData``, fastai's ``EmbeddingDotBias``/``EmbeddingNN`` learners, or a
plain names + factor matrix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..collab import CollabData, bias_tables, factor_tables, find_title, has_metadata


@dataclass(eq=False)
class Factors:
    """One trained model, read for interpretation. Row ``i`` of every item array is ``items[i]``.

    ``item_rows``/``user_rows`` give each item's/user's row in the model's own tables (fastai and
    ``CollabData`` number from 1, row 0 being ``#na#``), so numbers can be checked against them.
    """

    items: list
    item_factors: torch.Tensor  # (n_items, k) float32 on the CPU
    item_bias: torch.Tensor | None = None
    item_counts: np.ndarray | None = None  # training ratings per item
    item_mean: np.ndarray | None = None  # mean training rating per item
    users: list | None = None
    user_factors: torch.Tensor | None = None
    user_bias: torch.Tensor | None = None
    user_counts: np.ndarray | None = None
    head: Callable[[torch.Tensor], torch.Tensor] | None = None  # nn models: cat(u, i) -> score
    y_range: tuple[float, float] | None = None  # applied to the dot product's or head's output
    rating_range: tuple[float, float] = (0.5, 5.0)
    kind: str = "dot product"  # "dot product" | "neural net" | "factors"
    genres: list | None = None  # per item, "A|B" strings
    item_rows: np.ndarray | None = None
    user_rows: np.ndarray | None = None
    source: str = ""
    # metadata (a model trained with genres): item_factors/item_bias above include the mean of
    # the item's tags' embeddings; these are the item's own parts alone, and the tag names
    own_factors: torch.Tensor | None = None
    own_bias: torch.Tensor | None = None
    tag_names: list | None = None
    _lookup: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lookup = {str(t): i for i, t in enumerate(self.items)}

    @property
    def lookup(self) -> dict[str, int]:
        """Title → row of the item factors, for finding a title by name."""
        return self._lookup

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def has_bias(self) -> bool:
        return self.item_bias is not None

    @property
    def has_metadata(self) -> bool:
        """Whether the item vectors include learned genre (tag) embeddings."""
        return self.own_factors is not None

    def row_of(self, title: Any) -> int | None:
        """Row of exactly ``title``, or None (``find_name`` also forgives case and suggests)."""
        return self._lookup.get(str(title))

    def without_metadata(self) -> Factors:
        """The same model read with the genre embeddings switched off: each item's own factors
        and bias alone (what the ratings taught about the film itself)."""
        if not self.has_metadata:
            return self
        return replace(
            self,
            item_factors=self.own_factors,
            item_bias=self.own_bias,
            own_factors=None,
            own_bias=None,
            tag_names=None,
        )

    @property
    def years(self) -> np.ndarray:
        """Release year parsed from each title's "(1995)", NaN where there is none."""
        return np.array([title_year(t) for t in self.items], dtype=float)


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def title_year(title: Any) -> float:
    """The "(1995)" year at the end of a MovieLens title, else NaN."""
    m = _YEAR.search(str(title).strip())
    return float(m.group(1)) if m else float("nan")


def _cpu(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().cpu().float()


# --- sources --------------------------------------------------------------------------------------


def from_collab(
    model: nn.Module, data: CollabData, genres: Mapping | None = None, source: str = ""
) -> Factors:
    """Read the lesson's ``DotProductBias`` or ``CollabNN`` trained on ``data``."""
    if not isinstance(data, CollabData):
        raise TypeError(f"data must be the model's CollabData, got {type(data).__name__}")
    try:
        users, items = factor_tables(model)
    except AttributeError:
        raise TypeError(
            f"{type(model).__name__} is not a collaborative-filtering model: it needs user and "
            "item factor tables (DotProductBias or CollabNN)"
        ) from None
    users, items = _cpu(users), _cpu(items)
    if items.shape[0] != data.n_items or users.shape[0] != data.n_users:
        raise ValueError(
            f"the model has {users.shape[0]} users and {items.shape[0]} items but the data has "
            f"{data.n_users} and {data.n_items}: pass the CollabData it was trained on"
        )
    biases = bias_tables(model)
    ub, ib = (None, None) if biases is None else (_cpu(biases[0]), _cpu(biases[1]))
    tx, ty = data.x[data.train_idx], data.y[data.train_idx].double().numpy()
    sums = np.bincount(tx[:, 1].numpy(), weights=ty, minlength=data.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / data.item_counts
    head = None
    kind = "dot product"
    if hasattr(model, "layers") and ub is None and not hasattr(model, "movie_factors"):
        head = _frozen_head(model.layers)
        kind = "neural net"
    rows = np.arange(1, data.n_items)
    titles = [data.items[i] for i in rows]
    own_f = own_b = tag_names = None
    if has_metadata(model):
        own = getattr(model, "movie_factors", None)
        own_f = _cpu(own if own is not None else model.item_factors)[1:]
        mb = getattr(model, "movie_bias", None)
        own_b = None if mb is None else _cpu(mb)[1:]
        tag_names = list(getattr(model, "tag_names", None) or range(model.movie_tags.shape[1]))
    return Factors(
        own_factors=own_f,
        own_bias=own_b,
        tag_names=tag_names,
        items=titles,
        item_factors=items[1:],
        item_bias=None if ib is None else ib[1:],
        item_counts=data.item_counts[1:].astype(np.int64),
        item_mean=mean[1:],
        users=list(data.users[1:]),
        user_factors=users[1:],
        user_bias=None if ub is None else ub[1:],
        user_counts=data.user_counts[1:].astype(np.int64),
        head=head,
        y_range=getattr(model, "y_range", None),
        rating_range=data.rating_range,
        kind=kind,
        genres=_genres_for(titles, genres),
        item_rows=rows,
        user_rows=np.arange(1, data.n_users),
        source=source,
    )


def from_learner(learn: Any, genres: Mapping | None = None, source: str = "") -> Factors:
    """Read a fastai collab ``Learner`` (``collab_learner``, dot product or ``use_nn=True``)."""
    model = getattr(learn, "model", None)
    dls = getattr(learn, "dls", None)
    name = type(model).__name__
    if name not in ("EmbeddingDotBias", "EmbeddingNN") or dls is None:
        raise TypeError(
            f"this is not a fastai collab learner: its model is a {name}, expected "
            "EmbeddingDotBias or EmbeddingNN from collab_learner (a tabular_learner cannot be read)"
        )
    cats = list(getattr(dls, "cat_names", []))
    if len(cats) != 2:
        raise TypeError(f"a collab learner has a user and an item column, this one has {cats}")
    user_col, item_col = cats
    users, items = list(dls.classes[user_col]), list(dls.classes[item_col])
    frame = dls.train_ds.items
    icodes = np.asarray(frame[item_col], dtype=np.int64)
    ucodes = np.asarray(frame[user_col], dtype=np.int64)
    ys = np.asarray(frame[dls.y_names[0]], dtype=float).ravel()
    icount = np.bincount(icodes, minlength=len(items))
    ucount = np.bincount(ucodes, minlength=len(users))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(icodes, weights=ys, minlength=len(items)) / icount
    head = None
    if name == "EmbeddingDotBias":
        uf, itf = _cpu(model.u_weight.weight), _cpu(model.i_weight.weight)
        ub, ib = _cpu(model.u_bias.weight)[:, 0], _cpu(model.i_bias.weight)[:, 0]
        kind = "dot product"
    else:
        uf, itf = _cpu(model.embeds[0].weight), _cpu(model.embeds[1].weight)
        ub = ib = None
        head = _frozen_head(model.layers)
        kind = "neural net"
    # EmbeddingNN squashes inside its layers (SigmoidRange), EmbeddingDotBias after the sum
    y_range = getattr(model, "y_range", None) if name == "EmbeddingDotBias" else None
    rows = np.arange(1, len(items))
    titles = [items[i] for i in rows]
    return Factors(
        items=titles,
        item_factors=itf[1:],
        item_bias=None if ib is None else ib[1:],
        item_counts=icount[1:],
        item_mean=mean[1:],
        users=users[1:],
        user_factors=uf[1:],
        user_bias=None if ub is None else ub[1:],
        user_counts=ucount[1:],
        head=head,
        y_range=None if y_range is None else (float(y_range[0]), float(y_range[1])),
        rating_range=(float(np.min(ys)), float(np.max(ys))),
        kind=kind,
        genres=_genres_for(titles, genres),
        item_rows=rows,
        user_rows=np.arange(1, len(users)),
        source=source,
    )


def from_factors(
    names: Sequence,
    factors: Any,
    bias: Any = None,
    counts: Any = None,
    genres: Sequence | Mapping | None = None,
    mean_rating: Any = None,
    rating_range: tuple[float, float] = (0.5, 5.0),
    source: str = "",
) -> Factors:
    """Plain names and an (n, k) factor matrix, with optional biases, rating counts and genres."""
    names = list(names)
    f = torch.as_tensor(np.asarray(factors, dtype=np.float32))
    if f.ndim != 2 or f.shape[0] != len(names):
        raise ValueError(
            f"factors must be a matrix with one row per name: got shape {tuple(f.shape)} for "
            f"{len(names)} names"
        )
    if f.shape[1] < 2:
        raise ValueError(f"need at least 2 factors per item for a map, got {f.shape[1]}")
    if not torch.isfinite(f).all():
        raise ValueError("factors hold NaN or infinite values")
    if len(set(map(str, names))) != len(names):
        raise ValueError("names must be unique (they key the selection)")

    def vec(v, what, dtype):
        if v is None:
            return None
        a = np.asarray(v, dtype=dtype).ravel()
        if len(a) != len(names):
            raise ValueError(f"{what} has {len(a)} values for {len(names)} names")
        return a

    b = vec(bias, "bias", np.float32)
    g = genres if isinstance(genres, Mapping) else vec(genres, "genres", object)
    return Factors(
        items=names,
        item_factors=f,
        item_bias=None if b is None else torch.from_numpy(b),
        item_counts=vec(counts, "counts", np.int64),
        item_mean=vec(mean_rating, "mean_rating", float),
        kind="factors",
        rating_range=rating_range,
        genres=_genres_for(names, g)
        if isinstance(g, Mapping)
        else (None if g is None else list(g)),
        source=source,
    )


def _frozen_head(layers: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's layers after the embeddings, in eval mode, as a function of cat(user, item)."""

    def head(x: torch.Tensor) -> torch.Tensor:
        was = layers.training
        layers.eval()
        try:
            dev = next(layers.parameters()).device
            return layers(x.to(dev)).squeeze(-1).cpu()
        finally:
            layers.train(was)

    return head


def _genres_for(titles: Sequence, genres: Mapping | None) -> list | None:
    if genres is None:
        return None
    return [str(genres.get(t, "") or "") for t in titles]


# --- looking things up ----------------------------------------------------------------------------


def find_name(f: Factors, title: Any) -> int:
    """Row of ``title``: exact, then case-insensitive; else KeyError suggesting close matches."""
    missing = f"is not a title of this model ({f.n_items:,} titles)"
    return find_title(f.lookup, title, f.item_counts, missing)


def projector_sets(f: Factors) -> dict[str, tuple[torch.Tensor, dict]]:
    """The vectors and metadata columns to export to the Embedding Projector: ``"movies"`` (the
    item factors, with title, training ratings and genres) and, where there are users, ``"users"``.
    Rows are in the order of ``f.items`` / ``f.users``."""
    n = f.n_items
    meta: dict = {"title": list(f.items)}
    if f.item_counts is not None:
        meta["n_ratings"] = [int(c) for c in f.item_counts]
    if f.genres is not None:
        meta["genres"] = list(f.genres)
    out = {"movies": (f.item_factors[:n], meta)}
    if f.user_factors is not None and f.users is not None:
        umeta: dict = {"user": list(f.users)}
        if f.user_counts is not None:
            umeta["n_ratings"] = [int(c) for c in f.user_counts]
        out["users"] = (f.user_factors, umeta)
    return out


def projector_texts(f: Factors, name: str) -> dict[str, str]:
    """The Embedding Projector files of ``projector_sets(f)`` as text: ``<name>_movies_vectors.tsv``,
    ``<name>_movies_metadata.tsv`` and the same for users (file name -> text)."""
    from ..projector import projector_files

    files: dict[str, str] = {}
    for part, (vectors, meta) in projector_sets(f).items():
        files.update(projector_files(f"{name}_{part}", vectors, meta))
    return files


def write_projector_sets(folder: Any, f: Factors, name: str) -> list:
    """Write ``projector_sets(f)`` into ``folder`` (see ``projector_texts``); the paths written."""
    from ..projector import write_projector

    paths: list = []
    for part, (vectors, meta) in projector_sets(f).items():
        paths += write_projector(folder, f"{name}_{part}", vectors, meta)
    return paths
