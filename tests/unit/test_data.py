"""The data layer: real MovieLens files, the fastai cache, offline failures, synthetic ratings, MNIST."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab8widgets.data import (
    Digits,
    PlantedTruth,
    Ratings,
    SyntheticRatings,
    fastai_data_dir,
    mnist_sample,
    movielens,
    synthetic_ratings,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_100K = REPO / "tests" / "fixtures" / "ml-100k"
FIXTURE_LATEST = REPO / "tests" / "fixtures" / "ml-latest-small"
# The package exports the function `movielens`, which hides the submodule of the same name.
ML = importlib.import_module("lab8widgets.data.movielens")
COLUMNS = ["user", "movie", "title", "rating", "timestamp", "genres"]


@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    """An empty fastai home, and no downloads: nothing outside the test can leak in."""
    home = tmp_path / "fastai_home"
    home.mkdir()
    monkeypatch.setenv("FASTAI_HOME", str(home))
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")
    return home


@pytest.fixture
def ml100k_copy(tmp_path):
    """A writable copy of the ml-100k fixture, to break in various ways."""
    dest = tmp_path / "ml-100k"
    shutil.copytree(FIXTURE_100K, dest)
    return dest


# --- MovieLens latest-small format (fixture: real format, invented ratings) -------------------


def test_reads_ml_latest_small_format(fastai_home):
    r = movielens("ml-latest-small", path=FIXTURE_LATEST)
    assert isinstance(r, Ratings)
    df = r.ratings
    assert list(df.columns) == COLUMNS
    assert len(df) == 15 and df["user"].nunique() == 4
    assert df["movie"].nunique() == 9  # Jumanji is in movies.csv but nobody rated it
    assert df["rating"].dtype == np.float32
    assert sorted(set(df["rating"]) - set(np.arange(1, 6))) == [0.5, 1.5, 2.5, 3.5, 4.5]
    first = df.iloc[0]
    assert (first.user, first.movie, first.rating, first.timestamp) == (1, 31, 2.5, 1260759144)
    assert first.title == "Dangerous Minds (1995)" and first.genres == "Drama"
    titles = dict(zip(df["movie"], df["title"], strict=False))
    assert titles[11] == "American President, The (1995)"  # a comma inside quotes
    assert titles[7789] == "11'09\"01 - September 11 (2002)"  # doubled quotes
    assert titles[51372] == '"Great Performances" Cats (1998)'
    assert titles[293].startswith("Léon: The Professional")  # UTF-8
    genres = dict(zip(df["movie"], df["genres"], strict=False))
    assert genres[149532] == "(no genres listed)"
    assert "MovieLens latest-small" in r.source and str(FIXTURE_LATEST) in r.source


def test_path_may_be_the_parent_folder_or_a_file(tmp_path, fastai_home):
    dest = tmp_path / "data" / "ml-latest-small"
    shutil.copytree(FIXTURE_LATEST, dest)
    assert len(movielens("ml-latest-small", path=dest.parent).ratings) == 15
    assert len(movielens("ml-latest-small", path=dest / "ratings.csv").ratings) == 15


# --- MovieLens latest-small (the real files, ../shared/data; see tests/reference_data.py) ------


def test_reads_real_ml_latest_small(fastai_home, ml_latest_small):
    r = movielens("ml-latest-small", path=ml_latest_small)
    assert isinstance(r, Ratings)
    df = r.ratings
    assert list(df.columns) == COLUMNS
    assert len(df) == 100_004
    assert df["user"].nunique() == 671
    assert df["movie"].nunique() == 9066
    assert df["rating"].dtype == np.float32
    assert df["rating"].between(0.5, 5).all()
    assert (df["rating"] % 1 == 0.5).any(), "half-star ratings must survive"
    assert df["title"].notna().all() and df["genres"].notna().all()
    # First line of ratings.csv is "1,31,2.5,1260759144"; movie 31 is Dangerous Minds (Drama).
    first = df.iloc[0]
    assert (first.user, first.movie, first.rating, first.timestamp) == (1, 31, 2.5, 1260759144)
    assert first.title == "Dangerous Minds (1995)" and first.genres == "Drama"
    # A title with a comma inside quotes stays whole.
    assert (df["title"] == "American President, The (1995)").any()
    assert "MovieLens latest-small" in r.source and str(ml_latest_small) in r.source


def test_path_may_be_the_parent_folder(fastai_home, ml_latest_small):
    r = movielens("ml-latest-small", path=ml_latest_small.parent)
    assert len(r.ratings) == 100_004


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="ml-100k.*ml-latest-small"):
        movielens("ml-1m")


# --- ml-100k format (hand-made fixture) ---------------------------------------------------------


def test_reads_ml100k_fixture(fastai_home):
    r = movielens("ml-100k", path=FIXTURE_100K)
    df = r.ratings
    assert list(df.columns) == COLUMNS
    assert len(df) == 12 and df["user"].nunique() == 4
    assert df["rating"].dtype == np.float32
    assert set(df["title"]) >= {"Misérables, Les (1995)", "Toy Story (1995)"}  # latin-1 decoded
    genres = dict(zip(df["title"], df["genres"], strict=False))
    assert genres["Toy Story (1995)"] == "Animation|Children's|Comedy"
    assert genres["GoldenEye (1995)"] == "Action|Adventure|Thriller"
    assert genres["unknown"] == "unknown"
    first = df.iloc[0]
    assert (first.user, first.movie, first.rating, first.timestamp) == (196, 1, 3.0, 881250949)
    assert r.source.startswith("MovieLens 100k (GroupLens) from") and str(FIXTURE_100K) in r.source


def test_fastai_cache_honours_config_ini(tmp_path, fastai_home):
    (fastai_home / "config.ini").write_text(
        "[DEFAULT]\narchive = archive\ndata = my_datasets\nmodel = models\n"
    )
    assert fastai_data_dir() == fastai_home / "my_datasets"
    shutil.copytree(FIXTURE_100K, fastai_home / "my_datasets" / "ml-100k")
    r = movielens("ml-100k", path=tmp_path / "nothing-here")
    assert len(r.ratings) == 12
    assert str(fastai_home / "my_datasets" / "ml-100k") in r.source


def test_fastai_data_dir_absolute_and_default(tmp_path, fastai_home):
    assert fastai_data_dir() == fastai_home / "data"
    elsewhere = tmp_path / "elsewhere"
    (fastai_home / "config.ini").write_text(f"[DEFAULT]\ndata = {elsewhere}\n")
    assert fastai_data_dir() == elsewhere


def test_missing_everywhere_offline_lists_places(tmp_path, fastai_home):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        movielens("ml-100k", path=nowhere)
    msg = str(err.value)
    assert str(nowhere) in msg
    assert str(fastai_home / "data" / "ml-100k") in msg
    assert "LAB8WIDGETS_OFFLINE" in msg
    assert "https://files.grouplens.org/datasets/movielens/ml-100k.zip" in msg
    assert "untar_data(URLs.ML_100k)" in msg


def test_download_false_is_said(fastai_home, monkeypatch):
    monkeypatch.delenv("LAB8WIDGETS_OFFLINE")
    with pytest.raises(FileNotFoundError, match="download=False"):
        movielens("ml-latest-small", download=False)


def _fake_fastai(monkeypatch, untar_data):
    """Stand in for fastai's downloader: these tests must not need network or import fastai."""
    import types

    module = types.ModuleType("fastai.data.external")
    module.untar_data = untar_data
    monkeypatch.setitem(sys.modules, "fastai.data.external", module)


