"""Ratings as index tensors, split and numbered the way fastai's ``CollabDataLoaders`` does it
(``RandomSplitter`` indices, ``Categorify`` classes with ``#na#`` at 0), so a model here and
fastai's ``collab_learner`` see the same rows with the same ids; and where the ratings come from."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # pandas is imported lazily (it is only needed with data)
    import pandas as pd

__all__ = [
    "NA",
    "NO_TAGS",
    "CollabData",
    "ItemTags",
    "auto_bs",
    "collab_data",
    "genre_map",
    "item_tags",
    "random_split",
]

NA = "#na#"  # fastai's Categorify reserves class 0 for unknown values
USER_NAMES = ("user", "userId", "user_id", "userid", "users", "uid")
ITEM_NAMES = ("title", "item", "movie", "movieId", "item_id", "itemId", "movie_id", "items", "iid")
RATING_NAMES = ("rating", "ratings", "score", "stars", "y")


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
    def item_lookup(self) -> dict[str, int]:
        """Title → item index (the ``#na#`` row left out), for finding a title by name."""
        return self._item_lookup

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


def auto_bs(n_train: int) -> int:
    """A batch size giving ~150+ steps an epoch: 512 for MovieLens (80k ratings), 64 for small sets.

    Big batches make an epoch cheap; the one-cycle schedule still needs enough steps to work.
    """
    bs = 64
    while bs < 512 and n_train / (bs * 2) >= 150:
        bs *= 2
    return bs


# --- where the ratings come from ------------------------------------------------------------------

DATASETS = ("ml-100k", "ml-latest-small", "synthetic")


@dataclass
class LoadedRatings:
    """A ratings frame, where it came from in words, and the planted truth of synthetic ratings."""

    frame: Any
    source: str
    truth: Any = None


def offline_note(err: FileNotFoundError, name: str = "ml-100k") -> str:
    """Why MovieLens was not used, in plain words: where it was looked for and the one fix."""
    from ...data.movielens import OFFLINE_ENV, fastai_data_dir

    text = str(err)
    label = {"ml-100k": "MovieLens 100k", "ml-latest-small": "MovieLens latest-small"}[name]
    if OFFLINE_ENV in text:
        why = f"downloads are off ({OFFLINE_ENV} is set)"
    elif "download: not tried" in text:
        why = "it was not downloaded"
    else:
        why = "it could not be downloaded (no network?)"
    cache = fastai_data_dir() / name
    return (
        f"{label} was not found in the fastai cache ({cache}) and {why}. To use it, copy the "
        f"unzipped {name} folder to {cache} or pass its folder: CollabLab(path=...)"
    )


def load_ratings(ratings: Any = None, path: Any = None) -> LoadedRatings:
    """Ratings from a DataFrame, a data set name, a MovieLens folder, or (``None``) the best at hand:
    MovieLens 100k (``path``, fastai cache, download), ml-latest-small from ``path``, else labelled
    synthetic ratings with a note saying why and how to get the real ones."""
    from pathlib import Path

    import pandas as pd

    from ... import data as D

    if isinstance(ratings, pd.DataFrame):
        return LoadedRatings(ratings, f"your DataFrame ({len(ratings):,} rows)")
    if ratings is None:
        notes = []
        try:
            r = D.movielens("ml-100k", path=path)
            return LoadedRatings(r.ratings, r.source)
        except FileNotFoundError as e:
            notes.append(offline_note(e))
        if path is not None:
            try:
                r = D.movielens("ml-latest-small", path=path, download=False)
                return LoadedRatings(r.ratings, r.source)
            except FileNotFoundError:
                notes.append(f"ml-latest-small is not in {path} either")
        syn = D.synthetic_ratings()
        return LoadedRatings(syn.ratings, f"{syn.source}. {' '.join(notes)}", syn.truth)
    if isinstance(ratings, str) and ratings in DATASETS:
        if ratings == "synthetic":
            syn = D.synthetic_ratings()
            return LoadedRatings(syn.ratings, syn.source, syn.truth)
        r = D.movielens(ratings, path=path)
        return LoadedRatings(r.ratings, r.source)
    if isinstance(ratings, str | Path) and Path(ratings).expanduser().exists():
        folder = Path(ratings).expanduser()
        folder = folder.parent if folder.is_file() else folder
        for name, marker in (("ml-100k", "u.data"), ("ml-latest-small", "ratings.csv")):
            if (folder / marker).is_file() or (folder / name / marker).is_file():
                r = D.movielens(name, path=folder, download=False)
                return LoadedRatings(r.ratings, r.source)
        raise ValueError(
            f"{folder} holds neither MovieLens layout (u.data for ml-100k, ratings.csv for "
            "ml-latest-small); pass a DataFrame with user, item and rating columns instead"
        )
    raise ValueError(
        f"ratings must be one of {', '.join(map(repr, DATASETS))}, a MovieLens folder or a "
        f"DataFrame with user, item and rating columns; got {ratings!r}"
    )


# --- metadata: tags per item (MovieLens genres, or any item -> tags table) -------------------------

NO_TAGS = ("", "(no genres listed)", "unknown", "nan")  # what MovieLens writes for "no genre"


def genre_map(genres: Any) -> dict | None:
    """Title -> "A|B" genres from a dict, a ratings DataFrame with title and genres columns, or the
    planted truth of ``synthetic_ratings`` (its groups as genres); None when there is nothing."""
    from collections.abc import Mapping

    if genres is None:
        return None
    if hasattr(genres, "item_group") and hasattr(genres, "titles"):  # PlantedTruth
        from ...data.synthetic import group_name

        return {
            t: group_name(int(g)) for t, g in zip(genres.titles, genres.item_group, strict=True)
        }
    if hasattr(genres, "columns"):
        cols = {str(c).lower(): c for c in genres.columns}
        if "title" not in cols or "genres" not in cols:
            raise ValueError(f"genres needs title and genres columns, got {list(genres.columns)}")
        g = genres[[cols["title"], cols["genres"]]].drop_duplicates(cols["title"])
        return dict(zip(g[cols["title"]].astype(str), g[cols["genres"]].astype(str), strict=True))
    if isinstance(genres, Mapping):
        return {str(k): str(v) for k, v in genres.items()}
    raise TypeError(f"genres must be a dict or a DataFrame, got {type(genres).__name__}")


@dataclass(eq=False)
class ItemTags:
    """Metadata for collaborative filtering (lesson 8, 28:19): which tags (genres) each item has.

    ``weights[i]`` is item ``i``'s row over ``names``: 1/n for each of its n tags, so a model adds
    the *mean* of its tags' embeddings to the item's own factors (row 0, ``#na#``, has none).
    """

    names: list[str]
    weights: torch.Tensor  # (n_items, n_tags) float32

    @property
    def n_tags(self) -> int:
        return len(self.names)

    def of(self, item: int) -> list[str]:
        """The tags of item row ``item``."""
        return [self.names[j] for j in torch.nonzero(self.weights[item]).flatten().tolist()]


def item_tags(data: CollabData, tags: Any, sep: str = "|") -> ItemTags:
    """``data``'s items tagged from ``tags``: a title -> "A|B" dict, a DataFrame with title and
    genres columns (MovieLens ``u.item``/``movies.csv`` as loaded), or synthetic ratings' truth.
    ValueError when no item of ``data`` has a tag (the table does not match these titles)."""
    table = genre_map(tags)
    if table is None:
        raise ValueError("metadata needs an item -> tags table (a dict or a DataFrame)")
    per_item = [
        [t for t in str(table.get(str(title), "")).split(sep) if t.strip() and t not in NO_TAGS]
        for title in data.items
    ]
    per_item[0] = []  # #na#
    names = sorted({t for ts in per_item for t in ts})
    if not names:
        raise ValueError(
            f"none of the {data.n_items - 1:,} items has a tag in the metadata given "
            f"({len(table):,} rows): its titles must match the ratings' {data.item_name!r} column"
        )
    col = {t: j for j, t in enumerate(names)}
    w = torch.zeros(data.n_items, len(names))
    for i, ts in enumerate(per_item):
        for t in ts:
            w[i, col[t]] = 1.0 / len(ts)
    return ItemTags(names, w)
