"""Collaborative filtering as Lesson 8 builds it, in plain torch, with a loop fast enough to watch.

The models are the book's: ``DotProductBias`` made from ``create_params`` (``nn.Parameter`` tensors
indexed by user and movie), ``sigmoid_range`` for ``y_range``, and ``CollabNN`` whose embedding
sizes follow fastai's ``get_emb_sz`` rule. Data is split and numbered the way fastai's
``CollabDataLoaders`` does it (``RandomSplitter`` indices, ``Categorify`` classes with ``#na#`` at 0),
so a model here and fastai's ``collab_learner`` see the same rows with the same ids.

Why the loop is fast: a batch touches a few hundred rows of each embedding table, but dense AdamW
(what fastai runs) reads and writes every row at every step. ``RowAdamW`` updates only the rows a
batch uses and catches each row up on the steps it missed (weight decay and the fading momentum) in
closed form when it is next used, so the result is fastai's ``Adam(decouple_wd=True)`` up to ``eps``
inside the missed steps, at a fraction of the memory traffic. Everything stays in small tensors, so
it also keeps its speed on a busy 2-core machine. No widget code here, and no fastai import at
module level (``compare`` helpers import it lazily).
"""

from __future__ import annotations

import difflib
import math
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._threads import one_thread

if TYPE_CHECKING:  # pandas is imported lazily (it is only needed with data)
    import pandas as pd

__all__ = [
    "NA",
    "CollabData",
    "CollabNN",
    "DotProductBias",
    "FitResult",
    "RowAdamW",
    "bias_table",
    "collab_data",
    "create_params",
    "emb_sz_rule",
    "fit_collab",
    "fit_fastai",
    "find_item",
    "get_emb_sz",
    "make_model",
    "one_cycle",
    "random_split",
    "sigmoid_range",
    "similar_items",
]

NA = "#na#"  # fastai's Categorify reserves class 0 for unknown values
DEFAULT_BS = 512
USER_NAMES = ("user", "userId", "user_id", "userid", "users", "uid")
ITEM_NAMES = ("title", "item", "movie", "movieId", "item_id", "itemId", "movie_id", "items", "iid")
RATING_NAMES = ("rating", "ratings", "score", "stars", "y")
Event = dict[str, Any]
_FADED = 1e-12  # a catch-up factor below this zeroes the momentum it scales
_TINY = 1e-30  # optimizer state below this is flushed to zero at catch-ups
_F32_TINY = float(torch.finfo(torch.float32).tiny)


# --- the lesson's building blocks -----------------------------------------------------------------


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
    """(user factors, item factors) of either model, detached."""
    items = getattr(model, "movie_factors", None)
    if items is None:
        items = model.item_factors
    return model.user_factors.detach(), items.detach()


def bias_tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(user bias, item bias) of a DotProductBias with biases, else None."""
    ub, ib = getattr(model, "user_bias", None), getattr(model, "movie_bias", None)
    return None if ub is None or ib is None else (ub.detach(), ib.detach())


# --- data -----------------------------------------------------------------------------------------


def random_split(
    n: int, valid_pct: float = 0.2, seed: int | None = 42
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, valid) row indices exactly as fastai's ``RandomSplitter(valid_pct, seed)`` draws them."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    cut = int(valid_pct * n)
    return perm[cut:], perm[:cut]


@dataclass(eq=False)
class CollabData:
    """Ratings as index tensors: users and items numbered like fastai's ``Categorify`` (0 = ``#na#``)."""

    users: list  # class of each user index; users[0] == "#na#"
    items: list  # class (title) of each item index; items[0] == "#na#"
    x: torch.Tensor  # (n, 2) int64: user index, item index
    y: torch.Tensor  # (n,) float32 ratings
    train_idx: torch.Tensor
    valid_idx: torch.Tensor
    user_name: str
    item_name: str
    rating_name: str
    frame: Any = field(repr=False)  # the three columns as given (for fastai)
    user_counts: np.ndarray = field(init=False, repr=False)  # ratings per user in the training set
    item_counts: np.ndarray = field(init=False, repr=False)
    valid_pct: float = 0.2
    seed: int | None = 42

    def __post_init__(self) -> None:
        tx = self.x[self.train_idx]
        self.user_counts = np.bincount(tx[:, 0].numpy(), minlength=len(self.users))
        self.item_counts = np.bincount(tx[:, 1].numpy(), minlength=len(self.items))
        self._item_lookup = {str(t): i for i, t in enumerate(self.items) if i}

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def rating_range(self) -> tuple[float, float]:
        return float(self.y.min()), float(self.y.max())

    def default_y_range(self) -> tuple[float, float]:
        """The book's (0, 5.5) for a 0–5 star scale, else the data's range with 10% headroom."""
        low, high = self.rating_range
        if low >= 0 and high <= 5:
            return (0.0, 5.5)
        pad = 0.1 * (high - low or 1.0)
        return (min(0.0, low) if low >= 0 else low - pad, high + pad)

    def __len__(self) -> int:
        return len(self.y)

    def describe(self) -> str:
        return (
            f"{len(self):,} ratings, {self.n_users - 1:,} users, {self.n_items - 1:,} items "
            f"({len(self.train_idx):,} train / {len(self.valid_idx):,} valid)"
        )