def test_download_used_when_host_answers(tmp_path, fastai_home, monkeypatch):
    import socket

    monkeypatch.delenv("LAB8WIDGETS_OFFLINE")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: _NullConnection())
    urls = []

    def untar_data(url):
        urls.append(url)
        dest = fastai_home / "data" / "ml-100k"
        shutil.copytree(FIXTURE_100K, dest)
        return dest

    _fake_fastai(monkeypatch, untar_data)
    r = movielens("ml-100k")
    assert urls == ["https://files.grouplens.org/datasets/movielens/ml-100k.zip"]
    assert len(r.ratings) == 12 and "downloaded to" in r.source


def test_failed_download_is_reported(fastai_home, monkeypatch):
    import socket

    monkeypatch.delenv("LAB8WIDGETS_OFFLINE")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: _NullConnection())

    def untar_data(url):
        raise OSError("connection reset")

    _fake_fastai(monkeypatch, untar_data)
    with pytest.raises(FileNotFoundError, match="download failed.*connection reset"):
        movielens("ml-latest-small")


def test_silent_network_does_not_hang(fastai_home, monkeypatch):
    import socket
    import threading
    import time

    monkeypatch.delenv("LAB8WIDGETS_OFFLINE")
    monkeypatch.setattr(ML, "_PROBE_TIMEOUT_S", 0.2)
    release = threading.Event()
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **k: (release.wait(30), _NullConnection())[1]
    )
    start = time.perf_counter()
    try:
        with pytest.raises(FileNotFoundError, match="did not answer within 0.2 s"):
            movielens("ml-100k")
    finally:
        release.set()
    assert time.perf_counter() - start < 2


