"""EntityLab: the lesson's tabular model (entity embeddings) trained live, then read as a map.

The lab holds the data, the live model (``lab.model``), the runs and the public API; its panels
(``states``, ``calendars``, ``sizes``, ``panels``) draw what it hands them and call back. Every
number comes from ``lab8widgets.models.tabular``; no math here.

The default data plants no geography (``data="synthetic"``): whether the state embedding redraws the
map is a question, answered by a permutation test and a shuffled-states control, not a given.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets

from ...models.projector import projector_files, write_projector
from ...models.tabular import (
    TabularFit,
    check_batch,
    compare_fastai,
    fit_tabular,
    other_models,
    tabular_data,
)
from ...models.tabular import project as P
from ...models.tabular import tabular_model as make_model
from ...models.tabular.others import PAPER
from ...views.training import Column, RunBook, TrainingPanel
from .._base import LabBase, LabInputError, api_call
from .calendars import CalendarPanel, sparse_days_text
from .common import note
from .panels import DataPanel, EmbeddingUsePanel
from .sizes import SizesPanel
from .states import PAPER_FINDING, StatesPanel

__all__ = ["EntityLab"]

STATE = "State"
N_PERM = 2000
RUN_COLUMNS = (
    Column("color", ""),
    Column("run", "#"),
    Column("engine", "engine"),
    Column("data", "data"),
    Column("epochs_done", "epochs"),
    Column("lr", "lr", lambda v: f"{v:.1e}"),
    Column("wd", "wd", lambda v: f"{v:g}"),
    Column("bs", "bs"),
    Column("valid_mse", "valid MSE"),
    Column("exp_rmspe", "exp RMSPE"),
    Column("map_p", "map p", lambda v: "–" if not math.isfinite(v) else f"{v:.3f}"),
    Column("seconds", "s", lambda v: f"{v:.2f}"),
    Column("status", "status"),
)

#: what each kind of data can and cannot show about the map
DATA_NOTES = {
    "synthetic": (
        "<b>This data</b> plants no geography: states differ only by their real public holidays "
        "and school-holiday periods (the <code>holidays</code> package), plus store effects and "
        "noise; no state position enters the generator. It <b>can</b> show whether those calendars "
        "alone place neighbours together (neighbouring states often share holiday dates). It "
        "<b>cannot</b> show the economy and culture the paper credits: they are not in it."
    ),
    "synthetic-planted": (
        "<b>This data: geography planted: each state's effect is placed by its position</b> (its "
        "level, promo lift and seasonal timing are smooth in latitude and longitude). The map "
        "<b>must</b> appear if the model learns: it shows what a model can recover, never a "
        "discovery about Germany."
    ),
    "rossmann": (
        "<b>This data</b> is Rossmann's real sales: a map that beats the shuffled control here is "
        "the data's own. With a few stores per state the test has little power; all 1,115 stores "
        "make it fair."
    ),
    "dataframe": "<b>Your DataFrame</b>: the map is drawn only where it has a State column.",
}


def load(data: Any = None, cat_names=None, cont_names=None, y_name=None, path=None, n_stores=120):
    """(frame, cat_names, cont_names, y_name, states or None, source, kind) for what EntityLab was
    given; ``kind`` is "synthetic", "synthetic-planted", "rossmann" or "dataframe"."""
    import pandas as pd

    from ...data import rossmann, synthetic_store_sales

    if data is None or (isinstance(data, str) and data in ("synthetic", "synthetic-planted")):
        kind = data or "synthetic"
        sales = synthetic_store_sales(
            n_stores=n_stores, planted_geography=kind == "synthetic-planted"
        )
    elif isinstance(data, str) and data == "rossmann":
        kind = "rossmann"
        try:
            sales = rossmann(path)
        except (FileNotFoundError, OSError) as e:
            raise LabInputError(str(e)) from None
    elif isinstance(data, pd.DataFrame):
        if cat_names is None or y_name is None:
            raise LabInputError("with a DataFrame, name cat_names=[...] and y_name='...' too")
        conts = list(cont_names or [])
        return data, list(cat_names), conts, y_name, None, "your DataFrame", "dataframe"
    else:
        raise LabInputError(
            "data must be None or 'synthetic' (synthetic store sales, no geography planted), "
            f"'synthetic-planted', 'rossmann' or a DataFrame, got {data!r}"
        )
    return (
        sales.frame,
        list(cat_names or sales.cat_names),
        list(sales.cont_names if cont_names is None else cont_names),
        y_name or sales.y_name,
        sales.states,
        sales.source,
        kind,
    )


class EntityLab(LabBase):
    """Train fastai's tabular model on store sales and ask whether its embeddings become a map.

    ``data``: None or "synthetic" (synthetic store sales whose states differ only by their real
    holidays), "synthetic-planted" (geography planted: each state's effect is placed by its
    position), "rossmann" (the Kaggle files in ``path``) or a DataFrame with ``cat_names``,
    ``cont_names`` and ``y_name``. ``n_stores`` sizes the synthetic data (fewer: a quicker lab).
    """

    selected = traitlets.List()

    def __init__(
        self,
        data: Any = None,
        cat_names=None,
        cont_names=None,
        y_name=None,
        path=None,
        *,
        n_stores: int = 120,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__("EntityLab: entity embeddings of store sales", **kwargs)
        self.seed = int(seed)
        self.n_stores = n_stores
        self._lock = threading.RLock()
        self.fastai_learner = None
        self.control_model = None
        self.control_data = None
        self._control_for = None
        self._others = None
        self._set_data(*load(data, cat_names, cont_names, y_name, path, n_stores))
        self._build()
        self.refresh()

    # --- data ------------------------------------------------------------------------------------
    def _set_data(self, frame, cats, conts, y, states, source, kind) -> None:
        from ...data import region_positions

        data = tabular_data(frame, cats, conts, y)
        model = make_model(data, seed=self.seed)
        self.data, self._model, self.source, self.data_kind = data, model, source, kind
        self._loaded = (frame, cats, conts, y)
        self.states = states
        has_state = STATE in data.cat_names and states is not None
        self.positions = region_positions(states) if has_state else None
        if self.positions is not None:
            known = set(data.classes[STATE][1:])
            self.positions = self.positions.loc[[s for s in self.positions.index if s in known]]
            if len(self.positions) < 3:  # too few states to fit a map to
                self.positions = None
        self.control_model = self.control_data = self._control_for = None
        self._others = None

    @api_call
    def load(
        self,
        data: Any = None,
        cat_names=None,
        cont_names=None,
        y_name=None,
        path=None,
        *,
        n_stores: int | None = None,
    ) -> None:
        """Show other data (same choices as the constructor) with a fresh model; the runs table
        keeps every run, each naming its data. Bad data raises and shows the banner; the lab
        keeps what it showed."""
        loaded = load(data, cat_names, cont_names, y_name, path, n_stores or self.n_stores)
        if self.busy:
            raise LabInputError("Still training: press Stop or wait before loading other data.")
        with self._lock:
            self._set_data(*loaded)
            self.selected = []
            self._show_keys()
        self.data_panel.show(self.data_kind)
        self.refresh()

    @property
    def model(self):
        """The live TabularModel (the last run of ours; fastai's learner is ``fastai_learner``)."""
        return self._model

    @property
    def runs(self) -> list:
        """Every run, each a RunRecord (``rec["valid_mse"]``, ``rec["data"]``, ``rec["map_p"]``)."""
        return self.book.runs

    @property
    def history(self) -> list[dict]:
        """The last finished run's per-epoch history (empty before the first run)."""
        return self.runs[-1]["history"] if self.runs else []

    @property
    def best_run(self):
        """The finished run with the lowest valid MSE; a diverged run is never best."""
        return self.book.best

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.compare_button = W.Button(
            description="Compare fastai",
            icon="balance-scale",
            tooltip="train fastai's tabular_learner on the same split with these settings",
        )
        self.compare_button.add_class("lab8-compare")
        self.compare_button.on_click(lambda _b: self._click(self._form_run, compare=True))
        self.panel = TrainingPanel(
            TabularFit,
            ("epochs", "lr", "wd", "bs"),
            TabularFit(),
            on_train=lambda: self._click(self._form_run),
            on_clear=lambda: self._click(self.clear_runs),
            on_error=self.fail,
            on_change=lambda _n, _v: self.clear_error(),
            buttons=[self.compare_button],
            columns=RUN_COLUMNS,
            loss_label="MSE",
            progress=False,
            chart_width="500px",
        )
        self.panel.children[1].layout.flex_flow = "row wrap"  # chart and runs stack when narrow
        self.panel.runs_box.layout.min_width = "320px"
        traitlets.dlink((self, "busy"), (self.panel, "busy"))
        self.book = RunBook(
            self.panel, score="valid_mse", score_label="valid MSE", on_diverged=self.fail
        )
        self.data_panel = DataPanel(
            on_data=lambda name: self._click(self.load, name),
            on_shuffle=lambda: self._click(self._form_run, shuffle=True),
        )
        self.data_panel.show(self.data_kind)

        self.states_panel = StatesPanel(on_select=self._view_selected)
        self.state_map, self.state_emb = self.states_panel.state_map, self.states_panel.state_emb
        self.map_html, self.nearest_table = (
            self.states_panel.map_html,
            self.states_panel.nearest_table,
        )
        self.calendars = CalendarPanel(list(P.CALENDARS))
        self.rings, self.ring_lines = self.calendars.rings, self.calendars.ring_lines
        self.ring_html = self.calendars.ring_html
        self.sizes_panel = SizesPanel(lambda: self.model, lambda: self.data, self._lock, self.guard)
        self.sizes, self.rule_line = self.sizes_panel.sizes, self.sizes_panel.rule_line
        self.column_pick, self.category_pick = (
            self.sizes_panel.column_pick,
            self.sizes_panel.category_pick,
        )
        self.lookup_html = self.sizes_panel.lookup_html
        self.use_panel = EmbeddingUsePanel(
            on_other_models=lambda: self._click(self.other_models),
            on_column=lambda name: self._click(self._show_projector, name),
        )

        # one section in the page at a time: a bqplot figure drawn while hidden (a Tab's other
        # pages) has no size and draws negative rectangles, so the others leave the DOM
        self.view_panels = {
            "States": self.states_panel,
            "Weekdays and months": self.calendars,
            "Embedding sizes": self.sizes_panel,
            "Other models": self.use_panel,
        }
        self.view_pick = W.ToggleButtons(
            options=list(self.view_panels), style={"button_width": "170px"}
        )
        self.view_pick.add_class("lab8-entity-views")
        self.section = W.Box([self.states_panel], layout=W.Layout(width="100%"))
        self.view_pick.observe(
            lambda c: setattr(self.section, "children", [self.view_panels[c["new"]]]), "value"
        )
        self.body.children = [self.data_panel, self.panel, self.view_pick, self.section]
        self.add_section("training", self.panel)
        for name, view in zip(
            ("states", "calendars", "sizes", "other-models"), self.view_panels, strict=True
        ):
            self.add_section(name, self.view_panels[view], lambda v=view: self._open_view(v))
        self.layout.max_width = "1280px"
        self._show_keys()

    def _open_view(self, name: str) -> None:
        """Show one of the views below the runs (the lesson map opens them by name)."""
        self.view_pick.value = name

    def _show_keys(self) -> None:
        """Points of the state views and the column choices for the current data."""
        self.states_panel.set_states(self.positions)
        self.sizes_panel.set_data()
        self.use_panel.set_columns(
            self.data.cat_names, STATE if STATE in self.data.cat_names else self.data.cat_names[0]
        )
        self.use_panel.show_table(None, "")

    # --- selection ---------------------------------------------------------------------------------
    @traitlets.validate("selected")
    def _valid(self, proposal) -> list:
        want = list(proposal["value"])
        keys = self.states_panel.state_keys if hasattr(self, "states_panel") else []
        bad = [k for k in want if k not in keys]
        if bad:
            self.error = f"unknown state(s) {bad}; choose from {keys}"
            raise KeyError(f"unknown state(s) {bad}; choose from {keys}")
        return [k for k in keys if k in want]

    @traitlets.observe("selected")
    def _on_selected(self, change) -> None:
        self.states_panel.select(change["new"])
        self._draw_nearest()

    def _view_selected(self, keys: list) -> None:
        if keys != self.selected:
            self.selected = keys

    def _draw_nearest(self) -> None:
        import pandas as pd

        rows = []
        with self._lock:
            for s in self.selected:
                for n, r in P.nearest(self.model, STATE, s, k=3).iterrows():
                    rows.append({"state": s, "nearest": n, "distance": r["distance"]})
        self.states_panel.show_nearest(pd.DataFrame(rows, columns=["state", "nearest", "distance"]))

    # --- drawing from the model's tensors ----------------------------------------------------------
    def refresh(self) -> None:
        """Redraw every view from ``lab.model`` (runs after each epoch while training)."""
        with self._lock:
            self._draw_states()
            self._draw_rings()
            self.sizes_panel.draw()
            if self.selected:
                self._draw_nearest()

    def _draw_states(self) -> None:
        self.states_panel.data_html.value = note(
            DATA_NOTES[self.data_kind] + "<br>" + PAPER_FINDING, raw=True
        )
        if self.positions is None:
            self.map_html.value = note(f"no {STATE!r} column with 3+ known states: no map")
            return
        proj = P.projection(self.model, STATE, self.positions).loc[self.states_panel.state_keys]
        self.states_panel.show_projection(proj["x"], proj["y"])
        self.map_html.value = note(self._score_text(), raw=True)

    def _score_text(self) -> str:
        s = self._map_score()
        lines = [
            f"Map score: Procrustes disparity {s['disparity']:.3f} (0 = the map exactly); "
            f"<b>{s['verdict']}</b> (p = {s['p_value']:.3f}; better than "
            f"{100 * s['better_than']:.0f}% of random state assignments, {s['n_perm']} tried; "
            f"the threshold is better than {100 * (1 - s['alpha']):.0f}%)."
        ]
        if self.control_model is not None:
            c = self._map_score(control=True)
            lines.append(
                f"Shuffled-states control (State names permuted before training): disparity "
                f"{c['disparity']:.3f}, <b>{c['verdict']}</b> (p = {c['p_value']:.3f})."
            )
        elif self.runs:
            lines.append("Press <b>Shuffle the states</b> to see what chance looks like here.")
        return "<br>".join(lines)

    def _draw_rings(self) -> None:
        for kind, (col, n, labels) in P.CALENDARS.items():
            if col not in self.data.cat_names:
                self.calendars.say(kind, note(f"no {col!r} column"))
                continue
            emb = P.embedding(self.model, col)
            xy = P.pca2(emb.to_numpy())
            order = np.argsort([int(c) for c in emb.index])
            keys = [labels[int(c) - 1] for c in emb.index]
            counts = self.data.counts(col)[1:]
            score = P.calendar_score(self.model, kind)
            text = note(
                f"Joined {labels[0]}→{labels[-1]} in calendar order. Calendar score "
                f"<b>{score:.2f}</b> (share of calendar neighbours that are nearest neighbours; "
                f"random ≈ {2 / (n - 1):.2f}).{sparse_days_text(keys, counts)}",
                raw=True,
            )
            self.calendars.draw(kind, xy, keys, order, text)

    # --- reading the model (Python API) -----------------------------------------------------------
    @api_call
    def embedding(self, name: str = STATE):
        """The learned vectors of column ``name`` (one row per category)."""
        with self._lock:
            return P.embedding(self.model, name)

    @api_call
    def map_score(self, n_perm: int = N_PERM, *, control: bool = False) -> dict:
        """Does the projected state embedding match the map better than chance?

        A permutation test: ``disparity`` (Procrustes, 0 = the map), ``better_than`` (share of
        ``n_perm`` random state assignments it beats), ``p_value``, ``significant`` (p < 0.05:
        better than 95% of random assignments) and ``verdict`` in words. ``control=True`` scores the
        shuffled-states control's model (``shuffle_states``)."""
        return self._map_score(n_perm, control)

    def _map_score(self, n_perm: int = N_PERM, control: bool = False) -> dict:
        if self.positions is None:
            raise ValueError(f"this data has no {STATE!r} column to compare with the map")
        model = self.control_model if control else self.model
        if model is None:
            raise ValueError("no shuffled-states control yet: run lab.shuffle_states() first")
        with self._lock:
            out = P.map_score(model, self.positions, name=STATE, n_perm=n_perm, seed=0)
        return {**out, "n_perm": int(n_perm)}

    @api_call
    def calendar_score(self, kind: str = "weekday") -> float:
        """How well the weekday or month embedding keeps calendar neighbours nearest."""
        with self._lock:
            return P.calendar_score(self.model, kind)

    @api_call
    def other_models(self, max_train: int = 1000, max_valid: int = 2000):
        """The embeddings inside other models (Guo & Berkhahn 2016, section VI.2): a DataFrame with
        one row per model and input (``model``, ``input``: codes, one-hot or embeddings,
        ``valid_error``, the paper's ``paper_mape``, ``metric``, rows used and ``data``)."""
        if self.busy:
            raise LabInputError("Still training: press Stop or wait before using the embeddings.")
        with self._lock:
            frame = other_models(
                self.model,
                self.data,
                max_train=max_train,
                max_valid=max_valid,
                seed=self.seed,
                data_label=self.source,
            )
        self._others = frame
        shown = frame.drop(columns=["data", "metric", "train_rows", "valid_rows"])
        self.use_panel.show_table(
            shown.round(4),
            note(
                f"{frame['metric'].iloc[0]} on {frame['valid_rows'].iloc[0]:,} validation rows "
                f"after training on {frame['train_rows'].iloc[0]:,} rows of: {self.source}. "
                f"Without embeddings KNN takes one-hot inputs and the trees integer codes, as in "
                f"the paper. paper_mape: {PAPER} (real Rossmann; our data is smaller and "
                f"synthetic unless you loaded Rossmann, so compare the direction, not the size)."
            ),
        )
        return frame

    def _projector(self, column: str) -> tuple:
        emb = self.embedding(column)
        labels = [str(c) for c in emb.index]
        kind = next((k for k, (c, _, _) in P.CALENDARS.items() if c == column), None)
        if kind is not None:
            names = P.CALENDARS[kind][2]
            labels = [names[int(c) - 1] for c in emb.index]
        counts = self.data.counts(column)[1:]
        meta = {column: labels, "code": [str(c) for c in emb.index], "train_rows": list(counts)}
        return emb.to_numpy(), meta

    @api_call
    def export_projector(self, folder, name: str | None = None, column: str = STATE):
        """Write column ``column``'s embedding as the Embedding Projector's two TSV files,
        ``<name>_vectors.tsv`` and ``<name>_metadata.tsv`` (default name: the column), in
        category order; returns their paths."""
        vectors, meta = self._projector(column)
        return write_projector(folder, name or column, vectors, meta)

    def _show_projector(self, column: str | None) -> None:
        if column is None:
            return
        vectors, meta = self._projector(column)
        self.use_panel.show_files(projector_files(column, vectors, meta))

    # --- training ----------------------------------------------------------------------------------
    @api_call
    def fit(self, epochs=5, lr=1e-2, wd=0.2, bs=512, *, seed=None, fresh=True, wait=True):
        """Train the tabular model with ``fit_one_cycle``; blocks (the page streams) unless
        ``wait=False``. Returns the run's RunRecord (``rec["history"]``: per epoch). A diverging
        run stops, is marked "diverged", warns and is returned; its last good weights stay."""
        s = check_batch(TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs), self.data)
        return self._start(lambda task: self._run(task, s, seed, fresh, "lab8widgets"), wait)

    @api_call
    def shuffle_states(self, epochs=5, lr=1e-2, wd=0.2, bs=512, *, seed=None, wait=True):
        """The control: train a fresh model on the same rows with the State names permuted (each
        state's rows get another state's name), into the runs table; its map score
        (``map_score(control=True)``) shows what chance looks like. ``lab.model`` stays."""
        if self.positions is None:
            raise LabInputError(f"this data has no {STATE!r} column with 3+ known states")
        s = check_batch(TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs), self.data)
        return self._start(lambda task: self._run(task, s, seed, True, "lab8widgets", True), wait)

    @api_call
    def compare_fastai(self, epochs=5, lr=1e-2, wd=0.2, bs=512, *, seed=None, wait=True):
        """fastai's ``tabular_learner`` on the same split and sizes, in the same runs table
        (its learner: ``lab.fastai_learner``; ``lab.model`` stays ours)."""
        s = check_batch(TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs), self.data)
        return self._start(lambda task: self._run(task, s, seed, True, "fastai"), wait)

    def _start(self, fn, wait: bool):
        """Run ``fn`` in the background; a blocking call returns its RunRecord, warning (never
        raising) when it diverged: the RunBook's one policy."""
        task = self.run_and_wait(fn, wait)
        return self.book.outcome(task.result, stacklevel=4) if wait else None

    def _shuffled_data(self, seed: int):
        """The loaded rows with the State names permuted (no state keeps its own), same split."""
        frame, cats, conts, y = self._loaded
        names = sorted(frame[STATE].unique())
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(names))
        while len(names) > 1 and (perm == np.arange(len(names))).any():
            perm = rng.permutation(len(names))
        mapping = dict(zip(names, [names[i] for i in perm], strict=True))
        return tabular_data(frame.assign(**{STATE: frame[STATE].map(mapping)}), cats, conts, y)

    def _run(self, task, s: TabularFit, seed, fresh: bool, engine: str, shuffle=False):
        seed = self.seed if seed is None else int(seed)
        label = self.data_kind + (" · states shuffled" if shuffle else "")
        rec = self.book.start(
            f"{engine} {label}", engine=engine, settings=s.asdict(), data=label, map_p=math.nan
        )
        task.report(0.0, f"run #{rec.run}: {engine} training…")

        def on_event(ev) -> None:
            self.book.event(rec, ev, task.report)
            if ev.kind == "epoch" and engine != "fastai" and not shuffle:
                with self.guard(clear=False):
                    self.refresh()  # the views follow the model while it trains

        common = dict(seed=seed, callback=on_event, should_stop=lambda: task.stopped)
        if engine == "fastai":
            res = compare_fastai(self.data, s.epochs, s.lr, s.wd, s.bs, **common)
            self.fastai_learner = res.learner
        elif shuffle:
            data = self._shuffled_data(seed)
            model = make_model(data, seed=seed)
            res = fit_tabular(model, data, s.epochs, s.lr, s.wd, s.bs, **common)
            if res.status != "diverged":
                self.control_model, self.control_data = model, data
        else:
            before = self.model
            model = make_model(self.data, seed=seed) if fresh else before
            with self._lock:
                self._model = model
            res = fit_tabular(
                model, self.data, s.epochs, s.lr, s.wd, s.bs, lock=self._lock, **common
            )
            if res.status == "diverged" and fresh:
                with self._lock:
                    self._model = before  # a fresh model that diverged: keep the last good one
        if self.positions is not None and engine != "fastai" and res.status != "diverged":
            rec.extra["map_p"] = self._map_score(control=shuffle)["p_value"]
        if engine != "fastai":
            self.refresh()
        return self.book.finish(rec, res)  # table, best run, chart, message; diverged: banner

    def _form_run(self, compare: bool = False, shuffle: bool = False) -> None:
        s = self.panel.settings()
        kw = dict(epochs=s.epochs, lr=s.lr, wd=s.wd, bs=s.bs, wait=False)
        (self.compare_fastai if compare else self.shuffle_states if shuffle else self.fit)(**kw)

    def _click(self, fn, *args, **kwargs) -> None:
        with self.guard():
            fn(*args, **kwargs)

    def clear_runs(self) -> None:
        """Empty the runs table and the chart (the model stays)."""
        self.book.clear()