def _pick_column(frame_cols: list[str], given: str | None, names: Sequence[str]) -> str | None:
    if given is not None:
        return given if given in frame_cols else None
    lower = {str(c).lower(): c for c in frame_cols}
    for name in names:
        if name in frame_cols:
            return name
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _few(values: Sequence, n: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:n])
    return shown + (f", … ({len(vals)} in all)" if len(vals) > n else "")


def _classes(col: pd.Series) -> tuple[list, np.ndarray]:
    """fastai's CategoryMap with add_na: sorted unique values after ``#na#``, and each row's index."""
    uniq = col.unique()
    try:
        uniq = sorted(uniq)
    except TypeError:  # mixed types: order by text, still deterministic
        uniq = sorted(uniq, key=str)
    classes = [NA, *uniq]
    lookup = {v: i for i, v in enumerate(classes)}
    return classes, col.map(lookup).to_numpy(np.int64)


def collab_data(
    ratings: pd.DataFrame,
    user_name: str | None = None,
    item_name: str | None = None,
    rating_name: str | None = None,
    valid_pct: float = 0.2,
    seed: int | None = 42,
) -> CollabData:
    """Check a ratings DataFrame and turn it into index tensors with fastai's split and numbering.

    Columns are found by name (``user``/``userId``, ``title``/``item``/``movie``, ``rating``…),
    preferring titles as items as the book does; name them explicitly to override.
    Raises ``ValueError`` saying what was found and what is needed.
    """
    import pandas as pd

    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(
            f"ratings must be a pandas DataFrame with user, item and rating columns, got {type(ratings).__name__}"
        )
    if not (isinstance(valid_pct, numbers.Real) and 0 < float(valid_pct) < 1):
        raise ValueError(f"valid_pct must be a number between 0 and 1, got {valid_pct!r}")
    cols = [str(c) for c in ratings.columns]
    frame = ratings.copy()
    frame.columns = cols
    picked = {
        "user": _pick_column(cols, user_name, USER_NAMES),
        "item": _pick_column(cols, item_name, ITEM_NAMES),
        "rating": _pick_column(cols, rating_name, RATING_NAMES),
    }
    missing = [k for k, v in picked.items() if v is None]
    if missing:
        wants = {"user": USER_NAMES, "item": ITEM_NAMES, "rating": RATING_NAMES}
        given = {"user": user_name, "item": item_name, "rating": rating_name}
        needs = "; ".join(
            f"{k}: column {given[k]!r} (given)"
            if given[k]
            else f"{k}: one of {', '.join(wants[k][:5])}"
            for k in missing
        )
        raise ValueError(
            f"ratings need a user, an item and a rating column; found columns {cols or '(none)'}, "
            f"missing {needs}. Name them with user_name=, item_name=, rating_name=."
        )
    u, i, r = picked["user"], picked["item"], picked["rating"]
    if len({u, i, r}) < 3:
        raise ValueError(
            f"user, item and rating must be three different columns, got {u!r}, {i!r}, {r!r}"
        )
    if len(frame) == 0:
        raise ValueError(f"ratings are empty: 0 rows (columns {cols}); need at least 2 ratings")
    raw = frame[r]
    if pd.api.types.is_bool_dtype(raw):
        raise ValueError(f"rating column {r!r} holds booleans; need numbers such as 1–5 stars")
    values = pd.to_numeric(raw, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        examples = [(idx, raw[idx]) for idx in raw.index[bad][:5]]
        shown = ", ".join(f"row {idx}: {val!r}" for idx, val in examples)
        kind = "empty or non-numeric" if values.isna().any() else "infinite"
        raise ValueError(
            f"rating column {r!r} has {int(bad.sum())} {kind} value(s) ({shown}); "
            f"found dtype {raw.dtype}, need finite numbers"
        )
    for name in (u, i):
        if frame[name].isna().any():
            rows = list(frame.index[frame[name].isna()][:5])
            raise ValueError(
                f"column {name!r} has empty values (rows {_few(rows)}); every rating needs a user and an item"
            )
    if len(frame) < 2:
        raise ValueError(f"need at least 2 ratings to split into train and valid, got {len(frame)}")
    n_valid = int(float(valid_pct) * len(frame))
    if n_valid < 1 or n_valid >= len(frame):
        raise ValueError(
            f"valid_pct={valid_pct} of {len(frame)} ratings leaves {n_valid} for validation; "
            "need at least 1 rating in each of train and valid"
        )

    users, ui = _classes(frame[u])
    items, ii = _classes(frame[i])
    x = torch.from_numpy(np.stack([ui, ii], axis=1))
    y = torch.from_numpy(values.to_numpy(np.float32, copy=True))
    train_idx, valid_idx = random_split(len(frame), float(valid_pct), seed)
    return CollabData(
        users=users,
        items=items,
        x=x,
        y=y,
        train_idx=train_idx,
        valid_idx=valid_idx,
        user_name=u,
        item_name=i,
        rating_name=r,
        frame=frame[[u, i, r]].assign(**{r: values.astype(np.float32)}),
        valid_pct=float(valid_pct),
        seed=seed,
    )


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


# --- the one-cycle schedule and the row-wise AdamW ------------------------------------------------


def _sched_cos(start: float, end: float, pos: np.ndarray) -> np.ndarray:
    return start + (1 + np.cos(np.pi * (1 - pos))) * (end - start) / 2


def combined_cos(
    pct: float, start: float, middle: float, end: float, pos: np.ndarray
) -> np.ndarray:
    """fastai's ``combined_cos``: cosine from start to middle over ``pct``, then to end."""
    pos = np.asarray(pos, dtype=np.float64)
    first = pos < pct
    out = np.empty_like(pos)
    if pct > 0:
        out[first] = _sched_cos(start, middle, pos[first] / pct)
    rest = ~first
    out[rest] = _sched_cos(middle, end, (pos[rest] - pct) / (1 - pct))
    return out


def one_cycle(
    total_steps: int,
    lr_max: float,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (lr, beta1) of fastai's ``fit_one_cycle``, sampled where its ParamScheduler samples."""
    pos = np.arange(total_steps, dtype=np.float64) / total_steps
    lrs = combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final, pos)
    mom = combined_cos(pct_start, *moms, pos)
    return lrs, mom


class RowAdamW:
    """fastai's ``Adam(decouple_wd=True)`` (AdamW) that updates only the embedding rows a batch uses.

    Rows skipped at a step still decay (weight decay) and drift (momentum) in dense AdamW; here
    those steps are applied in closed form when the row is next used (or by ``catch_up``), from
    prefix sums over the schedule. Exact except that ``eps`` inside skipped steps is taken at its
    scale when the row was last used. ``dense=True`` updates every row every step (plain AdamW),
    which also handles schedules where ``lr * wd`` is large enough to flip weights' signs.
    """

    def __init__(
        self,
        model: nn.Module,
        lrs: np.ndarray,
        moms: np.ndarray,
        wd: float,
        sqr_mom: float = 0.99,
        eps: float = 1e-5,
        dense: bool = False,
    ):
        self.model = model
        self.eps, self.sqr_mom, self.wd = float(eps), float(sqr_mom), float(wd)
        self.dense = bool(dense)
        self.params = dict(model.named_parameters())
        rows = {} if self.dense else getattr(model, "row_params", {})
        self.rows = {n: c for n, c in rows.items() if n in self.params}
        self.dense_params = {n: p for n, p in self.params.items() if n not in self.rows}
        # fastai's wd_bn_bias=False: no weight decay on Linear/BatchNorm biases and norm weights
        self.no_wd = _norm_bias_names(model)
        # row tables as (n_rows, width) views, their state as one (n_rows, 2*width) [m | v] tensor
        self.flat = {n: self.params[n].data.view(self.params[n].shape[0], -1) for n in self.rows}
        self.row_state = {n: torch.zeros(f.shape[0], 2 * f.shape[1]) for n, f in self.flat.items()}
        self.state = {
            n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in self.dense_params.items()
        }
        self.last: dict[int, torch.Tensor] = {}
        for n, c in self.rows.items():
            self.last.setdefault(c, torch.zeros(self.flat[n].shape[0], dtype=torch.long))
        self.t = 0
        self._batch: dict = {}
        self._tables(np.asarray(lrs, np.float64), np.asarray(moms, np.float64))

    def _tables(self, lrs: np.ndarray, moms: np.ndarray) -> None:
        """Per-step constants, and prefix sums for catching rows up in closed form.

        Between uses a row's momentum m and square average v only decay, so after k its update
        at step s is ``(m_k / sqrt(v_k)) * b_s * prod_{k<j<=s} b1_j / sqrt(b2)``, shrunk by the weight
        decay still to come. With ``r_j = b1_j / (sqrt(b2) * d_j)`` and ``H[k] = sum_{s>k} b_s
        prod_{k<j<=s} r_j`` (a backward recursion), the total from k to s is
        ``D(k,s) * (p_k - u_k * (H[k] - R(k,s) H[s]))``.
        """
        T = len(lrs)
        t = np.arange(1, T + 1, dtype=np.float64)
        b2 = self.sqr_mom
        self.b1 = moms
        self.d = 1.0 - lrs * self.wd  # decoupled weight decay factor
        self.a = lrs / (1.0 - moms**t)  # lr / bias correction 1
        self.sb2 = np.sqrt(1.0 - b2**t)  # sqrt(bias correction 2)
        if not self.rows:
            return
        if (self.d <= 0).any():
            raise ValueError("lr × wd ≥ 1 flips the weights' signs: use dense=True")
        b = self.a * self.sb2
        r = moms / (math.sqrt(b2) * self.d)
        H = np.zeros(T + 1)
        for k in range(T - 1, -1, -1):
            H[k] = r[k] * (b[k] + H[k + 1])

        def prefix(v: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(v)])

        sb2 = np.concatenate([[0.0], self.sb2])
        self.tab = torch.tensor(
            np.stack(
                [
                    prefix(np.log(self.d)),  # log prod d: weight decay
                    prefix(np.log(r)),  # log prod r: the momentum tail's weights
                    prefix(np.log(moms)),  # log prod b1: m's decay
                    np.arange(T + 1) * math.log(b2),  # log b2^k: v's decay
                    H,
                    self.eps * sb2,  # eps on m / sqrt(v)'s scale at the row's last use
                ],
                axis=1,
            ),
            dtype=torch.float64,
        )

    def _coefs(self, k: torch.Tensor, s: int) -> torch.Tensor:
        """(rows, 5) float32: weight decay D, tail F, m and v decay, eps, carrying k to s."""
        rv = self.tab.index_select(0, k)
        cur = self.tab[s]
        e = (cur[:4] - rv[:, :4]).exp_()
        F = rv[:, 4] - e[:, 1] * cur[4]
        fade = e[:, 2:4]
        fade.masked_fill_(fade < _FADED, 0.0)  # faded momentum is zero: denormals are ~100x slower
        return torch.stack([e[:, 0], F, e[:, 2], e[:, 3], rv[:, 5] + _F32_TINY], 1).float()

    @staticmethod
    def _tail(p: torch.Tensor, m: torch.Tensor, v: torch.Tensor, c: torch.Tensor) -> None:
        """Apply the skipped steps' weight decay and momentum to p in place (m, v not decayed)."""
        u = m / v.sqrt().add_(c[:, 4:5])
        p.sub_(u.mul_(c[:, 1:2])).mul_(c[:, 0:1])

    def gather(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Rows this batch uses, caught up to now, as leaves for autograd; and x renumbered to them."""
        if not self.rows:
            return {}, x
        s = self.t
        cols = [x[:, 0], x[:, 1]]
        batch = {}
        for c in self.last:
            rows, inv = torch.unique(x[:, c], return_inverse=True)
            cols[c] = inv
            batch[c] = (rows, self._coefs(self.last[c].index_select(0, rows), s) if s else None)
        leaves = {}
        self._batch = {"cols": batch}
        for n, c in self.rows.items():
            rows, coefs = batch[c]
            p = self.flat[n].index_select(0, rows)
            st = self.row_state[n].index_select(0, rows)
            w = p.shape[1]
            if coefs is not None:
                self._tail(p, st[:, :w], st[:, w:], coefs)
            self._batch[n] = st
            leaves[n] = p.view(-1, *self.params[n].shape[1:]).requires_grad_()
        return leaves, torch.stack(cols, 1)

    def step(self, leaves: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> None:
        """Apply step t+1: rows in ``leaves`` get their gradients; dense parameters too."""
        self.t += 1
        i = self.t - 1
        b1, b2 = float(self.b1[i]), self.sqr_mom
        d, sb2, a = float(self.d[i]), float(self.sb2[i]), float(self.a[i])
        eps_sb2, step = self.eps * sb2, -a * sb2
        batch = self._batch.get("cols", {})
        with torch.no_grad():
            for n, leaf in leaves.items():
                rows, coefs = batch[self.rows[n]]
                p = leaf.detach().view(len(rows), -1)
                g = grads[n].view(len(rows), -1)
                st = self._batch[n]
                w = p.shape[1]
                m, v = st[:, :w], st[:, w:]
                if coefs is None:
                    m.mul_(b1)
                    v.mul_(b2)
                else:  # the skipped steps' decay of m and v, folded into this step's
                    m.mul_(coefs[:, 2:3] * b1)
                    v.mul_(coefs[:, 3:4] * b2)
                m.add_(g, alpha=1 - b1)
                v.addcmul_(g, g, value=1 - b2)
                if self.wd:
                    p.mul_(d)
                p.addcdiv_(m, v.sqrt().add_(eps_sb2), value=step)
                self.flat[n].index_put_((rows,), p)
                self.row_state[n].index_put_((rows,), st)
            for n, p in self.dense_params.items():
                g = grads.get(n)
                if g is None:
                    continue
                m, v = self.state[n]
                if self.wd and n not in self.no_wd:
                    p.data.mul_(d)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.data.addcdiv_(m, v.sqrt().add_(eps_sb2), value=step)
            for c, (rows, _) in batch.items():
                self.last[c].index_fill_(0, rows, self.t)
        self._batch = {}

    def catch_up(self) -> None:
        """Bring every row to the current step, so the model's tensors are what dense AdamW holds."""
        if not self.rows or not self.t:
            return
        with torch.no_grad():
            for c, last in self.last.items():
                stale = (last < self.t).nonzero().squeeze(1)
                if not len(stale):
                    continue
                coefs = self._coefs(last.index_select(0, stale), self.t)
                for n, col in self.rows.items():
                    if col != c:
                        continue
                    p = self.flat[n].index_select(0, stale)
                    st = self.row_state[n].index_select(0, stale)
                    w = p.shape[1]
                    m, v = st[:, :w], st[:, w:]
                    self._tail(p, m, v, coefs)
                    m.mul_(coefs[:, 2:3])
                    v.mul_(coefs[:, 3:4])
                    st.masked_fill_(st.abs() < _TINY, 0.0)  # keep denormals out of the state
                    self.flat[n].index_put_((stale,), p)
                    self.row_state[n].index_put_((stale,), st)
                last.index_fill_(0, stale, self.t)


def _norm_bias_names(model: nn.Module) -> set[str]:
    """Names of parameters fastai leaves out of weight decay (``wd_bn_bias=False``)."""
    norm = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.InstanceNorm1d, nn.GroupNorm)
    out = set()
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if isinstance(mod, norm):
            out.update(prefix + n for n, _ in mod.named_parameters(recurse=False))
        elif isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)) and mod.bias is not None:
            out.add(prefix + "bias")
    return out


