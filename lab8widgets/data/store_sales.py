"""Daily store sales in Rossmann's shape: the German states, and a synthetic set with known effects.

The lesson's tabular half trains on Kaggle's Rossmann data, which we may not ship (see
``rossmann.py``). Offline, ``synthetic_store_sales`` draws Rossmann-shaped sales of stores spread
over Rossmann's twelve German state regions, on the real calendar, from effects it returns, so a
lab can show how much of them a model recovers.

By default the states differ only through real per-state facts: each state's real public holidays
(stores close) and school-holiday periods (sales rise), both from the ``holidays`` package, plus
the stores' own effects and noise. No state position enters: whatever map the state embedding draws
comes from those calendars, not from us. ``planted_geography=True`` adds state effects placed by
each region's position (level, promo lift, seasonal timing), so the map must appear: a labelled
demonstration of what the model can recover, never a finding.

State names, codes and centres ship in ``assets/german_states.csv`` (GeoNames, CC BY 4.0; see
``assets/ATTRIBUTION.md``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported lazily: `import lab8widgets.data` stays cheap
    import pandas as pd

STATES_ASSET = Path(__file__).parent / "assets" / "german_states.csv"
STATES_SOURCE = "German state centres from GeoNames (CC BY 4.0)"

#: Columns a prepared store-sales frame holds (synthetic and Rossmann alike).
CAT_NAMES = (
    "Store",
    "DayOfWeek",
    "Month",
    "Year",
    "State",
    "StoreType",
    "Assortment",
    "StateHoliday",
)
CONT_NAMES = ("Promo", "CompetitionDistance")
#: What ``synthetic_store_sales(planted_geography=True)`` says on screen.
PLANTED_LABEL = "geography planted: each state's effect is placed by its position"
Y_NAME = "LogSales"
STORE_TYPES = ("a", "b", "c", "d")
_TYPE_SHARE = (0.45, 0.10, 0.15, 0.30)  # b: the stations' stores, open on Sundays and holidays
#: Rossmann's StateHoliday letters: b Easter, c Christmas, a any other public holiday.
_EASTER = ("Good Friday", "Easter Sunday", "Easter Monday")
_CHRISTMAS = ("Christmas Day", "Second Day of Christmas")


@dataclass(frozen=True)
class StoreSales:
    """Open store-days ready for a tabular model, with where they came from.

    ``frame`` has one row per store and open day; ``cat_names``, ``cont_names`` and ``y_name`` are
    the columns the course feeds its model; ``states`` the regions with their map positions;
    ``truth`` the planted effects (synthetic data only, else None).
    """

    frame: pd.DataFrame = field(repr=False)
    source: str
    cat_names: tuple[str, ...] = CAT_NAMES
    cont_names: tuple[str, ...] = CONT_NAMES
    y_name: str = Y_NAME
    states: pd.DataFrame | None = field(default=None, repr=False)
    truth: StoreSalesTruth | None = field(default=None, repr=False)
    date_name: str = "Date"


def german_states() -> pd.DataFrame:
    """The 16 German states: ``code, name, lat, lon, rossmann_code`` (shipped, GeoNames centres)."""
    import pandas as pd

    return pd.read_csv(STATES_ASSET, dtype={"code": str, "name": str, "rossmann_code": str})


def rossmann_regions() -> pd.DataFrame:
    """Rossmann's 12 state regions: ``State`` (its code, e.g. ``HB,NI``), ``name``, ``lat``, ``lon``.

    A region of several states (Bremen with Lower Saxony) sits at the mean of their centres.
    Brandenburg, Mecklenburg-Vorpommern and Saarland have no Rossmann stores and are left out.
    """
    import pandas as pd

    states = german_states().dropna(subset=["rossmann_code"])
    rows = []
    for code, grp in states.groupby("rossmann_code", sort=True):
        rows.append(
            {
                "State": code,
                "name": " / ".join(grp["name"]),
                "lat": float(grp["lat"].mean()),
                "lon": float(grp["lon"].mean()),
                "members": tuple(grp["code"]),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class StoreSalesTruth:
    """The effects planted in ``synthetic_store_sales`` (all on log sales).

    ``weekday``: 7 × store type (a store's weekly pattern is ``amp·cos θ + amp·s·sin θ`` with θ the
    day's angle on the week and s = ±1 by store type, so a model needs a 2-D ring to hold it);
    ``month``: 12 × region (one seasonal wave; with planted geography its peak shifts with
    latitude); ``state``: per region, its level and promo lift (zero and one common lift unless
    geography is planted, then smooth in its lat, lon); ``store``: per store, its level;
    ``school_holiday`` and ``before_holiday``: the lift on a school-holiday day and on the open day
    before a public holiday closes the stores, both on each state's real calendar.
    """

    base: float
    weekday: pd.DataFrame  # index DayOfWeek 1..7, columns store types
    month: pd.DataFrame  # index Month 1..12, columns region codes
    state: pd.DataFrame  # State, name, lat, lon, level, promo_lift, month_phase
    store: pd.DataFrame  # Store, State, StoreType, Assortment, CompetitionDistance, level
    year: dict[int, float]
    store_type: dict[str, float]
    assortment: dict[str, float]
    competition_slope: float  # per standard deviation of log CompetitionDistance
    noise_sd: float
    school_holiday: float = 0.0
    before_holiday: float = 0.0
    planted_geography: bool = False

    def log_sales(self, frame: pd.DataFrame) -> np.ndarray:
        """The planted mean log sales of each row of ``frame`` (no noise)."""
        st = self.state.set_index("State")
        stores = self.store.set_index("Store")
        types = frame["StoreType"].to_numpy()
        day = frame["DayOfWeek"].to_numpy()
        out = np.full(len(frame), self.base, dtype=np.float64)
        out += stores["level"].reindex(frame["Store"]).to_numpy()
        out += self.weekday.stack().reindex(list(zip(day, types, strict=True))).to_numpy()
        month = frame["Month"].to_numpy()
        region = frame["State"].to_numpy()
        out += self.month.stack().reindex(list(zip(month, region, strict=True))).to_numpy()
        out += st["level"].reindex(region).to_numpy()
        out += frame["Promo"].to_numpy() * st["promo_lift"].reindex(region).to_numpy()
        out += frame["Year"].map(self.year).to_numpy(np.float64)
        out += frame["StoreType"].map(self.store_type).to_numpy(np.float64)
        out += frame["Assortment"].map(self.assortment).to_numpy(np.float64)
        logd = np.log(stores["CompetitionDistance"])
        z = (np.log(frame["CompetitionDistance"].to_numpy()) - logd.mean()) / (logd.std() or 1.0)
        out += self.competition_slope * z
        out += self.school_holiday * frame["SchoolHoliday"].to_numpy(np.float64)
        out += self.before_holiday * frame["BeforeHoliday"].to_numpy(np.float64)
        return out


def _region_holidays(members: tuple[str, ...], years: list[int]) -> dict[dt.date, str]:
    """A region's public holidays (any member state's) as Rossmann's StateHoliday letters."""
    import holidays

    out: dict[dt.date, str] = {}
    for code in members:
        for day, name in holidays.Germany(subdiv=code, years=years, language="en_US").items():
            letter = "b" if name in _EASTER else "c" if name in _CHRISTMAS else "a"
            out.setdefault(day, letter)
    return out


