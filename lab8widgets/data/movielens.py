"""MovieLens ratings from a user's folder, the fastai cache, or a GroupLens download.

Both GroupLens layouts the lesson uses (``ml-100k`` and ``ml-latest-small``) come back as one shape,
so a lab never cares which it got: columns ``user, movie, title, rating, timestamp, genres``.
Reading is fast (pandas' C parser); only when something looks wrong do we re-read the file line by
line to say exactly which line is bad, because a learner's own file deserves a precise message.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ._fastai_cache import fastai_data_dir

if TYPE_CHECKING:  # pandas is imported lazily: `import lab8widgets.data` stays cheap
    import pandas as pd

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"

#: The 19 genre flags of ml-100k's ``u.item``, in file order (``u.genre``).
ML_100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

RATING_MIN, RATING_MAX = 0.5, 5.0
OFFLINE_ENV = "LAB8WIDGETS_OFFLINE"
_PROBE_TIMEOUT_S = 3.0


class Ratings(NamedTuple):
    """MovieLens ratings and where they came from (shown in the widgets)."""

    ratings: pd.DataFrame
    source: str


class _Spec(NamedTuple):
    label: str
    url: str
    marker: str  # the file whose presence says "this folder holds the data set"
    fastai_call: str


_DATASETS = {
    "ml-100k": _Spec(
        "MovieLens 100k",
        GROUPLENS + "ml-100k.zip",
        "u.data",
        "from fastai.data.external import untar_data, URLs; untar_data(URLs.ML_100k)",
    ),
    "ml-latest-small": _Spec(
        "MovieLens latest-small",
        GROUPLENS + "ml-latest-small.zip",
        "ratings.csv",
        "from fastai.data.external import untar_data; "
        f"untar_data('{GROUPLENS}ml-latest-small.zip')",
    ),
}


def movielens(
    name: str = "ml-100k", path: str | Path | None = None, download: bool = True
) -> Ratings:
    """Load a MovieLens data set as one ratings table with titles and genres.

    Looks in ``path`` (the folder holding the files, or one holding a ``name`` subfolder), then
    ``fastai_data_dir()/name``, then downloads with fastai's ``untar_data`` when ``download`` is
    true, the host answers within a few seconds and ``LAB8WIDGETS_OFFLINE`` is not set.
    Raises ``FileNotFoundError`` listing every place looked, ``ValueError`` for a bad file.
    """
    spec = _DATASETS.get(name)
    if spec is None:
        raise ValueError(f"unknown MovieLens data set {name!r}; choose one of {sorted(_DATASETS)}")

    looked: list[str] = []
    for folder, where in _candidates(name, path):
        if (folder / spec.marker).is_file():
            return Ratings(_read(name, folder), f"{spec.label} (GroupLens) from {folder}")
        state = f"no {spec.marker} there" if folder.is_dir() else "no such folder"
        looked.append(f"{folder} ({where}): {state}")

    if not download:
        looked.append("download: not tried (download=False)")
    elif _offline():
        looked.append(f"download from {spec.url}: skipped ({OFFLINE_ENV} is set)")
    else:
        folder, problem = _download(spec)
        if folder is not None:
            if (folder / spec.marker).is_file():
                return Ratings(
                    _read(name, folder), f"{spec.label} (GroupLens) downloaded to {folder}"
                )
            problem = f"the download in {folder} holds no {spec.marker}"
        looked.append(f"download from {spec.url}: {problem}")

    places = "\n".join(f"  - {item}" for item in looked)
    raise FileNotFoundError(
        f"{spec.label} ({name}) not found. Looked in:\n{places}\n"
        f"To get it: download and unzip {spec.url} and pass its folder as path=..., "
        f"or with network run `{spec.fastai_call}` (it lands in {fastai_data_dir() / name})."
    )


# --- locating ---------------------------------------------------------------------------------


def _candidates(name: str, path: str | Path | None) -> Iterator[tuple[Path, str]]:
    if path is not None:
        given = Path(path).expanduser()
        if given.is_file():  # a path to u.data / ratings.csv itself means its folder
            given = given.parent
        yield given, "the path given"
        yield given / name, "the path given"
    yield fastai_data_dir() / name, "fastai cache"


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _reachable(url: str, timeout: float | None = None) -> str | None:
    """Why ``url``'s host cannot be reached quickly, or None when it answers.

    A thread bounds the whole probe, DNS included: offline, a lookup alone can take longer than
    the socket timeout, and the learner should not stare at a frozen cell.
    """
    timeout = _PROBE_TIMEOUT_S if timeout is None else timeout
    host = url.split("/")[2]
    result: list[BaseException | None] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(None)
        except OSError as err:
            result.append(err)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return f"{host} did not answer within {timeout:g} s (offline?)"
    return None if result[0] is None else f"cannot reach {host} ({result[0]})"


def _download(spec: _Spec) -> tuple[Path | None, str]:
    problem = _reachable(spec.url)
    if problem is not None:
        return None, problem
    try:
        from fastai.data.external import untar_data  # lazy: fastai is heavy

        return Path(untar_data(spec.url)), ""
    except Exception as err:  # any failure here means "not available", reported to the user
        return None, f"download failed ({type(err).__name__}: {err})"


# --- reading ----------------------------------------------------------------------------------


def _read(name: str, folder: Path) -> pd.DataFrame:
    return _read_100k(folder) if name == "ml-100k" else _read_latest(folder)


def _read_100k(folder: Path) -> pd.DataFrame:
    import numpy as np

    cols = ("user", "movie", "rating", "timestamp")
    ratings = _read_table(
        folder / "u.data",
        sep="\t",
        columns=cols,
        header=False,
        kinds={"user": "int", "movie": "int", "rating": "rating", "timestamp": "int"},
        encoding="latin-1",
        quoting=csv.QUOTE_NONE,
    )
    item_cols = ("movie", "title", "release_date", "video_release_date", "imdb_url")
    items = _read_table(
        folder / "u.item",
        sep="|",
        columns=item_cols + ML_100K_GENRES,
        header=False,
        kinds={"movie": "int", "title": "text", **{g: "int" for g in ML_100K_GENRES}},
        encoding="latin-1",  # GroupLens wrote u.item in latin-1 (e.g. "Misérables")
        quoting=csv.QUOTE_NONE,
    )
    flags = items[list(ML_100K_GENRES)].to_numpy() != 0
    names = np.array(ML_100K_GENRES, dtype=object)
    genres = ["|".join(names[row]) for row in flags]
    items = items[["movie", "title"]].assign(genres=genres)
    return _join(ratings, items, folder / "u.item", folder / "u.data")


def _read_latest(folder: Path) -> pd.DataFrame:
    ratings = _read_table(
        folder / "ratings.csv",
        sep=",",
        columns=("userId", "movieId", "rating", "timestamp"),
        header=True,
        kinds={"userId": "int", "movieId": "int", "rating": "rating", "timestamp": "int"},
        encoding="utf-8",
        quoting=csv.QUOTE_MINIMAL,
    ).rename(columns={"userId": "user", "movieId": "movie"})
    items = _read_table(
        folder / "movies.csv",
        sep=",",
        columns=("movieId", "title", "genres"),
        header=True,
        kinds={"movieId": "int", "title": "text"},
        encoding="utf-8",
        quoting=csv.QUOTE_MINIMAL,  # titles like "American President, The (1995)" are quoted
    ).rename(columns={"movieId": "movie"})
    items["genres"] = items["genres"].fillna("").astype(str)
    return _join(ratings, items, folder / "movies.csv", folder / "ratings.csv")


def _join(
    ratings: pd.DataFrame, items: pd.DataFrame, items_path: Path, ratings_path: Path
) -> pd.DataFrame:
    import pandas as pd

    dup = items["movie"][items["movie"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"{items_path}: movie id(s) {_few(dup)} appear more than once")
    by_id = items.set_index("movie")
    titles = ratings["movie"].map(by_id["title"])
    if titles.isna().any():
        missing = ratings["movie"][titles.isna()].unique()
        raise ValueError(
            f"{items_path}: no title for movie id(s) {_few(missing)} rated in {ratings_path}"
        )
    return pd.DataFrame(
        {
            "user": ratings["user"].to_numpy("int64"),
            "movie": ratings["movie"].to_numpy("int64"),
            "title": titles.to_numpy(object),
            "rating": ratings["rating"].to_numpy("float32"),
            "timestamp": ratings["timestamp"].to_numpy("int64"),
            "genres": ratings["movie"].map(by_id["genres"]).to_numpy(object),
        }
    )


def _few(values: Sequence, n: int = 5) -> str:
    shown = ", ".join(str(v) for v in list(values)[:n])
    return shown + (f" … ({len(values)} in all)" if len(values) > n else "")


def _read_table(
    path: Path,
    *,
    sep: str,
    columns: Sequence[str],
    header: bool,
    kinds: dict[str, str],
    encoding: str,
    quoting: int,
) -> pd.DataFrame:
    """Read a delimited file fast; on any doubt, find the first bad line and name it.

    ``kinds`` maps column -> "int" | "rating" | "text" (text: must not be empty).
    """
    import pandas as pd

    if not path.is_file():
        raise ValueError(f"{path}: file is missing (expected beside the other MovieLens files)")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty")

    def fail(fallback: str) -> ValueError:
        found = _diagnose(path, sep, columns, header, kinds, encoding, quoting)
        return ValueError(found or f"{path}: {fallback}")

    try:
        df = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            encoding=encoding,
            quoting=quoting,
            dtype={c: str for c, k in kinds.items() if k == "text"} if header else None,
            keep_default_na=False,  # a film called "NA" or "null" is still a title
            na_values=[""],
            low_memory=False,
        )
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not {encoding} text ({err})") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise fail(f"cannot be parsed ({err})") from None

    if header:
        df.columns = [str(c).strip() for c in df.columns]
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(
                f"{path}: header is missing column(s) {missing}; found {list(df.columns)}, "
                f"expected a first line like {sep.join(columns)!r}"
            )
        df = df[list(columns)]
    else:
        if df.shape[1] != len(columns):
            raise fail(f"expected {len(columns)} fields per line, found {df.shape[1]}")
        df.columns = list(columns)
    if len(df) == 0:
        raise ValueError(f"{path}: has a header but no data lines")

    for col, kind in kinds.items():
        s = df[col]
        if kind == "text":
            if s.isna().any():
                raise fail(f"empty {col}")
            df[col] = s.astype(str)
            continue
        if not pd.api.types.is_numeric_dtype(s) or s.isna().any():
            raise fail(f"non-numeric or empty values in column {col!r}")
        if kind == "int" and pd.api.types.is_float_dtype(s) and bool((s % 1 != 0).any()):
            raise fail(f"non-integer values in column {col!r}")
        if kind == "rating" and bool(((s < RATING_MIN) | (s > RATING_MAX)).any()):
            raise fail(f"ratings outside {RATING_MIN:g}..{RATING_MAX:g}")
    return df


def _diagnose(
    path: Path,
    sep: str,
    columns: Sequence[str],
    header: bool,
    kinds: dict[str, str],
    encoding: str,
    quoting: int,
) -> str | None:
    """The first bad line of ``path`` described for a human, or None if every line looks fine."""
    sep_name = {"\t": "tab", ",": "comma", "|": "'|'"}.get(sep, repr(sep))
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=sep, quoting=quoting)
        index = {c: i for i, c in enumerate(columns)}
        n_fields = len(columns)
        for row in reader:
            line = reader.line_num
            if not row or row == [""]:
                continue  # pandas skips blank lines too
            if header and line == 1:
                names = [c.strip() for c in row]
                index = {c: names.index(c) for c in columns if c in names}
                n_fields = len(row)
                continue
            if len(row) != n_fields:
                return (
                    f"{path} line {line}: expected {n_fields} {sep_name}-separated fields, "
                    f"found {len(row)}"
                )
            for col, kind in kinds.items():
                if col not in index:
                    continue
                value = row[index[col]].strip()
                problem = _check_value(value, kind)
                if problem:
                    return f"{path} line {line}: {col} {value!r} {problem}"
    return None


def _check_value(value: str, kind: str) -> str | None:
    if kind == "text":
        return "is empty" if not value else None
    try:
        number = float(value)
    except ValueError:
        return "is not a number"
    if not math.isfinite(number):
        return "is not a finite number"
    if kind == "int" and not number.is_integer():
        return "is not an integer"
    if kind == "rating" and not RATING_MIN <= number <= RATING_MAX:
        return f"is outside {RATING_MIN:g}..{RATING_MAX:g}"
    return None