# --- the training loop ----------------------------------------------------------------------------


@dataclass
class FitResult:
    """What a run did: per-epoch history, fitting seconds and how it ended."""

    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "done"  # done | stopped | diverged
    message: str = ""
    steps: int = 0
    bs: int = 0
    learner: Any = None  # fastai's Learner, for fit_fastai

    @property
    def valid_mse(self) -> float:
        return self.history[-1]["valid_mse"] if self.history else float("nan")


@torch.no_grad()
def valid_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> float:
    """Mean squared error of ``model`` on (x, y), in chunks (what fastai's valid_loss reports)."""
    was = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(y), chunk):
        d = model(x[i : i + chunk]) - y[i : i + chunk]
        total += float((d * d).sum())
    model.train(was)
    return total / max(len(y), 1)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_fit_args(epochs: Any, lr: Any, wd: Any, bs: Any) -> tuple[int, float, float, int]:
    """Validate the hyper-parameters a learner types; ValueError names the bad one and the range."""

    def real(name, v, lo, hi, lo_open=True):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
        v = float(v)
        if (v <= lo if lo_open else v < lo) or v > hi:
            raise ValueError(
                f"{name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v:g}"
            )
        return v

    return (
        check_whole("epochs", epochs, 1, 1000),
        real("lr", lr, 0, 1e12),
        real("wd", wd, 0, 1e6, lo_open=False),
        check_whole("bs", bs, 1, 1 << 20),
    )


