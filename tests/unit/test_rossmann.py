"""The Rossmann loader: the course's join and preparation, the fastai cache, clear failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lab8widgets.data import StoreSales, rossmann

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "rossmann"


@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    home = tmp_path / "fastai_home"
    home.mkdir()
    monkeypatch.setenv("FASTAI_HOME", str(home))
    return home


@pytest.fixture
def copy(tmp_path):
    dest = tmp_path / "ross"
    shutil.copytree(FIXTURE, dest)
    return dest


def test_reads_and_prepares_as_the_course(fastai_home):
    s = rossmann(FIXTURE)
    assert isinstance(s, StoreSales)
    df = s.frame
    # 6 stores × 122 days in train.csv; only open days with sales are kept
    assert len(df) == 616 and df["Open"].eq(1).all() and (df["Sales"] > 0).all()
    assert np.allclose(df["LogSales"], np.log(df["Sales"]))
    for col in (*s.cat_names, *s.cont_names, s.y_name, "Date"):
        assert col in df.columns, col
    # first line of train.csv: "1,5,2015-07-31,4305,495,1,0,0,1", store 1 is in Hessen, type c
    row = df[(df["Store"] == 1) & (df["Date"] == "2015-07-31")].iloc[0]
    assert (row.Sales, row.Customers, row.Promo, row.SchoolHoliday) == (4305, 495, 0, 1)
    assert (row.State, row.StateName, row.StoreType, row.Assortment) == ("HE", "Hessen", "c", "a")
    assert (row.Year, row.Month, row.Day, row.Week, row.DayOfWeek) == (2015, 7, 31, 31, 5)
    # the course's capped durations: competition since 09/2008 → 24 months; no Promo2 → 0 weeks
    assert row.CompetitionMonthsOpen == 24 and row.Promo2Weeks == 0
    # store 4 joined Promo2 in week 45 of 2014: 25 weeks (the cap) by July 2015, fewer in April
    s4 = df[df["Store"] == 4].set_index("Date")
    assert s4.loc["2015-04-01", "Promo2Weeks"] == 21 and s4.loc["2015-07-31", "Promo2Weeks"] == 25
    # Bremen/Lower Saxony is one Rossmann region; its competition distance is blank in store.csv
    s3 = df[df["Store"] == 3].iloc[0]
    assert s3.State == "HB,NI" and np.isnan(s3.CompetitionDistance)
    assert (df.loc[df["Store"] == 2, "PromoInterval"] == "Jan,Apr,Jul,Oct").all()
    assert (df.loc[df["Store"] == 1, "PromoInterval"] == "none").all()
    # closed on Sundays and public holidays, except the type-b store (store 5, Berlin)
    assert set(df.loc[df["DayOfWeek"] == 7, "Store"]) == {5}
    assert df["StateHoliday"].dtype == bool and set(df.loc[df["StateHoliday"], "Store"]) == {5}
    corpus_christi = df[df["Date"] == "2015-06-04"]
    assert set(corpus_christi["Store"]) == {3, 5, 6}  # closed in HE, BY, NW; open in NI, BE, SN
    assert set(s.states["State"]) == {"BE", "BY", "HB,NI", "HE", "NW", "SN"}
    assert "Rossmann" in s.source and str(FIXTURE) in s.source and s.truth is None


def test_finds_the_fastai_cache_and_a_parent_folder(fastai_home, tmp_path):
    shutil.copytree(FIXTURE, fastai_home / "data" / "rossmann")
    s = rossmann()
    assert "fastai_home" in s.source and len(s.frame) == 616
    parent = tmp_path / "mydata"
    shutil.copytree(FIXTURE, parent / "rossmann")
    assert len(rossmann(parent).frame) == 616


def test_missing_data_says_where_and_how(fastai_home, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        rossmann(tmp_path / "nowhere")
    text = str(err.value)
    assert str(tmp_path / "nowhere") in text and str(fastai_home / "data" / "rossmann") in text
    assert "rossmann-store-sales" in text and "kaggle.com" in text
    assert "store_states.csv" in text and "fast.ai" in text and "do not allow" in text


@pytest.mark.parametrize("name", ["train.csv", "store.csv", "store_states.csv", "state_names.csv"])
def test_a_missing_file_is_named(fastai_home, copy, name):
    (copy / name).unlink()
    with pytest.raises(ValueError, match=rf"{name}: file is missing"):
        rossmann(copy)


def _edit(path: Path, line: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = new
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "name, line, text, message",
    [
        (
            "train.csv",
            3,
            "2,5,2015-07-31,lots,518,1,0,0,1",
            r"train.csv line 3: Sales 'lots' is not an integer",
        ),
        (
            "train.csv",
            4,
            "3,5,2015-31-07,4811,518,1,0,0,1",
            r"train.csv line 4: Date '2015-31-07' is not a date",
        ),
        (
            "train.csv",
            5,
            "4,5,2015-07-31,4811,518,1,0,x,1",
            r"train.csv line 5: StateHoliday 'x' is not one of",
        ),
        (
            "train.csv",
            6,
            "5,4,2015-07-31,4811,518,1,0,0,1",
            r"train.csv line 6: DayOfWeek does not match Date",
        ),
        (
            "train.csv",
            1,
            "Store,DayOfWeek,Date,Sales",
            r"train.csv: header lacks column\(s\) \['Customers'",
        ),
        (
            "store.csv",
            3,
            '2,a,a,far,11,2007,1,13,2010,"Jan,Apr,Jul,Oct"',
            r"store.csv line 3: CompetitionDistance 'far' is not a number",
        ),
        ("store.csv", 2, "1,,a,1350,9,2008,0,,,", r"store.csv line 2: StoreType is empty"),
        (
            "store.csv",
            3,
            '1,a,a,610,11,2007,1,13,2010,"Jan,Apr,Jul,Oct"',
            r"store.csv: Store 1 appears more than once",
        ),
        ("store_states.csv", 2, "99,HE", r"store_states.csv: no state for store 1"),
        ("store_states.csv", 2, "1,XX", r"state_names.csv: no name for state 'XX'"),
    ],
)
def test_a_malformed_file_is_named_with_line_and_problem(
    fastai_home, copy, name, line, text, message
):
    _edit(copy / name, line, text)
    with pytest.raises(ValueError, match=message):
        rossmann(copy)


def test_ragged_and_empty_files(fastai_home, copy):
    (copy / "store.csv").write_text("")
    with pytest.raises(ValueError, match="store.csv: file is empty"):
        rossmann(copy)
    shutil.copy(FIXTURE / "store.csv", copy / "store.csv")
    _edit(copy / "store_states.csv", 3, "2,BY,extra,fields")
    with pytest.raises(ValueError, match="store_states.csv: cannot be parsed as CSV"):
        rossmann(copy)


def test_unquoted_region_code_in_state_names_is_read_as_meant(fastai_home, copy):
    path = copy / "state_names.csv"
    path.write_text(path.read_text().replace('Niedersachsen,"HB,NI"', "Niedersachsen,HB,NI"))
    assert "Niedersachsen,HB,NI" in path.read_text()
    s = rossmann(copy)
    assert s.frame.loc[s.frame["Store"] == 3, "StateName"].iloc[0] == "Niedersachsen"