class _NullConnection:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        (
            "u.data",
            b"1\t2\t3\t881250949\n1\t3\n",
            r"u\.data line 2: expected 4 tab-separated fields, found 2",
        ),
        ("u.data", b"1\t2\t3\t881250949\n1\t3\t4\t5\t6\n", r"u\.data line 2: expected 4"),
        ("u.data", b"1\t1\tgood\t881250949\n", r"u\.data line 1: rating 'good' is not a number"),
        (
            "u.data",
            b"1\t1\t3\t881250949\n\n2\t1\t7\t881250949\n",
            r"u\.data line 3: rating '7' is outside 0\.5\.\.5",
        ),
        ("u.data", b"", r"u\.data: file is empty"),
        (
            "u.item",
            b"1|Toy Story (1995)|01-Jan-1995\n",
            r"u\.item line 1: expected 24 '\|'-separated fields, found 3",
        ),
    ],
)
def test_malformed_ml100k_names_file_and_line(
    ml100k_copy, fastai_home, filename, content, expected
):
    (ml100k_copy / filename).write_bytes(content)
    with pytest.raises(ValueError, match=expected) as err:
        movielens("ml-100k", path=ml100k_copy)
    assert str(ml100k_copy / filename) in str(err.value)


def test_missing_companion_file(ml100k_copy, fastai_home):
    (ml100k_copy / "u.item").unlink()
    with pytest.raises(ValueError, match=r"u\.item: file is missing"):
        movielens("ml-100k", path=ml100k_copy)


def test_movie_without_title(ml100k_copy, fastai_home):
    with open(ml100k_copy / "u.data", "a") as f:
        f.write("7\t99\t4\t881250949\n")
    with pytest.raises(ValueError, match=r"u\.item: no title for movie id\(s\) 99"):
        movielens("ml-100k", path=ml100k_copy)


def _latest(
    tmp_path, ratings: str, movies: str = "movieId,title,genres\n1,Toy Story (1995),Comedy\n"
):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(ratings)
    (folder / "movies.csv").write_text(movies)
    return folder


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        (
            "userId,movieId,score,timestamp\n1,1,4.0,5\n",
            r"header is missing column\(s\) \['rating'\]",
        ),
        ("userId,movieId,rating,timestamp\n", "no data lines"),
        (
            "userId,movieId,rating,timestamp\n1,1,4.0,5\n1,1,0.0,6\n",
            r"line 3: rating '0\.0' is outside",
        ),
        (
            "userId,movieId,rating,timestamp\n1,1,4.0,5\n2,1.5,4.0,6\n",
            r"line 3: movieId '1\.5' is not an integer",
        ),
        (
            "userId,movieId,rating,timestamp\n1,1,4.0\n",
            "line 2: expected 4 comma-separated fields, found 3",
        ),
    ],
)
def test_malformed_latest_names_file(tmp_path, fastai_home, ratings, expected):
    folder = _latest(tmp_path, ratings)
    with pytest.raises(ValueError, match=expected) as err:
        movielens("ml-latest-small", path=folder)
    assert str(folder / "ratings.csv") in str(err.value)


