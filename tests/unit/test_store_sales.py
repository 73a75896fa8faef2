"""Synthetic Rossmann-shaped sales: real calendar and holidays, planted effects, shipped state data."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pytest

from lab8widgets.data import (
    PLANTED_LABEL,
    german_states,
    region_positions,
    rossmann_regions,
    synthetic_store_sales,
)


@pytest.fixture(scope="module")
def sales():
    return synthetic_store_sales(n_stores=48, start="2014-01-01", end="2014-12-31", seed=5)


def test_shipped_states_and_rossmann_regions():
    states = german_states()
    assert len(states) == 16 and states["code"].is_unique
    assert states["lat"].between(47, 55.1).all() and states["lon"].between(5.8, 15.1).all()
    regions = rossmann_regions()
    assert len(regions) == 12  # Rossmann has no stores in BB, MV, SL
    hbni = regions.set_index("State").loc["HB,NI"]
    assert hbni["members"] == ("HB", "NI")
    both = states.set_index("code").loc[["HB", "NI"]]
    assert hbni["lat"] == pytest.approx(both["lat"].mean())
    xy = region_positions(regions)
    # Hamburg lies north of Bavaria, Berlin east of North Rhine-Westphalia
    assert xy.loc["HH", "y"] > xy.loc["BY", "y"] and xy.loc["BE", "x"] > xy.loc["NW", "x"]
    # map distances agree with great-circle ones (haversine) to within 3%
    r = regions.set_index("State")
    for a, b in (("BE", "NW"), ("SH", "BY"), ("RP", "SN")):
        p1, p2 = (
            np.radians(r.loc[a, ["lat", "lon"]].astype(float)),
            np.radians(r.loc[b, ["lat", "lon"]].astype(float)),
        )
        h = (
            np.sin((p2.iloc[0] - p1.iloc[0]) / 2) ** 2
            + np.cos(p1.iloc[0]) * np.cos(p2.iloc[0]) * np.sin((p2.iloc[1] - p1.iloc[1]) / 2) ** 2
        )
        km = 2 * 6371 * np.arcsin(np.sqrt(h))
        assert np.hypot(*(xy.loc[a] - xy.loc[b])) == pytest.approx(km, rel=0.03), (a, b)


def test_shape_and_labels(sales):
    f = sales.frame
    for col in (*sales.cat_names, *sales.cont_names, sales.y_name, "Date", "Sales"):
        assert col in f.columns
    assert "synthetic" in sales.source and "real public holidays" in sales.source
    assert f["Store"].nunique() == 48 and f["State"].nunique() == 12
    assert (f.groupby("State")["Store"].nunique() == 4).all()
    assert np.allclose(f["LogSales"], np.log(f["Sales"]))
    assert (f["Promo"].eq(0) | f["DayOfWeek"].le(5)).all()  # promos run Monday to Friday
    # only type-b stores open on Sundays
    assert set(f.loc[f["DayOfWeek"] == 7, "StoreType"]) == {"b"}


def test_real_holidays_per_state(sales):
    f = sales.frame
    non_b = f[f["StoreType"] != "b"]

    def open_states(day):
        return set(non_b.loc[non_b["Date"] == day, "State"])

    everywhere = set(f["State"])
    assert open_states("2014-10-03") == set()  # German Unity Day, a national holiday
    assert open_states("2014-10-02") == everywhere
    # Corpus Christi (19 June 2014): a holiday in BW, BY, HE, NW, RP (and SL), not in the north
    assert open_states("2014-06-19") == everywhere - {"BW", "BY", "HE", "NW", "RP"}
    # Reformation Day (31 Oct 2014): the eastern states
    assert open_states("2014-10-31") == everywhere - {"SN", "ST", "TH"}
    # Epiphany (6 Jan 2014): BW, BY, ST
    assert open_states("2014-01-06") == everywhere - {"BW", "BY", "ST"}
    # the same facts from the holidays package itself
    assert dt.date(2014, 6, 19) in holidays.Germany(subdiv="BY", years=2014)
    assert dt.date(2014, 6, 19) not in holidays.Germany(subdiv="BE", years=2014)
    # b stores open on holidays, flagged as the course does
    b_hol = f[(f["StoreType"] == "b") & (f["Date"] == "2014-10-03")]
    assert len(b_hol) and b_hol["StateHoliday"].all()


def test_planted_truth_explains_the_sales():
    sales = synthetic_store_sales(
        n_stores=48, start="2014-01-01", end="2014-12-31", seed=5, planted_geography=True
    )
    assert PLANTED_LABEL in sales.source and sales.truth.planted_geography
    f, truth = sales.frame, sales.truth
    resid = f["LogSales"].to_numpy() - truth.log_sales(f)
    assert abs(resid.mean()) < 0.01 and resid.std() == pytest.approx(truth.noise_sd, rel=0.1)
    # the state effect is smooth in position: a linear fit in (lat, lon) explains most of it
    st = truth.state
    a = np.column_stack([np.ones(len(st)), st["lat"], st["lon"]])
    for col in ("level", "promo_lift"):
        coef, *_ = np.linalg.lstsq(a, st[col], rcond=None)
        r2 = 1 - np.var(st[col] - a @ coef) / np.var(st[col])
        assert r2 > 0.9, col
    assert truth.weekday.shape == (7, 4) and truth.month.shape == (12, 12)


def test_seeded_and_reproducible():
    a = synthetic_store_sales(n_stores=12, start="2014-01-01", end="2014-06-30", seed=1)
    b = synthetic_store_sales(n_stores=12, start="2014-01-01", end="2014-06-30", seed=1)
    c = synthetic_store_sales(n_stores=12, start="2014-01-01", end="2014-06-30", seed=2)
    assert a.frame.equals(b.frame) and not a.frame["Sales"].equals(c.frame["Sales"])


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(n_stores=5), "n_stores"),
        (dict(n_stores=2.5), "n_stores"),
        (dict(start="soon"), "dates"),
        (dict(start="2014-01-01", end="2014-02-01"), "120 days"),
        (dict(seed="x"), "seed"),
    ],
)
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        synthetic_store_sales(**kw)


def _shuffled_positions(monkeypatch):
    """Make every state's centre another state's (the generator reads them through here)."""
    import lab8widgets.data.store_sales as store_sales

    real = store_sales.rossmann_regions()
    moved = real.copy()
    perm = np.random.default_rng(0).permutation(len(real))
    moved[["lat", "lon"]] = real[["lat", "lon"]].to_numpy()[perm]
    assert not np.allclose(moved["lat"], real["lat"])
    monkeypatch.setattr(store_sales, "rossmann_regions", lambda: moved.copy())


def test_the_default_generator_never_reads_state_positions(monkeypatch):
    kw = dict(n_stores=24, start="2014-01-01", end="2014-08-31", seed=3)
    before = synthetic_store_sales(**kw)
    planted_before = synthetic_store_sales(**kw, planted_geography=True)
    _shuffled_positions(monkeypatch)
    after = synthetic_store_sales(**kw)
    planted_after = synthetic_store_sales(**kw, planted_geography=True)
    # identical data with every state moved: positions never enter the default generator
    assert before.frame.equals(after.frame)
    assert not before.truth.planted_geography and "no geography planted" in before.source
    assert (before.truth.state["level"] == 0).all() and before.truth.month.nunique(axis=1).eq(
        1
    ).all()
    # the check has teeth: the planted generator's sales move with the positions
    assert not planted_before.frame["Sales"].equals(planted_after.frame["Sales"])


def test_states_differ_by_their_real_school_holidays(sales):
    f = sales.frame
    truth = synthetic_store_sales(n_stores=48, start="2014-01-01", end="2014-12-31", seed=5).truth
    assert truth.school_holiday > 0 and truth.before_holiday > 0
    resid = f["LogSales"].to_numpy() - truth.log_sales(f)
    assert resid.std() == pytest.approx(truth.noise_sd, rel=0.1)

    def school(state, day):
        rows = f[(f["State"] == state) & (f["Date"] == day)]
        return set(rows["SchoolHoliday"])

    # summer 2014: Bavaria's school holidays ran 30 July to 15 September, Berlin's 9 July to 22 August
    assert school("BY", "2014-09-10") == {1} and school("BE", "2014-09-10") == {0}
    assert school("BE", "2014-07-15") == {1} and school("BY", "2014-07-15") == {0}
    for code, day in (("BY", dt.date(2014, 9, 10)), ("BE", dt.date(2014, 7, 15))):
        assert day in holidays.Germany(subdiv=code, years=2014, categories=("school",))
    # the open day before a public holiday (stores closed) is flagged
    assert f.loc[(f["State"] == "BY") & (f["Date"] == "2014-06-18"), "BeforeHoliday"].all()
