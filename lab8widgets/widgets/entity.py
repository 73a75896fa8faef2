"""EntityLab: the lesson's tabular model (entity embeddings) trained live, then read as a map.

Composed from shared views: ``TrainingPanel`` (settings, Train/Stop, streaming loss chart, runs),
``LinkedScatter``/``link_selection`` (the state map beside the projected state embeddings; the
weekday and month rings; embedding sizes) and ``TableView`` (nearest states). Every number comes
from ``lab8widgets.models.tabular`` and ``lab8widgets.models.tabular.project``; no math here.
"""

from __future__ import annotations

import html
import math
import threading
import warnings
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

from ..models.tabular import TabularFit, compare_fastai, fit_tabular, get_emb_sz, tabular_data
from ..models.tabular import project as P
from ..models.tabular import tabular_model as make_model
from ..views import LinkedScatter, TableView, link_selection
from ..views.training import COLORS, Column, TrainingPanel
from ._base import LabBase, LabInputError, api_call

__all__ = ["EntityLab"]

STATE = "State"
RUN_COLUMNS = (
    Column("color", ""),
    Column("run", "#"),
    Column("engine", "engine"),
    Column("epochs_done", "epochs"),
    Column("lr", "lr", lambda v: f"{v:.1e}"),
    Column("wd", "wd", lambda v: f"{v:g}"),
    Column("bs", "bs"),
    Column("valid_mse", "valid MSE"),
    Column("exp_rmspe", "exp RMSPE"),
    Column("seconds", "s", lambda v: f"{v:.2f}"),
    Column("status", "status"),
)


def load(data: Any = None, cat_names=None, cont_names=None, y_name=None, path=None, n_stores=120):
    """(frame, cat_names, cont_names, y_name, states or None, source) for what EntityLab was given."""
    import pandas as pd

    from ..data import rossmann, synthetic_store_sales

    if data is None or (isinstance(data, str) and data == "rossmann"):
        if data is None:
            sales = synthetic_store_sales(n_stores=n_stores)
        else:
            try:
                sales = rossmann(path)
            except (FileNotFoundError, OSError) as e:
                raise LabInputError(str(e)) from None
        return (
            sales.frame,
            list(cat_names or sales.cat_names),
            list(sales.cont_names if cont_names is None else cont_names),
            y_name or sales.y_name,
            sales.states,
            sales.source,
        )
    if isinstance(data, pd.DataFrame):
        if cat_names is None or y_name is None:
            raise LabInputError("with a DataFrame, name cat_names=[...] and y_name='...' too")
        return data, list(cat_names), list(cont_names or []), y_name, None, "your DataFrame"
    raise LabInputError(
        f"data must be None (synthetic store sales), 'rossmann' or a DataFrame, got {data!r}"
    )


def _labelled(view: LinkedScatter) -> LinkedScatter:
    """Points named on the plot (LinkedScatter shows names only in its tooltip)."""
    view.mark.display_names = True
    view.mark.label_display_horizontal_offset = 6
    view.mode = "click"
    view.figure.fig_margin = {**view.figure.fig_margin, "right": 44}  # room for the last label
    return view