def test_latest_quoted_titles_and_empty_title(tmp_path, fastai_home):
    movies = 'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n'
    folder = _latest(tmp_path, "userId,movieId,rating,timestamp\n3,1,3.5,10\n", movies)
    df = movielens("ml-latest-small", path=folder).ratings
    assert df.loc[0, "title"] == "American President, The (1995)"
    assert df.loc[0, "genres"] == "Comedy|Drama|Romance" and df.loc[0, "rating"] == 3.5
    (folder / "movies.csv").write_text("movieId,title,genres\n1,,Comedy\n")
    with pytest.raises(ValueError, match=r"movies\.csv line 2: title '' is empty"):
        movielens("ml-latest-small", path=folder)


# --- synthetic ratings --------------------------------------------------------------------------


def test_synthetic_shape_and_planted_truth():
    s = synthetic_ratings()
    assert isinstance(s, SyntheticRatings) and isinstance(s.truth, PlantedTruth)
    df, t = s.ratings, s.truth
    assert list(df.columns) == COLUMNS
    assert 10_000 <= len(df) <= 20_000
    assert "synthetic" in s.source
    assert df["user"].between(0, 299).all() and df["movie"].between(0, 199).all()
    assert not df.duplicated(["user", "movie"]).any()
    assert df["rating"].isin([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    assert df["rating"].nunique() == 5
    assert df["movie"].value_counts().min() >= 5 and df["user"].value_counts().min() >= 5
    assert t.user_bias.shape == (300,) and t.item_bias.shape == (200,)
    assert t.user_factors.shape == (300, 3) and t.item_factors.shape == (200, 3)
    assert t.item_group.shape == (200,) and set(t.item_group) == {0, 1, 2}
    assert t.user_group.shape == (300,) and len(t.titles) == 200
    # Ids index the truth: titles and genres agree with the planted groups.
    row = df.iloc[0]
    assert row.title == t.titles[row.movie]
    assert row.genres == "Group " + "ABC"[t.item_group[row.movie]]
    assert row.title.startswith("Synthetic film") and row.genres in row.title
    # Item factors point along their group's axis.
    assert (t.item_factors.argmax(axis=1) == t.item_group).mean() > 0.95


def test_synthetic_ratings_follow_item_bias():
    s = synthetic_ratings()
    means = s.ratings.groupby("movie")["rating"].mean()
    corr = np.corrcoef(means.to_numpy(), s.truth.item_bias[means.index])[0, 1]
    assert corr > 0.7, "item biases must be strong enough for a model to recover"


def test_synthetic_popularity_is_zipf_like():
    counts = synthetic_ratings().ratings["movie"].value_counts()
    assert counts.max() >= 5 * counts.median()


def test_synthetic_is_deterministic():
    a, b, c = synthetic_ratings(seed=3), synthetic_ratings(seed=3), synthetic_ratings(seed=4)
    assert a.ratings.equals(b.ratings)
    np.testing.assert_array_equal(a.truth.item_bias, b.truth.item_bias)
    assert not a.ratings.equals(c.ratings)


def test_synthetic_sizes_and_sparse_density():
    s = synthetic_ratings(n_users=50, n_items=40, n_factors=2, density=0.05)
    df = s.ratings
    assert df["movie"].nunique() == 40 and df["user"].nunique() == 50
    assert df["movie"].value_counts().min() >= 5 and df["user"].value_counts().min() >= 5
    assert s.truth.item_factors.shape == (40, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_users": 0},
        {"n_items": -3},
        {"n_factors": 0},
        {"n_users": 2.5},
        {"n_items": True},
        {"seed": -1},
        {"density": 0},
        {"density": 1.5},
        {"n_items": 5, "n_factors": 6},
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic_ratings(**kwargs)


# --- MNIST --------------------------------------------------------------------------------------


def test_mnist_shipped_subset(fastai_home):
    d = mnist_sample()
    assert isinstance(d, Digits)
    assert d.images.dtype == np.float32 and d.images.shape[1:] == (28, 28)
    assert d.labels.dtype == np.int64 and len(d.labels) == len(d.images) >= 1000
    assert set(np.unique(d.labels)) == {3, 7}
    assert d.images.min() == 0.0 and d.images.max() == 1.0
    assert 0.05 < d.images.mean() < 0.3  # real strokes on a dark background, not noise
    assert "MNIST" in d.source and "CC BY-SA 3.0" in d.source and "shipped" in d.source


def test_mnist_every_digit_available(fastai_home):
    d = mnist_sample(digits=range(10))
    counts = np.bincount(d.labels, minlength=10)
    assert (counts == 500).all()  # balanced: "0-9" is ten equal classes, not mostly 3s and 7s
    assert "500 per digit" in d.source
    one = mnist_sample(digits=[5])
    assert set(one.labels) == {5} and len(one.labels) == 500


def test_mnist_rejects_bad_digits():
    for bad in ([], [10], [3, "7"], [-1]):
        with pytest.raises(ValueError):
            mnist_sample(digits=bad)


def _write_pngs(folder: Path, digits=(3, 7), n=3):
    from PIL import Image

    for d in digits:
        sub = folder / "train" / str(d)
        sub.mkdir(parents=True)
        for i in range(n):
            arr = np.zeros((28, 28), np.uint8)
            arr[4:24, 10 + i] = 255  # a vertical stroke, different per image
            Image.fromarray(arr).save(sub / f"{i}.png")
    (folder / "labels.csv").write_text("name,label\n")


def test_mnist_from_fastai_cache(fastai_home):
    cache = fastai_home / "data" / "mnist_sample"
    _write_pngs(cache)
    d = mnist_sample()
    assert d.images.shape == (6, 28, 28) and d.images.dtype == np.float32
    assert list(d.labels) == [3, 3, 3, 7, 7, 7]
    assert d.images.max() == 1.0 and d.images[0, 10, 10] == 1.0 and d.images[0, 10, 11] == 0.0
    assert "fastai" in d.source and str(cache) in d.source and "CC BY-SA 3.0" in d.source
    # Digits fastai's sample lacks come from the shipped subset instead.
    assert "shipped" in mnist_sample(digits=(1,)).source


def test_mnist_from_given_path(tmp_path, fastai_home):
    _write_pngs(tmp_path / "mine", digits=(3,), n=2)
    d = mnist_sample(digits=(3,), path=tmp_path / "mine")
    assert d.images.shape == (2, 28, 28) and str(tmp_path / "mine") in d.source
    with pytest.raises(FileNotFoundError):
        mnist_sample(digits=(7,), path=tmp_path / "mine")


# --- import cost --------------------------------------------------------------------------------


def test_import_does_not_load_fastai():
    code = (
        "import sys, lab8widgets, lab8widgets.data\n"
        "heavy = [m for m in ('fastai', 'torch', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "fastai" not in out.stdout.split(","), out.stdout


# --- the rule for the reference data (tests/reference_data.py) ---------------------------------


def test_missing_reference_data_skips_on_a_clone_and_fails_in_ci(tmp_path, monkeypatch):
    from tests import reference_data

    monkeypatch.setenv("LAB8_SHARED_DATA", str(tmp_path))
    monkeypatch.delenv("LAB8_REQUIRE_SHARED_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="LAB8_REQUIRE_SHARED_DATA=1 to make"):
        reference_data.shared_file("ml-latest-small", "ratings.csv")
    monkeypatch.setenv("LAB8_REQUIRE_SHARED_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="makes it required"):
        reference_data.shared_file("ml-latest-small", "ratings.csv")
    (tmp_path / "german_states.csv").write_text("code\n")
    assert reference_data.shared_file("german_states.csv") == tmp_path / "german_states.csv"


def test_ci_requires_the_reference_data():
    ci = (REPO / ".ci" / "run").read_text()
    assert "export LAB8_REQUIRE_SHARED_DATA=1" in ci