def _region_school_days(members: tuple[str, ...], years: list[int]) -> set[dt.date]:
    """A region's school-holiday days (any member state's), from ``holidays``' school category."""
    import holidays

    out: set[dt.date] = set()
    for code in members:
        out.update(holidays.Germany(subdiv=code, years=years, categories=("school",)))
    return out


def _check_args(n_stores: Any, start: Any, end: Any, seed: Any) -> tuple[int, Any, Any, int]:
    import pandas as pd

    if isinstance(n_stores, bool) or not isinstance(n_stores, (int, np.integer)):
        raise ValueError(f"n_stores must be an integer, got {n_stores!r}")
    if not 12 <= int(n_stores) <= 5000:
        raise ValueError(f"n_stores must be 12..5000 (at least one per region), got {n_stores}")
    try:
        t0, t1 = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    except (ValueError, TypeError) as err:
        raise ValueError(f"start and end must be dates like '2013-01-01': {err}") from None
    if (t1 - t0).days < 120:
        raise ValueError(f"need at least 120 days from start to end, got {start} .. {end}")
    if (t1 - t0).days > 366 * 10:
        raise ValueError(f"at most 10 years from start to end, got {start} .. {end}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return int(n_stores), t0, t1, int(seed)


def synthetic_store_sales(
    n_stores: int = 120,
    start: str | dt.date = "2013-01-01",
    end: str | dt.date = "2015-07-31",
    seed: int = 0,
    *,
    planted_geography: bool = False,
) -> StoreSales:
    """Rossmann-shaped daily sales of ``n_stores`` stores from known effects (labelled synthetic).

    Stores spread evenly over Rossmann's 12 state regions. Every store opens Monday to Saturday
    except on its region's real public holidays; type-b stores (a tenth, like Rossmann's station
    stores) also open on Sundays and holidays. Promos run Monday to Friday in alternate weeks, as
    Rossmann's do. Log sales = base + store level + store type + assortment + year trend + weekly
    pattern (by store type) + one seasonal wave + promo lift + competition + a school-holiday lift
    and a lift the day before a public holiday (each state's real calendar) + noise; ``truth``
    holds each effect. No state's position is read unless ``planted_geography``, which adds a
    region level and promo lift smooth in latitude and longitude and moves the seasonal peak with
    latitude (``PLANTED_LABEL``). Only open days are returned, as the course trains on them.
    """
    import pandas as pd

    n_stores, t0, t1, seed = _check_args(n_stores, start, end, seed)
    rng = np.random.default_rng(seed)
    regions = rossmann_regions()
    n_reg = len(regions)

    # --- the effects -------------------------------------------------------------------------
    base, noise_sd = 8.7, 0.06
    state = regions[["State", "name"]].copy()
    state["level"], state["promo_lift"], state["month_phase"] = 0.0, 0.20, 0.0
    if planted_geography:  # the only place a position is read
        lat_n = ((regions["lat"] - regions["lat"].mean()) / regions["lat"].std()).to_numpy()
        lon_n = ((regions["lon"] - regions["lon"].mean()) / regions["lon"].std()).to_numpy()
        state["lat"], state["lon"] = regions["lat"], regions["lon"]
        state["level"] = 0.10 * lat_n - 0.08 * lon_n + 0.03 * lat_n * lon_n
        state["promo_lift"] = 0.20 + 0.07 * lon_n
        state["month_phase"] = 0.8 * lat_n  # radians the seasonal peak moves with latitude
    sign = {"a": 1.0, "b": 1.0, "c": -1.0, "d": -1.0}
    theta_d = 2 * np.pi * np.arange(7) / 7
    weekday = pd.DataFrame(
        {t: 0.10 * np.cos(theta_d) + 0.08 * s * np.sin(theta_d) for t, s in sign.items()},
        index=pd.Index(range(1, 8), name="DayOfWeek"),
    )
    theta_m = 2 * np.pi * (np.arange(12) - 11) / 12  # December's peak (planted: moved by latitude)
    month = pd.DataFrame(
        {
            c: 0.08 * np.cos(theta_m - ph)
            for c, ph in zip(state["State"], state["month_phase"], strict=True)
        },
        index=pd.Index(range(1, 13), name="Month"),
    )
    years = list(range(t0.year, t1.year + 1))
    year = {y: 0.03 * (y - years[0]) for y in years}
    store_type = {"a": 0.0, "b": 0.25, "c": -0.05, "d": 0.05}
    assortment = {"a": 0.0, "b": 0.10, "c": 0.05}

    # --- the stores ------------------------------------------------------------------------
    region_of = rng.permutation(np.arange(n_stores) % n_reg)
    types = rng.choice(list(STORE_TYPES), size=n_stores, p=_TYPE_SHARE)
    assort = np.where(types == "b", "b", rng.choice(["a", "c"], size=n_stores, p=[0.55, 0.45]))
    distance = np.round(np.exp(rng.normal(7.6, 1.1, n_stores)) / 10) * 10 + 20
    store = pd.DataFrame(
        {
            "Store": np.arange(1, n_stores + 1),
            "State": state["State"].to_numpy()[region_of],
            "StoreType": types,
            "Assortment": assort,
            "CompetitionDistance": distance.astype(np.float64),
            "level": rng.normal(0.0, 0.20, n_stores),
        }
    )
    truth = StoreSalesTruth(
        base=base,
        weekday=weekday,
        month=month,
        state=state,
        store=store,
        year=year,
        store_type=store_type,
        assortment=assortment,
        competition_slope=0.05,
        noise_sd=noise_sd,
        school_holiday=0.08,
        before_holiday=0.15,
        planted_geography=bool(planted_geography),
    )

    # --- the calendar ------------------------------------------------------------------------
    dates = pd.date_range(t0, t1, freq="D")
    n_days = len(dates)
    dow = dates.dayofweek.to_numpy() + 1  # Rossmann: 1 = Monday
    week_no = (dates - dates[0]).days.to_numpy() // 7
    promo_day = ((week_no % 2 == 0) & (dow <= 5)).astype(np.int64)
    holiday = np.full((n_reg, n_days), "0", dtype=object)
    school = np.zeros((n_reg, n_days), dtype=np.int64)
    day_index = {d.date(): i for i, d in enumerate(dates)}
    for r, members in enumerate(regions["members"]):
        for day, letter in _region_holidays(members, years).items():
            i = day_index.get(day)
            if i is not None:
                holiday[r, i] = letter
        for day in _region_school_days(members, years):
            i = day_index.get(day)
            if i is not None:
                school[r, i] = 1
    # the day before a public holiday (stores closed) people stock up
    before = np.zeros((n_reg, n_days), dtype=bool)
    before[:, :-1] = holiday[:, 1:] != "0"

    s_idx = np.repeat(np.arange(n_stores), n_days)
    d_idx = np.tile(np.arange(n_days), n_stores)
    hol = holiday[region_of[s_idx], d_idx]
    school_day = school[region_of[s_idx], d_idx]
    before_day = before[region_of[s_idx], d_idx]
    is_b = types[s_idx] == "b"
    open_ = is_b | ((dow[d_idx] != 7) & (hol == "0"))
    s_idx, d_idx, hol = s_idx[open_], d_idx[open_], hol[open_]
    school_day, before_day = school_day[open_], before_day[open_]
    frame = pd.DataFrame(
        {
            "Date": dates[d_idx],
            "Store": store["Store"].to_numpy()[s_idx],
            "DayOfWeek": dow[d_idx],
            "Day": dates.day.to_numpy()[d_idx],
            "Month": dates.month.to_numpy()[d_idx],
            "Year": dates.year.to_numpy()[d_idx],
            "State": store["State"].to_numpy()[s_idx],
            "StoreType": types[s_idx],
            "Assortment": assort[s_idx],
            "Promo": promo_day[d_idx],
            "StateHoliday": hol != "0",  # the course keeps it as a flag
            "CompetitionDistance": distance[s_idx],
            "SchoolHoliday": school_day,
            "BeforeHoliday": before_day,
        }
    )
    mean = truth.log_sales(frame)
    sales = np.round(np.exp(mean + rng.normal(0.0, noise_sd, len(frame))))
    frame["Sales"] = sales
    frame["LogSales"] = np.log(sales)
    what = (
        PLANTED_LABEL
        if planted_geography
        else "no geography planted: states differ only by their real public and school holidays"
    )
    source = (
        f"synthetic store sales ({what}; seed {seed}): {n_stores} stores in Rossmann's "
        f"12 German state regions, {t0.date()} to {t1.date()} with each state's real public "
        f"holidays and school holidays (holidays package); {STATES_SOURCE}"
    )
    return StoreSales(frame=frame, source=source, states=regions, truth=truth)


def region_positions(states: pd.DataFrame | None = None) -> pd.DataFrame:
    """Map coordinates (x east, y north, in km from the centre) of each region, indexed by State.

    An equirectangular projection at the regions' mean latitude (distances within ~2% here), and
    what a Procrustes fit to the map should compare with (degrees of longitude are shorter).
    """
    states = rossmann_regions() if states is None else states
    lat0 = float(states["lat"].mean())
    lon0 = float(states["lon"].mean())
    km = 111.2
    out = states.set_index("State")[["lat", "lon"]].copy()
    out["x"] = (out["lon"] - lon0) * km * math.cos(math.radians(lat0))
    out["y"] = (out["lat"] - lat0) * km
    return out[["x", "y"]]
