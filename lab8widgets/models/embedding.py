"""Embeddings from scratch, as Lesson 8 builds them, in plain torch (no widgets here).

Four claims of the lesson, each as something a lab can compute and a test can check:

1. A module only tracks (and an optimizer only moves) tensors wrapped in ``nn.Parameter``:
   ``ToggleModule`` holds ``a`` either as a plain tensor or as a parameter, beside an ``nn.Linear``.
2. An embedding is indexing, and indexing is a one-hot matrix product done fast: ``compare_paths``
   runs both in value and in gradient; ``time_paths`` times both as the vocabulary grows.
3. ``create_params`` starts at normal(0, 0.01), ``nn.Embedding`` at N(0, 1): ``init_comparison``
   shows what that does to the first predictions of the book's ``DotProductBias``.
4. Words become integers and then rows: ``tokenise`` and ``Words`` (a vocabulary that only grows,
   so the same word keeps its row).
"""

from __future__ import annotations

import numbers
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._threads import one_thread
from .collab import DotProductBias, create_params

# --- 1. nn.Parameter ------------------------------------------------------------------------------


class ToggleModule(nn.Module):
    """The lesson's ``class T(Module)``: ``a`` is a plain tensor or an ``nn.Parameter``, beside an
    ``nn.Linear(n_in, n_out)`` whose ``weight`` (out × in) and ``bias`` (out) are always tracked."""

    def __init__(self, use_parameter: bool = True, n_in: int = 3, n_out: int = 2, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.lin = nn.Linear(n_in, n_out)
        a = torch.ones(n_in)
        self.a = nn.Parameter(a) if use_parameter else a

    @property
    def use_parameter(self) -> bool:
        return isinstance(self.a, nn.Parameter)

    def set_use_parameter(self, on: bool) -> None:
        """Wrap ``a`` in ``nn.Parameter`` or unwrap it, keeping its values."""
        if bool(on) == self.use_parameter:
            return
        values = self.a.detach().clone()
        if on:  # a new parameter joins the module where its other parameters live
            values = values.to(self.lin.weight)
        del self.a  # drops it from _parameters too, else assigning a plain tensor is refused
        self.a = nn.Parameter(values) if on else values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_a()
        return self.lin(x * self.a)

    def check_a(self) -> None:
        """``model.to()`` / ``.cuda()`` / ``.double()`` move parameters and buffers only: a plain
        tensor attribute stays behind. Say so instead of torch's device/dtype mismatch."""
        w = self.lin.weight
        if self.a.device != w.device or self.a.dtype != w.dtype:
            raise ValueError(
                f"a is a plain tensor ({self.a.dtype} on {self.a.device}) that model.to() left "
                f"behind: lin.weight is {w.dtype} on {w.device}. Modules move only what they track "
                "(parameters and buffers): wrap a in nn.Parameter, or move it yourself."
            )

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor the module holds, tracked or not (``named_parameters`` lists only some)."""
        return {"a": self.a, "lin.weight": self.lin.weight, "lin.bias": self.lin.bias}


@dataclass
class StepResult:
    """One SGD step: each tensor before and after, whether it moved, and whether it was tracked."""

    before: dict[str, torch.Tensor]
    after: dict[str, torch.Tensor]
    moved: dict[str, bool]
    tracked: dict[str, bool]
    loss: float


def sgd_step(model: ToggleModule, lr: float = 0.1, seed: int = 0) -> StepResult:
    """One ``torch.optim.SGD(model.parameters(), lr)`` step on an MSE loss: only parameters move."""
    lr = check_real("lr", lr, 0.0, 100.0)
    gen = torch.Generator().manual_seed(seed)
    w = model.lin.weight
    x = torch.randn(8, model.lin.in_features, generator=gen).to(w)
    y = torch.randn(8, model.lin.out_features, generator=gen).to(w)
    model.check_a()
    tracked_ids = {id(p) for p in model.parameters()}
    before = {k: v.detach().clone() for k, v in model.tensors().items()}
    tracked = {k: id(v) in tracked_ids for k, v in model.tensors().items()}
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    after = {k: v.detach().clone() for k, v in model.tensors().items()}
    moved = {k: not torch.equal(before[k], after[k]) for k in before}
    return StepResult(before, after, moved, tracked, float(loss.detach()))


# --- checking what a learner typed ----------------------------------------------------------------


def check_real(name: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not lo < float(v) <= hi:
        raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}], got {v!r}")
    return float(v)


def as_int(v: Any, what: str = "index") -> int:
    """``v`` as an int: ints, integral floats and digit strings pass; ``1.5``, ``"x"``, True do not."""
    if isinstance(v, bool):
        raise ValueError(f"{what} {v!r} is not an integer")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real) and float(v).is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
        return int(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_floating_point():
        return int(v.item())
    raise ValueError(f"{what} {v!r} is not an integer")


def parse_ints(text: str, what: str = "index") -> list[int]:
    """``"3, 1 3"`` → ``[3, 1, 3]``; anything that is not a whole number is named in the error."""
    parts = [p for p in re.split(r"[\s,;]+", str(text).strip()) if p]
    if not parts:
        raise ValueError(f"type at least one {what}, e.g. 3, 1, 3")
    return [as_int(p, what) for p in parts]


def check_indices(idx: Any, n_rows: int) -> list[int]:
    """Row indices into a table of ``n_rows`` rows, or a ValueError saying which one is wrong."""
    if isinstance(idx, torch.Tensor):
        idx = idx.flatten().tolist()
    if isinstance(idx, str) or not isinstance(idx, Iterable):
        idx = [idx]
    out = [as_int(i) for i in idx]
    if not out:
        raise ValueError("pick at least one index")
    if len(out) > 64:
        raise ValueError(f"pick at most 64 indices at once (got {len(out)})")
    bad = [i for i in out if not 0 <= i < n_rows]
    if bad:
        raise ValueError(
            f"index {bad[0]} is out of range: this table has {n_rows} rows, so indices go from 0 "
            f"to {n_rows - 1}"
        )
    return out


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


# --- ids for users and movies ---------------------------------------------------------------------


@dataclass
class RatingIds:
    """User and movie ids numbered as rows (``id_classes``), and the first ratings as index pairs."""

    users: list[Any]
    user_rows: dict[Any, int]
    movies: list[Any]
    movie_rows: dict[Any, int]
    x: torch.Tensor  # (n, 2) user row, movie row
    y: torch.Tensor  # (n,) ratings


def rating_ids(frame: Any, n: int = 2000) -> RatingIds:
    """Number a ratings table's ``user`` and ``movie`` columns and take its first ``n`` ratings."""
    users, user_rows = id_classes(frame["user"].tolist())
    movies, movie_rows = id_classes(frame["movie"].tolist())
    head = frame.iloc[:n]
    x = torch.tensor(
        [[user_rows[u] for u in head["user"]], [movie_rows[m] for m in head["movie"]]]
    ).T
    y = torch.tensor(head["rating"].to_numpy(), dtype=torch.float32)
    return RatingIds(users, user_rows, movies, movie_rows, x, y)


def id_classes(values: Iterable[Any]) -> tuple[list[Any], dict[Any, int]]:
    """Sorted distinct ids with ``#na#`` at row 0, numbered as fastai's ``Categorify`` does."""
    classes = ["#na#", *sorted(set(values))]
    return classes, {c: i for i, c in enumerate(classes) if i}


def rows_for_ids(ids: Iterable[Any], lookup: dict[Any, int], what: str = "id") -> list[int]:
    """Rows of the given ids (ints) in a table numbered by ``id_classes``."""
    rows = []
    for v in ids:
        i = as_int(v, what)
        if i not in lookup:
            lo, hi = min(lookup), max(lookup)
            raise ValueError(f"{what} {i} is not in the ratings (ids run from {lo} to {hi})")
        rows.append(lookup[i])
    if not rows:
        raise ValueError(f"type at least one {what}")
    return rows


# --- 4. words -------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenise(text: Any) -> list[str]:
    """Lower-cased words (``I've`` stays one word); punctuation is dropped."""
    if not isinstance(text, str):
        raise ValueError(f"the text must be a string, got {type(text).__name__}")
    return _WORD.findall(text.lower().replace("\u2019", "'"))


class Words:
    """A vocabulary that only grows, and its embedding matrix (one ``create_params`` row a word).

    New words get new rows at the end; a word seen before keeps its row, so its integer id and its
    embedding never change while the text is edited.
    """

    def __init__(self, n_factors: int = 8, seed: int = 0):
        self.n_factors = int(n_factors)
        self.seed = seed
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.emb = create_params([0, self.n_factors])
        self.tokens: list[str] = []

    def update(self, text: Any) -> list[int]:
        """Tokenise ``text``, grow the vocabulary and the matrix with new words; the ids of the text."""
        tokens = tokenise(text)
        if not tokens:
            raise ValueError("the text has no words: type a line of text (letters or digits)")
        new = [w for w in dict.fromkeys(tokens) if w not in self.index]
        if new:
            with torch.random.fork_rng():
                torch.manual_seed(self.seed + len(self.vocab))
                rows = create_params([len(new), self.n_factors])
            self.emb = nn.Parameter(torch.cat([self.emb.detach(), rows.detach()]))
            for w in new:
                self.index[w] = len(self.vocab)
                self.vocab.append(w)
        self.tokens = tokens
        return self.ids

    @property
    def ids(self) -> list[int]:
        return [self.index[w] for w in self.tokens]

    @property
    def matrix(self) -> torch.Tensor:
        """The text as rows of the embedding matrix: ``emb[ids]`` (tokens × factors)."""
        return self.emb.detach()[torch.tensor(self.ids, dtype=torch.long)]

    def rows_for(self, text: str) -> list[int]:
        """Rows for what a learner types: words, or row numbers, mixed (``"hope, 3"``)."""
        parts = [p for p in re.split(r"[\s,;]+", str(text).strip()) if p]
        if not parts:
            raise ValueError("type at least one word or row")
        rows = [
            as_int(p) if p.lstrip("+-").isdigit() else self.rows_for_words([p])[0] for p in parts
        ]
        return check_indices(rows, len(self.vocab))

    def rows_for_words(self, words: Iterable[Any]) -> list[int]:
        rows = []
        for w in words:
            key = str(w).strip().lower()
            if key not in self.index:
                raise ValueError(f"{w!r} is not in the vocabulary ({len(self.vocab)} words)")
            rows.append(self.index[key])
        if not rows:
            raise ValueError("type at least one word")
        return rows
