"""Rossmann store sales as fast.ai's course uses them, from a learner's folder or the fastai cache.

Kaggle's "rossmann-store-sales" competition files (``train.csv``, ``store.csv``) with the two files
fast.ai's course adds (``store_states.csv`` maps each store to its state, ``state_names.csv`` names
the states), joined and prepared as the course's ``rossmann_data_clean`` notebook does: date parts,
months of competition and weeks of Promo2 (capped at 24 and 25), ``StateHoliday`` as a flag, and
only days a store was open and sold something, with ``LogSales`` as the target. The course's
weather, Google-trend and holiday-distance features are not built (they need more files).

Rossmann's terms do not allow redistributing the data, so nothing of it ships here: when it is
missing, the error says where we looked and how to get it. Every file is checked, and a bad one is
named with the line and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._fastai_cache import fastai_data_dir
from .store_sales import STATES_SOURCE, StoreSales, rossmann_regions

if TYPE_CHECKING:
    import pandas as pd

KAGGLE = "https://www.kaggle.com/c/rossmann-store-sales/data"
FASTAI_TGZ = "https://files.fast.ai/part2/lesson14/rossmann.tgz"
FILES = ("train.csv", "store.csv", "store_states.csv", "state_names.csv")
CAT_NAMES = (
    "Store",
    "DayOfWeek",
    "Day",
    "Week",
    "Month",
    "Year",
    "State",
    "StoreType",
    "Assortment",
    "StateHoliday",
    "PromoInterval",
    "CompetitionMonthsOpen",
    "Promo2Weeks",
)
CONT_NAMES = ("CompetitionDistance", "Promo", "SchoolHoliday")

#: file -> {column: kind}; kinds: int, num (blank allowed), date, text, letter (0/a/b/c)
_SCHEMA = {
    "train.csv": {
        "Store": "int",
        "DayOfWeek": "int",
        "Date": "date",
        "Sales": "int",
        "Customers": "int",
        "Open": "int",
        "Promo": "int",
        "StateHoliday": "letter",
        "SchoolHoliday": "int",
    },
    "store.csv": {
        "Store": "int",
        "StoreType": "text",
        "Assortment": "text",
        "CompetitionDistance": "num",
        "CompetitionOpenSinceMonth": "num",
        "CompetitionOpenSinceYear": "num",
        "Promo2": "int",
        "Promo2SinceWeek": "num",
        "Promo2SinceYear": "num",
        "PromoInterval": "any",
    },
    "store_states.csv": {"Store": "int", "State": "text"},
    "state_names.csv": {"StateName": "text", "State": "text"},
}


def _how_to_get(default: Path) -> str:
    return (
        "To get it: download train.csv and store.csv from Kaggle's competition "
        f'"rossmann-store-sales" ({KAGGLE}; accept its rules, or run `kaggle competitions '
        "download -c rossmann-store-sales`), and store_states.csv and state_names.csv from "
        f"fast.ai's course data ({FASTAI_TGZ}). Put the four files in one folder and pass it as "
        f"path=..., or unpack them into {default}. Rossmann's terms do not allow us to ship them."
    )


def rossmann(path: str | Path | None = None) -> StoreSales:
    """Rossmann's open store-days joined and prepared as fast.ai's course does.

    Looks in ``path`` (the folder with the four files, or one holding a ``rossmann`` subfolder),
    then ``fastai_data_dir()/rossmann``. Raises ``FileNotFoundError`` listing where it looked and
    how to get the data, ``ValueError`` naming a missing or malformed file and what is wrong.
    """
    looked = []
    for folder, where in _candidates(path):
        present = [f for f in FILES if (folder / f).is_file()]
        if present:
            return _load(folder)
        state = "none of the four files there" if folder.is_dir() else "no such folder"
        looked.append(f"{folder} ({where}): {state}")
    places = "\n".join(f"  - {item}" for item in looked)
    raise FileNotFoundError(
        f"Rossmann data ({', '.join(FILES)}) not found. Looked in:\n{places}\n"
        + _how_to_get(fastai_data_dir() / "rossmann")
    )


def _candidates(path: str | Path | None):
    if path is not None:
        given = Path(path).expanduser()
        if given.is_file():
            given = given.parent
        yield given, "the path given"
        yield given / "rossmann", "the path given"
    yield fastai_data_dir() / "rossmann", "fastai cache"


def _read(folder: Path, name: str) -> pd.DataFrame:
    """Read one file as text and check its columns; ValueError names the file, line and problem."""
    import pandas as pd

    file = folder / name
    if not file.is_file():
        others = [f for f in FILES if f != name and (folder / f).is_file()]
        raise ValueError(
            f"{file}: file is missing (the folder has {', '.join(others)}). " + _how_to_get(folder)
        )
    if file.stat().st_size == 0:
        raise ValueError(f"{file}: file is empty")
    schema = _SCHEMA[name]
    try:
        df = pd.read_csv(file, dtype=str, keep_default_na=False, low_memory=False)
    except UnicodeDecodeError as err:
        raise ValueError(f"{file}: not UTF-8 text ({err})") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{file}: file is empty") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{file}: cannot be parsed as CSV ({err})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(
            f"{file}: header lacks column(s) {missing}; found {list(df.columns)}, "
            f"expected {','.join(schema)}"
        )
    if len(df) == 0:
        raise ValueError(f"{file}: has a header but no data lines")
    out = {}
    for col, kind in schema.items():
        s = df[col].str.strip()
        if kind in ("any",):
            out[col] = s.replace("", np.nan)
            continue
        blank = (s == "").to_numpy()
        if kind == "text" or kind == "letter":
            if blank.any():
                raise ValueError(_at(file, blank, f"{col} is empty"))
            if kind == "letter":
                bad = ~s.isin(["0", "a", "b", "c"]).to_numpy()
                if bad.any():
                    i = int(np.argmax(bad))
                    raise ValueError(
                        _at(file, bad, f"{col} {s.iloc[i]!r} is not one of 0, a, b, c")
                    )
            out[col] = s
            continue
        if kind == "date":
            when = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
            bad = when.isna().to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    _at(file, bad, f"{col} {s.iloc[i]!r} is not a date like 2015-07-31")
                )
            out[col] = when
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna().to_numpy() & ~blank if kind == "num" else num.isna().to_numpy().copy()
        if kind == "int":
            bad |= ~np.isclose(num.fillna(0).to_numpy() % 1, 0)
        if bad.any():
            i = int(np.argmax(bad))
            what = (
                "is empty"
                if blank[i]
                else f"{s.iloc[i]!r} is not a{'n integer' if kind == 'int' else ' number'}"
            )
            raise ValueError(_at(file, bad, f"{col} {what}"))
        out[col] = num.astype(np.int64) if kind == "int" else num.astype(np.float64)
    return pd.DataFrame(out)


def _at(file: Path, bad: np.ndarray, what: str) -> str:
    rows = np.flatnonzero(bad)
    more = f" ({len(rows)} such lines)" if len(rows) > 1 else ""
    return f"{file} line {int(rows[0]) + 2}: {what}{more}"


def _read_state_names(folder: Path) -> pd.DataFrame:
    """``state_names.csv``; a line like ``Niedersachsen,HB,NI`` (code unquoted) is read as meant."""
    import csv

    import pandas as pd

    file = folder / "state_names.csv"
    try:
        return _read(folder, "state_names.csv")
    except ValueError as err:
        if "cannot be parsed" not in str(err):
            raise
    rows = []
    with open(file, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [c.strip() for c in next(reader, [])]
        if header[:2] != ["StateName", "State"]:
            raise ValueError(f"{file}: header should be StateName,State; found {header}")
        for row in reader:
            if not row:
                continue
            codes = [c.strip() for c in row[1:]]
            if (
                not row[0].strip()
                or not codes
                or not all(c.isalpha() and c.isupper() for c in codes)
            ):
                raise ValueError(
                    f"{file} line {reader.line_num}: expected StateName,State, got {row}"
                )
            rows.append((row[0].strip(), ",".join(codes)))
    return pd.DataFrame(rows, columns=["StateName", "State"])


def _load(folder: Path) -> StoreSales:
    import pandas as pd

    train = _read(folder, "train.csv")
    store = _read(folder, "store.csv")
    store_states = _read(folder, "store_states.csv")
    state_names = _read_state_names(folder)

    for name, df, key in (
        ("store.csv", store, "Store"),
        ("store_states.csv", store_states, "Store"),
        ("state_names.csv", state_names, "State"),
    ):
        dup = df[key][df[key].duplicated()]
        if len(dup):
            v = dup.iloc[0]
            shown = repr(v) if isinstance(v, str) else str(v)
            raise ValueError(f"{folder / name}: {key} {shown} appears more than once")
    bad_day = ~train["DayOfWeek"].between(1, 7)
    if bad_day.any():
        raise ValueError(_at(folder / "train.csv", bad_day.to_numpy(), "DayOfWeek must be 1..7"))
    wrong = (train["Date"].dt.dayofweek + 1 != train["DayOfWeek"]).to_numpy()
    if wrong.any():
        raise ValueError(
            _at(folder / "train.csv", wrong, "DayOfWeek does not match Date (1 = Monday)")
        )
    no_store = ~train["Store"].isin(store["Store"])
    if no_store.any():
        s = int(train["Store"][no_store].iloc[0])
        raise ValueError(f"{folder / 'store.csv'}: no line for store {s} (sold in train.csv)")
    no_state = ~store["Store"].isin(store_states["Store"])
    if no_state.any():
        s = int(store["Store"][no_state].iloc[0])
        raise ValueError(f"{folder / 'store_states.csv'}: no state for store {s} (in store.csv)")
    unknown = ~store_states["State"].isin(state_names["State"])
    if unknown.any():
        code = store_states["State"][unknown].iloc[0]
        raise ValueError(
            f"{folder / 'state_names.csv'}: no name for state {code!r} (used in store_states.csv)"
        )

    store = store.merge(store_states, on="Store", how="left").merge(
        state_names, on="State", how="left"
    )
    df = train.merge(store, on="Store", how="left")
    df = df[(df["Open"] != 0) & (df["Sales"] > 0)].reset_index(drop=True)
    if len(df) == 0:
        raise ValueError(f"{folder / 'train.csv'}: no day with a store open and sales above 0")
    date = df["Date"]
    df["Year"] = date.dt.year
    df["Month"] = date.dt.month
    df["Week"] = date.dt.isocalendar().week.astype(np.int64)
    df["Day"] = date.dt.day
    df["StateHoliday"] = df["StateHoliday"] != "0"
    # the course's competition and Promo2 durations, capped as it caps them
    c_year = df["CompetitionOpenSinceYear"].fillna(1900).astype(np.int64)
    c_month = df["CompetitionOpenSinceMonth"].fillna(1).astype(np.int64).clip(1, 12)
    since = pd.to_datetime(dict(year=c_year.clip(1900, 2100), month=c_month, day=15))
    days = (date - since).dt.days.clip(lower=0).where(c_year >= 1990, 0)
    df["CompetitionMonthsOpen"] = (days // 30).clip(upper=24).astype(np.int64)
    p_year = df["Promo2SinceYear"].fillna(1900).astype(np.int64).clip(1900, 2100)
    p_week = df["Promo2SinceWeek"].fillna(1).astype(np.int64).clip(1, 53)
    jan4 = pd.to_datetime(dict(year=p_year, month=1, day=4))
    monday = (
        jan4
        - pd.to_timedelta(jan4.dt.dayofweek, unit="D")
        + pd.to_timedelta((p_week - 1) * 7, unit="D")
    )  # Monday of ISO week p_week, as the course's isoweek.Week(year, week).monday()
    pdays = (date - monday).dt.days.clip(lower=0).where(p_year >= 1990, 0)
    df["Promo2Weeks"] = (pdays // 7).clip(0, 25).astype(np.int64)
    df["PromoInterval"] = df["PromoInterval"].fillna("none")
    df["LogSales"] = np.log(df["Sales"].astype(np.float64))
    df = df.sort_values(["Date", "Store"], kind="stable").reset_index(drop=True)

    regions = rossmann_regions()
    names = state_names.set_index("State")["StateName"]
    states = regions[regions["State"].isin(df["State"].unique())].reset_index(drop=True)
    states["file_name"] = states["State"].map(names)
    source = (
        f"Rossmann store sales (Kaggle rossmann-store-sales with fast.ai's store_states and "
        f"state_names) from {folder}: {len(df):,} open store-days of "
        f"{df['Store'].nunique():,} stores, {date.min().date()} to {date.max().date()}; "
        f"{STATES_SOURCE}"
    )
    return StoreSales(
        frame=df, source=source, cat_names=CAT_NAMES, cont_names=CONT_NAMES, states=states
    )
