"""Preparing a DataFrame for the tabular model the way fastai's ``TabularPandas`` does.

``tabular_data`` applies ``[Categorify, FillMissing, Normalize]`` as fastai does (classes from the
training rows, sorted, ``#na#`` at 0; missing continuous values filled with the training median plus
a ``<name>_na`` flag column; continuous columns scaled by the training mean and standard deviation)
and splits by date as the course does for Rossmann (the last weeks are the validation set). It
checks the frame first and says exactly what is wrong. No widget code, no fastai import.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..collab import emb_sz_rule

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NA", "TabularData", "get_emb_sz", "tabular_data"]

NA = "#na#"  # fastai's Categorify reserves class 0 for values unseen in training


# --- data ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class TabularData:
    """A frame as tensors: category codes (``#na#`` = 0), normalized continuous columns, targets."""

    cat_names: list[str]  # incl. any <name>_na flag columns FillMissing added, last
    cont_names: list[str]
    y_name: str
    classes: dict[str, list]  # column -> its classes, classes[0] == "#na#"
    x_cat: torch.Tensor  # (n, n_cat) int64
    x_cont: torch.Tensor  # (n, n_cont) float32, normalized
    y: torch.Tensor  # (n,) float32
    train_idx: torch.Tensor
    valid_idx: torch.Tensor
    means: dict[str, float]
    stds: dict[str, float]
    na_dict: dict[str, float]  # FillMissing's training medians
    frame: Any = field(repr=False)  # the given columns, for fastai
    split: str = ""  # how train and valid were chosen, in words

    @property
    def emb_szs(self) -> list[tuple[int, int]]:
        return get_emb_sz(self)

    def counts(self, name: str) -> np.ndarray:
        """Training rows per class of categorical column ``name``."""
        j = self.cat_index(name)
        codes = self.x_cat[self.train_idx, j].numpy()
        return np.bincount(codes, minlength=len(self.classes[name]))

    def cat_index(self, name: str) -> int:
        """Which of ``x_cat``'s columns is categorical column ``name`` (KeyError naming the choices)."""
        if name not in self.cat_names:
            raise KeyError(f"{name!r} is not a categorical column; choose one of {self.cat_names}")
        return self.cat_names.index(name)

    def default_y_range(self) -> tuple[float, float]:
        """The course's ``(0, 1.2 · max)`` for non-negative targets (log sales), else max ± 20%."""
        ty = self.y[self.train_idx]
        low, high = float(ty.min()), float(ty.max())
        if low >= 0:
            return (0.0, high * 1.2)
        pad = 0.2 * (high - low or 1.0)
        return (low - pad, high + pad)

    def describe(self) -> str:
        return (
            f"{len(self.y):,} rows, {len(self.cat_names)} categorical and "
            f"{len(self.cont_names)} continuous columns → {self.y_name} "
            f"({len(self.train_idx):,} train / {len(self.valid_idx):,} valid: {self.split})"
        )


def _names(kind: str, names: Any) -> list[str]:
    if isinstance(names, str):
        names = [names]
    if names is None:
        return []
    try:
        out = list(names)
    except TypeError:
        raise ValueError(f"{kind} must be a list of column names, got {names!r}") from None
    bad = [n for n in out if not isinstance(n, str)]
    if bad:
        raise ValueError(f"{kind} must be column names (text), got {bad!r}")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise ValueError(f"{kind} names {dup} more than once")
    return out


def _few(values: Sequence, n: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:n])
    return shown + (f", … ({len(vals)} in all)" if len(vals) > n else "")


def _classes(col: pd.Series) -> list:
    """fastai's CategoryMap with add_na: categories in order for a categorical dtype, else sorted."""
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        return [NA, *col.cat.categories]
    uniq = list(col.unique())
    try:
        uniq = sorted(uniq)
    except TypeError:  # mixed types: order by text, still deterministic
        uniq = sorted(uniq, key=str)
    return [NA, *uniq]