class EntityLab(LabBase):
    """Train fastai's tabular model on store sales and watch its embeddings become a map.

    ``data``: None (synthetic store sales with planted effects), "rossmann" (the Kaggle files in
    ``path``) or a DataFrame with ``cat_names``, ``cont_names`` and ``y_name``. ``n_stores`` sizes
    the synthetic data (fewer: a quicker lab).
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
        self._lock = threading.RLock()
        self.runs: list[dict] = []
        self.fastai_learner = None
        self._set_data(*load(data, cat_names, cont_names, y_name, path, n_stores))
        self._build()
        self.refresh()

    # --- data ------------------------------------------------------------------------------------
    def _set_data(self, frame, cats, conts, y, states, source) -> None:
        from ..data import region_positions

        data = tabular_data(frame, cats, conts, y)
        model = make_model(data, seed=self.seed)
        self.data, self._model, self.source = data, model, source
        has_state = STATE in data.cat_names
        self.states = states
        self.positions = region_positions(states) if has_state else None
        if self.positions is not None:
            known = set(data.classes[STATE][1:])
            self.positions = self.positions.loc[[s for s in self.positions.index if s in known]]
            if len(self.positions) < 3:  # too few states to fit a map to
                self.positions = None

    @api_call
    def load(self, data: Any = None, cat_names=None, cont_names=None, y_name=None, path=None,
             *, n_stores: int = 120) -> None:  # fmt: skip
        """Show other data (same choices as the constructor) with a fresh model. Bad data raises
        and shows the banner; the lab keeps what it showed."""
        loaded = load(data, cat_names, cont_names, y_name, path, n_stores)
        if self.busy:
            raise LabInputError("Still training: press Stop or wait before loading other data.")
        with self._lock:
            self._set_data(*loaded)
            self.selected = []
            self._show_keys()
        self.clear_runs()
        self.refresh()

    @property
    def model(self):
        """The live TabularModel (the last run of ours; fastai's learner is ``fastai_learner``)."""
        return self._model

    @property
    def history(self) -> list[dict]:
        """The last finished run's per-epoch history (empty before the first run)."""
        return self.runs[-1]["history"] if self.runs else []

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.compare_button = W.Button(
            description="Compare fastai", icon="balance-scale",
            tooltip="train fastai's tabular_learner on the same split with these settings",
        )  # fmt: skip
        self.compare_button.add_class("lab8-compare")
        self.compare_button.on_click(lambda _b: self._click(self._form_run, compare=True))
        self.panel = TrainingPanel(
            TabularFit, ("epochs", "lr", "wd", "bs"), TabularFit(),
            on_train=lambda: self._click(self._form_run),
            on_clear=lambda: self._click(self.clear_runs),
            on_error=self.fail, on_change=lambda _n, _v: self.clear_error(),
            buttons=[self.compare_button], columns=RUN_COLUMNS, loss_label="MSE",
            progress=False, chart_width="500px",
        )  # fmt: skip
        self.panel.children[1].layout.flex_flow = "row wrap"  # chart and runs stack when narrow
        self.panel.runs_box.layout.min_width = "320px"
        traitlets.dlink((self, "busy"), (self.panel, "busy"))

        # States: embedding (Procrustes-aligned) beside the map
        self.state_map = _labelled(LinkedScatter(
            [], [], [], title="Map of Germany (state centres)", x_label="km east",
            y_label="km north", height="340px",
        ))  # fmt: skip
        self.state_emb = _labelled(LinkedScatter(
            [], [], [],
            title="State embeddings (PCA, aligned to the map)", x_label="PC → east",
            y_label="PC → north", height="340px",
        ))  # fmt: skip
        self.state_map.add_class("lab8-entity-map")
        self.state_emb.add_class("lab8-entity-emb")
        self._link = link_selection(self.state_map, self.state_emb)
        self.state_map.observe(self._view_selected, "selected")
        self.state_emb.observe(self._view_selected, "selected")
        self.map_html = W.HTML()
        self.map_html.add_class("lab8-entity-score")
        self.nearest_table = TableView(caption="Nearest states in embedding space", height="200px")
        self.nearest_table.add_class("lab8-entity-nearest")
        states_box = W.VBox([
            W.HBox([self.state_map, self.state_emb], layout=_wrap()),
            self.map_html, self.nearest_table,
        ])  # fmt: skip

        # Weekdays and months: rings in calendar order
        self.rings: dict[str, LinkedScatter] = {}
        self.ring_lines: dict[str, bq.Lines] = {}
        self.ring_html: dict[str, W.HTML] = {}
        ring_boxes = []
        for kind in P.CALENDARS:
            view = _labelled(LinkedScatter([], [], [], title=f"{kind} embedding (PCA)",
                                           height="320px"))  # fmt: skip
            view.add_class(f"lab8-entity-ring-{kind}")
            line = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=["#999"],
                            scales={"x": view.x_scale, "y": view.y_scale})  # fmt: skip
            view.figure.marks = [line, view.mark]
            self.rings[kind], self.ring_lines[kind] = view, line
            self.ring_html[kind] = W.HTML()
            ring_boxes.append(
                W.VBox([view, self.ring_html[kind]], layout=W.Layout(flex="1 1 360px"))
            )
        calendar_box = W.HBox(ring_boxes, layout=_wrap())

        # Embedding sizes: emb_sz_rule and one-hot × weights = lookup
        self.sizes = _labelled(LinkedScatter([], [], [], title="emb_sz_rule: categories → width",
                                             x_label="categories (with #na#)", y_label="width",
                                             x_log=True, height="320px"))  # fmt: skip
        self.sizes.mode = "brush"
        self.rule_line = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=["#999"],
                                  scales={"x": self.sizes.x_scale, "y": self.sizes.y_scale})  # fmt: skip
        self.sizes.figure.marks = [self.rule_line, self.sizes.mark]
        self.column_pick = W.Dropdown(options=self.data.cat_names, description="column")
        self.category_pick = W.Dropdown(description="category")
        self.column_pick.observe(lambda _c: self._click(self._column_changed), "value")
        self.category_pick.observe(lambda _c: self._click(self._draw_lookup), "value")
        self.lookup_html = W.HTML()
        self.lookup_html.add_class("lab8-entity-lookup")
        sizes_box = W.HBox([
            self.sizes,
            W.VBox([self.column_pick, self.category_pick, self.lookup_html],
                   layout=W.Layout(flex="1 1 320px", min_width="300px")),
        ], layout=_wrap())  # fmt: skip

        # one section in the page at a time: a bqplot figure drawn while hidden (a Tab's other
        # pages) has no size and draws negative rectangles, so the others leave the DOM
        self.sections = {"States": states_box, "Weekdays and months": calendar_box,
                         "Embedding sizes": sizes_box}  # fmt: skip
        self.view_pick = W.ToggleButtons(
            options=list(self.sections), style={"button_width": "170px"}
        )
        self.view_pick.add_class("lab8-entity-views")
        self.section = W.Box([states_box], layout=W.Layout(width="100%"))
        self.view_pick.observe(
            lambda c: setattr(self.section, "children", [self.sections[c["new"]]]), "value"
        )
        self.body.children = [self.panel, self.view_pick, self.section]
        self.layout.max_width = "1280px"
        self._show_keys()

    def _show_keys(self) -> None:
        """Points of the state views and the column choices for the current data."""
        pos = self.positions
        keys = [] if pos is None else list(pos.index)
        self.state_map.set_data(
            [] if pos is None else pos["x"], [] if pos is None else pos["y"], keys
        )
        self.state_emb.set_data(np.zeros(len(keys)), np.zeros(len(keys)), keys)
        self.column_pick.options = self.data.cat_names
        self._column_changed()

    # --- selection ---------------------------------------------------------------------------------
    @traitlets.validate("selected")
    def _valid(self, proposal) -> list:
        want = list(proposal["value"])
        keys = self.state_map.all_keys if hasattr(self, "state_map") else []
        bad = [k for k in want if k not in keys]
        if bad:
            self.error = f"unknown state(s) {bad}; choose from {keys}"
            raise KeyError(f"unknown state(s) {bad}; choose from {keys}")
        return [k for k in keys if k in want]

    @traitlets.observe("selected")
    def _on_selected(self, change) -> None:
        if self.state_map.selected != change["new"]:
            self.state_map.selected = change["new"]  # the link paints the embedding view
        self._draw_nearest()

    def _view_selected(self, change) -> None:
        if change["new"] != self.selected:
            self.selected = change["new"]

    def _draw_nearest(self) -> None:
        import pandas as pd

        rows = []
        with self._lock:
            for s in self.selected:
                for n, r in P.nearest(self.model, STATE, s, k=3).iterrows():
                    rows.append({"state": s, "nearest": n, "distance": r["distance"]})
        self.nearest_table.set_frame(pd.DataFrame(rows, columns=["state", "nearest", "distance"]))

    # --- drawing from the model's tensors ----------------------------------------------------------
    def refresh(self) -> None:
        """Redraw every view from ``lab.model`` (runs after each epoch while training)."""
        with self._lock:
            self._draw_states()
            self._draw_rings()
            self._draw_sizes()
            self._draw_lookup()
            if self.selected:
                self._draw_nearest()

    def _draw_states(self) -> None:
        if self.positions is None:
            self.map_html.value = _note(f"no {STATE!r} column with 3+ known states: no map")
            return
        proj = P.projection(self.model, STATE, self.positions).loc[self.state_emb.all_keys]
        self.state_emb.set_data(proj["x"], proj["y"])
        s = self._map_score()
        self.map_html.value = _note(
            f"Map score: Procrustes disparity {s['disparity']:.3f} (0 = the map exactly); "
            f"<b>better than {100 * s['better_than']:.0f}% of random state assignments</b> "
            f"(the same points, labels shuffled, {s['n_perm']} times).",
            raw=True,
        )

    def _draw_rings(self) -> None:
        for kind, (col, n, labels) in P.CALENDARS.items():
            view, line = self.rings[kind], self.ring_lines[kind]
            if col not in self.data.cat_names:
                self.ring_html[kind].value = _note(f"no {col!r} column")
                continue
            emb = P.embedding(self.model, col)
            xy = P.pca2(emb.to_numpy())
            order = np.argsort([int(c) for c in emb.index])
            keys = [labels[int(c) - 1] for c in emb.index]
            view.set_data(xy[:, 0], xy[:, 1], keys)
            ring = np.r_[order, order[:1]]
            with line.hold_sync():
                line.x, line.y = xy[ring, 0], xy[ring, 1]
            score = P.calendar_score(self.model, kind)
            self.ring_html[kind].value = _note(
                f"Joined {labels[0]}→{labels[-1]} in calendar order. Calendar score "
                f"<b>{score:.2f}</b> (share of calendar neighbours that are nearest neighbours; "
                f"random ≈ {2 / (n - 1):.2f}).",
                raw=True,
            )

    def _draw_sizes(self) -> None:
        from ..models.tabular.data import emb_sz_rule

        szs = get_emb_sz(self.data)
        n_cat = np.array([n for n, _ in szs], float)
        xs = np.unique(np.geomspace(2, max(n_cat.max(), 10) * 2, 60).round())
        self.sizes.set_data(n_cat, [w for _, w in szs], self.data.cat_names)
        with self.rule_line.hold_sync():
            self.rule_line.x, self.rule_line.y = xs, [emb_sz_rule(int(x)) for x in xs]

    def _column_changed(self) -> None:
        col = self.column_pick.value
        opts = [str(c) for c in self.data.classes[col][1:]]
        self.category_pick.options = opts
        self.category_pick.value = opts[0] if opts else None

    def _draw_lookup(self) -> None:
        col, shown = self.column_pick.value, self.category_pick.value
        if shown is None:
            return
        cat = next(c for c in self.data.classes[col][1:] if str(c) == shown)
        r = P.one_hot_lookup(self.model, col, cat)
        diff = float(np.abs(r["product"] - r["lookup"]).max())
        hot = int(np.argmax(r["one_hot"]))
        self.lookup_html.value = (
            f"<div class='lab8-note'>one-hot of <b>{html.escape(shown)}</b> (1 at index {hot} of "
            f"{len(r['one_hot'])}) × weight matrix {len(r['one_hot'])}×{len(r['lookup'])}:</div>"
            f"<code>{_vec(r['product'])}</code><div class='lab8-note'>embedding lookup:</div>"
            f"<code>{_vec(r['lookup'])}</code><div class='lab8-note'><b>equal: "
            f"{diff == 0.0}</b> (max |difference| {diff:.1g})</div>"
        )

    # --- reading the model (Python API) -----------------------------------------------------------
    @api_call
    def embedding(self, name: str = STATE):
        """The learned vectors of column ``name`` (one row per category)."""
        with self._lock:
            return P.embedding(self.model, name)

    @api_call
    def map_score(self, n_perm: int = 2000) -> dict:
        """Procrustes disparity of projected states vs the map, and the share of random
        assignments it beats (``better_than``)."""
        return self._map_score(n_perm)

    def _map_score(self, n_perm: int = 2000) -> dict:
        if self.positions is None:
            raise ValueError(f"this data has no {STATE!r} column to compare with the map")
        with self._lock:
            out = P.map_score(self.model, self.positions, name=STATE, n_perm=n_perm, seed=0)
        return {**out, "n_perm": int(n_perm)}

    @api_call
    def calendar_score(self, kind: str = "weekday") -> float:
        """How well the weekday or month embedding keeps calendar neighbours nearest."""
        with self._lock:
            return P.calendar_score(self.model, kind)

    # --- training ----------------------------------------------------------------------------------
    @api_call
    def fit(self, epochs=5, lr=1e-2, wd=0.2, bs=512, *, seed=None, fresh=True, wait=True):
        """Train the tabular model with ``fit_one_cycle``; blocks (the page streams) unless
        ``wait=False``. Returns the run's per-epoch history. A diverging run raises ValueError
        (the weights of its last good epoch stay)."""
        s = TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs)
        return self._start(lambda task: self._run(task, s, seed, fresh, "lab8widgets"), wait)

    @api_call
    def compare_fastai(self, epochs=5, lr=1e-2, wd=0.2, bs=512, *, seed=None, wait=True):
        """fastai's ``tabular_learner`` on the same split and sizes, in the same runs table
        (its learner: ``lab.fastai_learner``; ``lab.model`` stays ours)."""
        s = TabularFit(epochs=epochs, lr=lr, wd=wd, bs=bs)
        return self._start(lambda task: self._run(task, s, seed, True, "fastai"), wait)

    def _start(self, fn, wait: bool):
        self.run_and_wait(fn, wait)
        if not wait:
            return []
        rec = self.runs[-1]
        if rec["status"] == "diverged":
            raise ValueError(rec["message"])
        return rec["history"]

    def _run(self, task, s: TabularFit, seed, fresh: bool, engine: str) -> list[dict]:
        seed = self.seed if seed is None else int(seed)
        n = (self.runs[-1]["run"] + 1) if self.runs else 1
        rec = dict(run=n, engine=engine, lr=s.lr, wd=s.wd, bs=s.bs, epochs=s.epochs,
                   epochs_done=0, valid_mse=math.nan, exp_rmspe=math.nan, seconds=0.0,
                   status="running", message="", history=[],
                   color=COLORS[(n - 1) % len(COLORS)])  # fmt: skip
        self.panel.add_run(n, f"#{n} {engine}", rec["color"], epochs=s.epochs)
        task.report(0.0, f"run #{n}: {engine} training…")

        def on_event(ev) -> None:
            self.panel.on_event(n, ev)
            if ev.kind in ("step", "epoch"):
                task.report(ev.fraction, f"run #{n} · epoch {ev.epoch:.2f} · {ev.train_loss:.4f}")
            if ev.kind == "epoch" and engine != "fastai":
                with self.guard(clear=False):
                    self.refresh()  # the views follow the model while it trains

        common = dict(seed=seed, callback=on_event, should_stop=lambda: task.stopped)
        if engine == "fastai":
            res = compare_fastai(self.data, s.epochs, s.lr, s.wd, s.bs, **common)
            self.fastai_learner = res.learner
        else:
            before = self.model
            model = make_model(self.data, seed=seed) if fresh else before
            with self._lock:
                self._model = model
            res = fit_tabular(model, self.data, s.epochs, s.lr, s.wd, s.bs, lock=self._lock,
                              **common)  # fmt: skip
            if res.status == "diverged" and fresh:
                with self._lock:
                    self._model = before  # a fresh model that diverged: keep the last good one
        hist = [dict(h) for h in res.history]
        last = hist[-1] if hist else {}
        rec.update(history=hist, epochs_done=last.get("epoch", 0), status=res.status,
                   valid_mse=last.get("valid_mse", math.nan), seconds=res.seconds,
                   exp_rmspe=last.get("exp_rmspe", math.nan), message=res.message)  # fmt: skip
        self.runs.append(rec)
        self.panel.end_run(n, res.history)
        self.panel.show_runs(self.runs, _best(self.runs))
        self.panel.say(f"Run #{n} ({engine}): {res.message}")
        if engine != "fastai":
            self.refresh()
        if res.status == "diverged":
            self.error = res.message
            warnings.warn(res.message, RuntimeWarning, stacklevel=2)
        return hist

    def _form_run(self, compare: bool = False) -> None:
        s = self.panel.settings()
        kw = dict(epochs=s.epochs, lr=s.lr, wd=s.wd, bs=s.bs, wait=False)
        (self.compare_fastai if compare else self.fit)(**kw)

    def _click(self, fn, *args, **kwargs) -> None:
        with self.guard():
            fn(*args, **kwargs)

    def clear_runs(self) -> None:
        """Empty the runs table and the chart (the model stays)."""
        self.runs = []
        self.panel.clear()


def _best(runs: list[dict]) -> int:
    ok = [(r["valid_mse"], i) for i, r in enumerate(runs) if math.isfinite(r["valid_mse"])]
    return min(ok)[1] if ok else -1


def _wrap() -> W.Layout:
    return W.Layout(flex_flow="row wrap", gap="12px", align_items="flex-start", width="100%")


def _note(text: str, raw: bool = False) -> str:
    return f'<div class="lab8-note">{text if raw else html.escape(text)}</div>'


def _vec(v: np.ndarray, n: int = 6) -> str:
    shown = ", ".join(f"{x:+.4f}" for x in v[:n])
    return f"[{shown}{', …' if len(v) > n else ''}]"