def check_whole(name: str, v: Any, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi], or a ValueError that names it (bools and text are refused)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {v!r}")
    return int(v)


@one_thread()  # a context manager from @contextmanager also works as a decorator
def fit_collab(
    model: nn.Module,
    data: CollabData,
    epochs: int = 5,
    lr: float = 5e-3,
    wd: float = 0.1,
    bs: int = DEFAULT_BS,
    *,
    seed: int | None = 0,
    callback: Callable[[Event], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    dense: bool | None = None,
    lock: Any = None,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> FitResult:
    """Train ``model`` on ``data`` with fastai's ``fit_one_cycle`` recipe (MSE loss, AdamW, wd).

    ``callback(event)`` streams progress: kind "step" (running train loss) ``reports_per_epoch``
    times an epoch, "epoch" (with valid MSE) after each. ``should_stop()`` is checked every step;
    a stop keeps the weights of the last finished step. A non-finite loss or valid MSE stops the
    run and restores the weights of the last epoch that ended well (or the start).
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    tx, ty = data.x[data.train_idx], data.y[data.train_idx]
    vx, vy = data.x[data.valid_idx], data.y[data.valid_idx]
    n = len(ty)
    bs = min(bs, n)
    per_epoch = n // bs
    total = per_epoch * epochs
    lrs, b1s = one_cycle(total, lr, div=div, div_final=div_final, pct_start=pct_start, moms=moms)
    if dense is None:
        dense = bool((lrs * wd).max() >= 0.5)
    opt = RowAdamW(model, lrs, b1s, wd, dense=dense)
    gen = torch.Generator()
    gen.manual_seed(0 if seed is None else int(seed))
    lock = lock if lock is not None else nullcontext()
    every = max(1, per_epoch // max(1, reports_per_epoch))
    dense_names = list(opt.dense_params)  # fixed for the run: built once, not every step
    dense_inputs = list(opt.dense_params.values())
    res = FitResult(bs=bs)
    good = _snapshot(model)
    good_epochs = 0
    t0 = time.perf_counter()
    epoch_start = t0
    emit = callback or (lambda e: None)
    model.train()

    def diverge(where: str) -> FitResult:
        with lock:
            model.load_state_dict(good)
        del res.history[good_epochs:]
        back = f"the end of epoch {good_epochs}" if good_epochs else "the start of training"
        res.status = "diverged"
        res.message = (
            f"{where}: lr={lr:g} is too high for this model. Stopped and restored the weights "
            f"from {back}."
        )
        return res

    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        run_loss, run_n, win_loss, win_n = 0.0, 0, 0.0, 0
        for b in range(per_epoch):
            if should_stop is not None and should_stop():
                with lock:
                    opt.catch_up()
                    mse = valid_mse(model, vx, vy)
                now = time.perf_counter()
                done = epoch + b / per_epoch
                if run_n or not res.history:  # else the last epoch's entry is the last step
                    res.history.append(
                        dict(
                            epoch=round(done, 3),
                            train_loss=run_loss / run_n if run_n else float("nan"),
                            valid_mse=mse,
                            seconds=now - epoch_start,
                            partial=True,
                        )
                    )
                    emit(dict(kind="epoch", **res.history[-1], step=opt.t, total=total))
                res.status, res.steps = "stopped", opt.t
                res.seconds = now - t0
                res.message = (
                    f"Stopped after {opt.t} of {total} steps (epoch {done:.2f} of {epochs})."
                )
                return res
            idx = perm[b * bs : (b + 1) * bs]
            xb, yb = tx[idx], ty[idx]
            with lock:
                leaves, xl = opt.gather(xb)
                saved = {nm: model._parameters[nm] for nm in leaves}
                model._parameters.update(leaves)
                try:
                    pred = model(xl)
                finally:
                    model._parameters.update(saved)
                diff = pred - yb
                loss = (diff * diff).mean()
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    res.seconds = time.perf_counter() - t0
                    res.steps = opt.t
                    out = diverge(f"Loss became {lv} at step {b + 1} of epoch {epoch + 1}")
                    emit(dict(kind="diverged", message=out.message, step=opt.t, total=total))
                    return out
                grads = torch.autograd.grad(loss, [*leaves.values(), *dense_inputs])
                gd = dict(zip([*leaves, *dense_names], grads, strict=True))
                opt.step(leaves, gd)
            run_loss += lv
            run_n += 1
            win_loss += lv
            win_n += 1
            if (b + 1) % every == 0 and b + 1 < per_epoch:
                emit(
                    dict(
                        kind="step",
                        epoch=epoch + (b + 1) / per_epoch,
                        train_loss=win_loss / win_n,
                        step=opt.t,
                        total=total,
                        seconds=time.perf_counter() - t0,
                    )
                )
                win_loss, win_n = 0.0, 0
        with lock:
            opt.catch_up()
            mse = valid_mse(model, vx, vy)
        now = time.perf_counter()
        entry = dict(
            epoch=epoch + 1,
            train_loss=run_loss / max(run_n, 1),
            valid_mse=mse,
            seconds=now - epoch_start,
        )
        epoch_start = now
        res.steps, res.seconds = opt.t, now - t0
        if not math.isfinite(mse):
            out = diverge(f"Valid MSE became {mse} after epoch {epoch + 1}")
            emit(dict(kind="diverged", message=out.message, step=opt.t, total=total))
            return out
        res.history.append(entry)
        good, good_epochs = _snapshot(model), epoch + 1
        window = win_loss / win_n if win_n else entry["train_loss"]
        emit(dict(kind="epoch", **entry, window_loss=window, step=opt.t, total=total))
    res.message = f"Trained {epochs} epoch(s), {total} steps of {bs} ratings."
    return res


# --- fastai on the same split ---------------------------------------------------------------------


def fastai_dls(data: CollabData, bs: int = 64):
    """fastai ``DataLoaders`` over the same rows, split and class numbering as ``data``."""
    from fastai.collab import TabularCollab
    from fastai.data.block import TransformBlock
    from fastai.tabular.core import Categorify

    splits = (data.train_idx.tolist(), data.valid_idx.tolist())
    to = TabularCollab(
        data.frame,
        [Categorify],
        [data.user_name, data.item_name],
        y_names=[data.rating_name],
        y_block=TransformBlock(),
        splits=splits,
    )
    return to.dataloaders(path=".", bs=bs)


def fit_fastai(
    data: CollabData,
    epochs: int = 5,
    lr: float = 5e-3,
    wd: float = 0.1,
    n_factors: int = 50,
    y_range: Sequence[float] | None = (0, 5.5),
    use_nn: bool = False,
    n_act: int = 100,
    bs: int = 64,
    *,
    seed: int | None = 0,
    callback: Callable[[Event], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reports_per_epoch: int = 10,
    dls: Any = None,
) -> FitResult:
    """fastai's own ``collab_learner(...).fit_one_cycle(epochs, lr, wd=wd)`` on the same split.

    Streams the same events as ``fit_collab``; ``seconds`` counts fitting only (not building the
    DataLoaders). The learner is returned in ``result.learner``.
    """
    epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
    from fastai.callback.core import Callback, CancelFitException
    from fastai.collab import collab_learner

    y_range = _as_y_range(y_range)
    dls = dls if dls is not None else fastai_dls(data, bs=bs)
    emit = callback or (lambda e: None)
    res = FitResult(bs=bs)
    per_epoch = len(dls.train)
    total = per_epoch * epochs
    every = max(1, per_epoch // max(1, reports_per_epoch))

    class Stream(Callback):
        order = 60  # after Recorder, which computes valid_loss in after_epoch

        def before_fit(self):
            self.t0 = self.e0 = time.perf_counter()
            self.step = 0

        def before_epoch(self):
            self.loss_sum, self.n, self.win, self.win_n = 0.0, 0, 0.0, 0

        def after_batch(self):
            if not self.training:
                return
            lv = float(self.loss.detach())
            self.step += 1
            self.loss_sum += lv
            self.n += 1
            self.win += lv
            self.win_n += 1
            if self.iter + 1 < per_epoch and (self.iter + 1) % every == 0:
                emit(
                    dict(
                        kind="step",
                        epoch=self.epoch + (self.iter + 1) / per_epoch,
                        train_loss=self.win / self.win_n,
                        step=self.step,
                        total=total,
                        seconds=time.perf_counter() - self.t0,
                    )
                )
                self.win, self.win_n = 0.0, 0
            if should_stop is not None and should_stop():
                res.status = "stopped"
                raise CancelFitException()

        def after_epoch(self):
            now = time.perf_counter()
            entry = dict(
                epoch=self.epoch + 1,
                train_loss=self.loss_sum / max(self.n, 1),
                valid_mse=float(self.recorder.values[-1][1]),
                seconds=now - self.e0,
            )
            self.e0 = now
            res.history.append(entry)
            emit(dict(kind="epoch", **entry, step=self.step, total=total))

    stream = Stream()
    learn = collab_learner(
        dls,
        n_factors=n_factors,
        use_nn=use_nn,
        layers=[n_act] if use_nn else None,
        y_range=y_range,
        cbs=[stream],
    )
    np_state = np.random.get_state()
    # Off the main thread, OpenMP costs fastai ~50% (measured 9.2 s an epoch with 2 threads
    # against 7.2 s with 1; on the main thread 2 threads win): give it the faster setting.
    off_main = threading.current_thread() is not threading.main_thread()
    try:
        with one_thread() if off_main else nullcontext(), torch.random.fork_rng():
            if seed is not None:
                torch.manual_seed(seed)
                np.random.seed(seed)
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(epochs, lr, wd=wd)
            res.seconds = time.perf_counter() - t0
    finally:
        np.random.set_state(np_state)
        learn.remove_cb(stream)  # the learner handed back behaves like a plain fastai one
    res.steps = learn.train_iter
    res.learner = learn
    if res.status == "stopped":
        done = res.steps / per_epoch
        if not res.history or res.history[-1]["epoch"] < done:
            with learn.no_bar(), learn.no_logging():
                mse = float(learn.validate()[0])
            res.history.append(
                dict(
                    epoch=round(done, 3),
                    train_loss=float("nan"),
                    valid_mse=mse,
                    seconds=0.0,
                    partial=True,
                )
            )
        res.message = f"fastai stopped after {res.steps} of {total} steps."
    else:
        res.message = f"fastai trained {epochs} epoch(s), {total} steps of {bs} ratings."
    return res


# --- reading the model ----------------------------------------------------------------------------


def find_item(data: CollabData, title: str) -> int:
    """Index of ``title``: exact, then case-insensitive; else KeyError suggesting close titles."""
    key = str(title).strip()
    idx = data._item_lookup.get(key)
    if idx is not None:
        return idx
    folded = key.casefold()
    exact = [i for t, i in data._item_lookup.items() if t.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    titles = list(data._item_lookup)
    by_count = sorted(
        (t for t in titles if folded and folded in t.casefold()),
        key=lambda t: -data.item_counts[data._item_lookup[t]],
    )
    close = difflib.get_close_matches(key, titles, n=5, cutoff=0.5)
    seen, hints = set(), []
    for t in [*by_count[:5], *close]:
        if t not in seen:
            seen.add(t)
            hints.append(t)
    hint = f" Did you mean: {'; '.join(hints[:5])}?" if hints else " No close matches."
    raise KeyError(f"{key!r} is not an item in these ratings ({data.n_items - 1:,} titles).{hint}")


def bias_table(
    model: nn.Module,
    data: CollabData,
    kind: str = "item",
    n: int = 10,
    lowest: bool = True,
    min_ratings: int = 1,
) -> pd.DataFrame:
    """The n lowest (or highest) learned biases with how many training ratings each had."""
    import pandas as pd

    n = check_whole("n", n, 0, 1 << 30)
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    tables = bias_tables(model)
    if tables is None:
        raise ValueError(
            "this model has no biases (neural net or bias=False): train DotProductBias with bias=True"
        )
    bias = (tables[1] if kind == "item" else tables[0]).numpy()
    counts = data.item_counts if kind == "item" else data.user_counts
    names = data.items if kind == "item" else data.users
    keep = np.flatnonzero(counts >= max(1, min_ratings))
    keep = keep[keep > 0]
    order = keep[np.argsort(bias[keep], kind="stable")]
    if not lowest:
        order = order[::-1]
    order = order[:n]
    label = "title" if kind == "item" else "user"
    return pd.DataFrame(
        {
            label: [names[i] for i in order],
            "bias": bias[order].astype(float),
            "n_ratings": counts[order].astype(int),
        }
    )


def similar_items(
    model: nn.Module, data: CollabData, title: str, k: int = 5, min_ratings: int = 1
) -> pd.DataFrame:
    """Items whose factor vectors point the same way as ``title``'s (cosine similarity)."""
    import pandas as pd

    k = check_whole("k", k, 0, 1 << 30)
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    idx = find_item(data, title)
    _, items = factor_tables(model)
    sims = nn.functional.cosine_similarity(items, items[idx][None], dim=1).numpy()
    ok = data.item_counts >= max(1, min_ratings)
    ok[0] = ok[idx] = False
    cand = np.flatnonzero(ok)
    order = cand[np.argsort(-sims[cand], kind="stable")][:k]
    return pd.DataFrame(
        {
            "title": [data.items[i] for i in order],
            "similarity": sims[order].astype(float),
            "n_ratings": data.item_counts[order].astype(int),
        }
    )