def _date_split(dates: pd.Series, valid_days: int) -> tuple[np.ndarray, str]:
    import pandas as pd

    try:
        when = pd.to_datetime(dates)
    except (ValueError, TypeError) as err:
        raise ValueError(f"date column {dates.name!r} does not hold dates ({err})") from None
    if when.isna().any():
        raise ValueError(f"date column {dates.name!r} has empty values")
    cut = when.max().normalize() - pd.Timedelta(days=valid_days - 1)
    valid = (when >= cut).to_numpy()
    return valid, f"the last {valid_days} days ({cut.date()} on) are valid"


def tabular_data(
    frame: pd.DataFrame,
    cat_names: Sequence[str],
    cont_names: Sequence[str] = (),
    y_name: str = "LogSales",
    *,
    date_name: str | None = "Date",
    valid_days: int = 48,
    valid_pct: float = 0.2,
    seed: int | None = 42,
    valid_idx: Sequence[int] | None = None,
) -> TabularData:
    """Check ``frame`` and prepare it as fastai's ``[Categorify, FillMissing, Normalize]`` would.

    The split is, in order: ``valid_idx`` when given; the last ``valid_days`` days of
    ``date_name`` when the frame has that column (the course keeps Kaggle's 48-day test length at
    the end of the training period as its validation set); else a random ``valid_pct`` (seeded).
    Raises ``ValueError`` naming what is wrong: an absent column, text in a continuous column, an
    empty category value, a target that is not numbers, a split leaving a side empty.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    cats, conts = _names("cat_names", cat_names), _names("cont_names", cont_names)
    if not isinstance(y_name, str):
        raise ValueError(f"y_name must be a column name (text), got {y_name!r}")
    if not cats:
        raise ValueError("name at least one categorical column (cat_names): entities to embed")
    cols = [str(c) for c in frame.columns]
    absent = [n for n in [*cats, *conts, y_name] if n not in cols]
    if absent:
        raise ValueError(f"column(s) {absent} not in the data; its columns are {cols}")
    both = sorted(set(cats) & set(conts))
    if both:
        raise ValueError(f"column(s) {both} are named as both categorical and continuous")
    if y_name in cats or y_name in conts:
        raise ValueError(f"the target {y_name!r} cannot also be an input column")
    if len(frame) < 2:
        raise ValueError(f"need at least 2 rows to split into train and valid, got {len(frame)}")

    for n in cats:
        col = frame[n]
        # judged once per distinct value: stripping every row's text took seconds on store-days
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        blank = np.array([str(u).strip() == "" for u in uniques] + [True])  # [-1]: missing
        empty = pd.Series(blank[codes], index=col.index)
        if empty.any():
            rows = list(frame.index[empty.to_numpy()][:5])
            raise ValueError(
                f"categorical column {n!r} has {int(empty.sum())} empty value(s) (rows "
                f"{_few(rows)}); give every row a category (e.g. 'unknown')"
            )
    cont_values = {}
    for n in [*conts, y_name]:
        raw = frame[n]
        if pd.api.types.is_bool_dtype(raw):
            cont_values[n] = raw.astype(np.float64)
            continue
        values = pd.to_numeric(raw, errors="coerce")
        text = values.isna() & raw.notna()
        if text.any():
            ex = [raw[i] for i in raw.index[text.to_numpy()][:3]]
            kind = "target" if n == y_name else "continuous column"
            raise ValueError(
                f"{kind} {n!r} holds text ({_few(ex)}), not numbers; make it categorical or "
                "convert it"
            )
        arr = values.to_numpy(np.float64, na_value=np.nan)
        if np.isinf(arr).any():
            raise ValueError(f"column {n!r} has infinite values")
        cont_values[n] = pd.Series(arr, index=frame.index)
    y_arr = cont_values.pop(y_name).to_numpy()
    if np.isnan(y_arr).any():
        raise ValueError(f"target {y_name!r} has {int(np.isnan(y_arr).sum())} empty value(s)")

    # --- the split ---
    n = len(frame)
    if valid_idx is not None:
        vi = np.unique(np.asarray(list(valid_idx), dtype=np.int64))
        if len(vi) and (vi.min() < 0 or vi.max() >= n):
            raise ValueError(f"valid_idx must be row positions 0..{n - 1}")
        valid = np.zeros(n, bool)
        valid[vi] = True
        how = f"{len(vi):,} given rows are valid"
    elif date_name is not None and date_name in cols:
        if isinstance(valid_days, bool) or not isinstance(valid_days, numbers.Integral):
            raise ValueError(f"valid_days must be a whole number of days, got {valid_days!r}")
        if valid_days < 1:
            raise ValueError(f"valid_days must be at least 1, got {valid_days}")
        valid, how = _date_split(frame[date_name], int(valid_days))
    else:
        if not (isinstance(valid_pct, numbers.Real) and 0 < float(valid_pct) < 1):
            raise ValueError(f"valid_pct must be a number between 0 and 1, got {valid_pct!r}")
        g = torch.Generator()
        g.manual_seed(0 if seed is None else int(seed))
        perm = torch.randperm(n, generator=g).numpy()
        valid = np.zeros(n, bool)
        valid[perm[: int(float(valid_pct) * n)]] = True
        how = f"a random {float(valid_pct):.0%} (seed {seed}) is valid"
    train_idx, valid_idx_ = np.flatnonzero(~valid), np.flatnonzero(valid)
    if not len(train_idx) or not len(valid_idx_):
        raise ValueError(
            f"the split ({how}) leaves {len(train_idx)} training and {len(valid_idx_)} "
            "validation rows; need at least one of each"
        )

    # --- FillMissing: training median, plus a flag column ---
    na_dict, flags = {}, {}
    for c in conts:
        s = cont_values[c]
        miss = s.isna().to_numpy()
        if miss.any():
            med = s.iloc[train_idx].median()
            if not math.isfinite(med):
                raise ValueError(f"continuous column {c!r} has no values in the training rows")
            na_dict[c] = float(med)
            cont_values[c] = s.fillna(med)
            flags[f"{c}_na"] = pd.Series(miss, index=frame.index)
    all_cats = [*cats, *flags]

    # --- Categorify: classes from training rows ---
    classes, codes = {}, []
    for c in all_cats:
        col = frame[c] if c in frame.columns and c not in flags else flags[c]
        cl = _classes(col.iloc[train_idx])
        lookup = {v: i for i, v in enumerate(cl) if i}
        classes[c] = cl
        codes.append(col.astype(object).map(lookup).fillna(0).to_numpy(np.int64))
    x_cat = torch.from_numpy(np.stack(codes, axis=1))

    # --- Normalize: training mean and std (ddof 0, +1e-7 as fastai) ---
    means, stds, conts_out = {}, {}, []
    for c in conts:
        v = cont_values[c].to_numpy(np.float64)
        tv = v[train_idx]
        means[c] = float(tv.mean())
        stds[c] = float(tv.std()) + 1e-7
        conts_out.append((v - means[c]) / stds[c])
    x_cont = torch.from_numpy(
        np.stack(conts_out, axis=1).astype(np.float32) if conts else np.zeros((n, 0), np.float32)
    )
    kept = [*cats, *conts, y_name] + ([date_name] if date_name in cols else [])
    return TabularData(
        cat_names=all_cats,
        cont_names=conts,
        y_name=y_name,
        classes=classes,
        x_cat=x_cat,
        x_cont=x_cont,
        y=torch.from_numpy(y_arr.astype(np.float32)),
        train_idx=torch.from_numpy(train_idx),
        valid_idx=torch.from_numpy(valid_idx_),
        means=means,
        stds=stds,
        na_dict=na_dict,
        frame=frame[list(dict.fromkeys(kept))].reset_index(drop=True),
        split=how,
    )


def get_emb_sz(data: TabularData, sz_dict: dict[str, int] | None = None) -> list[tuple[int, int]]:
    """fastai's ``get_emb_sz``: (classes incl. ``#na#``, ``emb_sz_rule`` width) per column."""
    sz_dict = sz_dict or {}
    out = []
    for n in data.cat_names:
        n_cat = len(data.classes[n])
        out.append((n_cat, int(sz_dict.get(n, emb_sz_rule(n_cat)))))
    return out
