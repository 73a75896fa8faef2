"""EmbeddingExplorer: what a recommender learned, in linked views, and the bootstrapping problem.

A thin lab over ``lab8widgets.models.explore``: a PCA map of the item (or user) factors, biases
against rating counts, a table of the selection, cosine neighbours and a new user's recommendations,
all read from the live model. The views are ``LinkedScatter``/``TableView`` joined by
``link_selection``, so brushing, lassoing or clicking anywhere selects the same titles everywhere,
and ``explorer.selected`` is that selection in Python (settable too).
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

from ...models import explore as X
from ...models.explore import ExploreSettings
from ...views import LinkedScatter, TableView, link_selection
from ...views.controls import NumberField
from ...views.download import DownloadPanel
from ...views.layout import panel, row, section
from .._base import LabBase, LabInputError
from .sources import source_reader

__all__ = ["EmbeddingExplorer"]

QUESTIONNAIRE = 8  # popular titles offered for rating, the lesson's "questionnaire" answer
SELECTION_ROWS = 60  # drawn rows of the selection table; sort by a column to see others first
STARS = ("–", "1", "2", "3", "4", "5")
BOOTSTRAP_TEXT = (
    "<b>The bootstrapping problem.</b> A new user has no ratings, so the model has no vector for "
    "them. The lesson lists the choices: give them the <i>average user</i> (the mean of all user "
    "vectors, right table), or ask a short <i>questionnaire</i> of popular titles and fit a vector "
    "to the answers. Rate a few titles: a user vector and bias are fitted with every item factor "
    "frozen, and the recommendations follow at once."
)
REGULARISATION_TEXT = (
    "<b>Pulled toward the average user.</b> A few ratings cannot place a user far: the fit adds a "
    "penalty on the distance from the average user, and doubles it until the vector is no "
    "farther from the average user than {within:.0%} of real users are (here {radius:.2f}). "
    "{metadata}Predictions are clipped to {lo:g}–{hi:g} stars on display: the model's "
    "<code>y_range</code> reaches {top:g} so that {hi:g} stars can be predicted at all."
)


def _row(*children: W.Widget, **layout: Any) -> W.HBox:
    return row(*children, **{"gap": "8px", "align_items": "center", **layout})


class EmbeddingExplorer(LabBase):
    """Explore a trained collaborative-filtering model.

    ``source``: a ``CollabLab`` or anything else that satisfies ``models.explore.CollabSource``
    (followed as its runs finish), a fastai collab ``Learner``, a ``DotProductBias``/``CollabNN``
    with ``data=`` its ``CollabData``, or ``None`` with ``names=`` and ``factors=`` (plus
    ``bias=``, ``counts=``). ``genres=`` maps titles to "A|B" genre strings.

    Public state: ``explorer.model``, ``explorer.factors``, ``explorer.selected``,
    ``explorer.recommendations``, ``explorer.user_vector`` (the new user's fitted vector and bias),
    ``explorer.questionnaire`` (the titles offered for rating), ``explorer.lab`` (the followed lab).
    """

    selected = traitlets.List()

    def __init__(
        self,
        source: Any = None,
        data: Any = None,
        *,
        names: Any = None,
        factors: Any = None,
        bias: Any = None,
        counts: Any = None,
        genres: Any = None,
        n_top: int = 1000,
        bias_min_ratings: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            title="EmbeddingExplorer · what a recommender learned (Lesson 8)", **kwargs
        )
        self.add_class("lab8-explorer")
        self._keys: list = []  # all_keys; with each key's row of the table's frame (_render)
        self._row: dict = {}
        self._source = source_reader(source, data, names, factors, bias, counts, genres)
        self.lab = self._source.lab
        self.factors: X.Factors = self._source.read()
        self.user_vector: tuple | None = None  # the new user's (vector, bias)
        self.questionnaire: list[str] = []
        self.space = "items"
        self.n_top = X.check_whole("n_top", n_top, 3, 1 << 30)
        # the bias view's floor (None: 5 ratings, lowered until 500 titles pass)
        self.bias_min_ratings = (
            None
            if bias_min_ratings is None
            else X.check_whole("bias_min_ratings", bias_min_ratings, 1, 1 << 30)
        )
        self.user_ratings: dict = {}
        self.recommendations = None  # DataFrame: the new user's top titles
        self.average_recommendations = None  # DataFrame: the average user's (no ratings)
        self._last_neighbours: tuple | None = None
        self._build()
        self._render()
        if self.lab is not None:  # CollabSource's hook: a run finished, or lab.model changed
            self.lab.on_change(self._on_lab_changed)

    @property
    def model(self):
        """The live torch module shown (None for a plain factor matrix)."""
        return self._source.model()

    @classmethod
    def default(cls, epochs: int = 15, **kwargs: Any) -> EmbeddingExplorer:
        """The served lab: MovieLens 100k (fastai cache or download) else labelled synthetic ratings,
        and a DotProductBias trained on start in the background, with progress."""
        from .sources import served_default

        return served_default(cls, epochs, **kwargs)

    # --- the views -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.space_toggle = W.ToggleButtons(
            options=[("Movies", "items"), ("Users", "users")], style={"button_width": "70px"}
        )
        self.space_toggle.add_class("lab8-space")
        self.n_top_field = self._field("n_top", self.n_top, "240px")
        self.n_top_field.add_class("lab8-ntop")
        self.pc_x = W.Dropdown(description="x", layout=W.Layout(width="120px"))
        self.pc_y = W.Dropdown(description="y", layout=W.Layout(width="120px"))
        for w in (self.pc_x, self.pc_y):
            w.style.description_width = "14px"
        self.color_menu = W.Dropdown(
            description="colour",
            layout=W.Layout(width="230px"),
            style={"description_width": "44px"},
        )
        self.color_menu.add_class("lab8-colour")
        self.pca = LinkedScatter([], [], [], title="PCA of the factors", height="380px")
        self.pca.add_class("lab8-pca")
        self.bias_view = LinkedScatter(
            [1.0],
            [0.0],
            ["_"],
            title="Bias vs number of ratings",
            x_log=True,
            x_label="ratings in the training set (log)",
            y_label="learned bias",
            height="380px",
        )
        self.bias_view.add_class("lab8-biasview")
        # in a column a flex basis is a height: the view's own (toolbar + figure), or its x axis
        # and label are cut off under the min-ratings field (issue 24 item 3)
        self.bias_view.layout.flex = "0 0 auto"
        self.no_bias_html = W.HTML(layout=W.Layout(display="none"))
        self.no_bias_html.add_class("lab8-nobias")
        self.bias_min_field = self._field("bias_min_ratings", 1, "150px")
        self.bias_min_field.add_class("lab8-bias-min")
        self.bias_note_html = W.HTML()
        self.bias_note_html.add_class("lab8-bias-note")
        self._scree_scale = bq.OrdinalScale()
        ys = bq.LinearScale(min=0.0)
        self.scree_bars = bq.Bars(
            x=[], y=[], scales={"x": self._scree_scale, "y": ys}, colors=["#7f7f7f"]
        )
        self.scree = bq.Figure(
            marks=[self.scree_bars],
            axes=[
                bq.Axis(scale=self._scree_scale, label="component"),
                bq.Axis(scale=ys, orientation="vertical", tick_format=".0%", num_ticks=4),
            ],
            title="Explained variance",
            fig_margin={"top": 36, "bottom": 40, "left": 46, "right": 8},
            layout=W.Layout(width="calc(100% - 4px)", height="220px", max_width="460px"),
        )
        self.extremes_html = W.HTML()
        self.extremes_html.add_class("lab8-extremes")
        # the selection's first 60 rows in the chosen order (the caption counts the rest): every
        # gesture rewrites the drawn rows, and 200 of them cost ~10 ms of layout per brush
        self.table = TableView(
            key="title", caption="Selection", height="260px", max_rows=SELECTION_ROWS
        )
        self.table.add_class("lab8-selection")
        self.table.on_row_click(lambda key: self._click(lambda: self._show_neighbours(key)))
        self._link = link_selection(self.pca, self.bias_view, self)

        self.nb_title = W.Combobox(
            placeholder="a title", ensure_option=False, layout=W.Layout(width="260px")
        )
        self.nb_title.add_class("lab8-nb-title")
        self.nb_k = self._field("k", 10, "100px")
        self.nb_k.add_class("lab8-nb-k")
        self.nb_min = self._field(
            "min_ratings", X.default_min_ratings(self.factors.item_counts), "150px"
        )
        self.nb_min.add_class("lab8-nb-min")
        self.nb_button = W.Button(
            description="Neighbours", button_style="info", layout=W.Layout(width="110px")
        )
        self.nb_button.add_class("lab8-nb-button")
        self.nb_button.on_click(
            lambda _b: self._click(lambda: self._show_neighbours(self.nb_title.value))
        )
        self.nb_title.on_submit(
            lambda _w: self._click(lambda: self._show_neighbours(self.nb_title.value))
        )
        self.nb_table = TableView(
            key="title", caption="Nearest by cosine similarity", height="260px"
        )
        self.nb_table.add_class("lab8-neighbours")

        self.rate_rows = W.VBox()
        self.rate_rows.add_class("lab8-rate")
        self.rate_title = W.Combobox(
            placeholder="another title", ensure_option=False, layout=W.Layout(width="230px")
        )
        self.rate_title.add_class("lab8-rate-add")
        self.rate_stars = W.FloatText(
            value=4.0,
            description="stars",
            layout=W.Layout(width="130px"),
            style={"description_width": "36px"},
        )
        self.rate_stars.add_class("lab8-rate-stars")
        self.rate_button = W.Button(description="Rate", layout=W.Layout(width="60px"))
        self.rate_button.add_class("lab8-rate-button")
        self.rate_button.on_click(lambda _b: self._click(self._rate_typed))
        self.reset_button = W.Button(
            description="Forget my ratings", layout=W.Layout(width="140px")
        )
        self.reset_button.on_click(lambda _b: self._click(self.reset_user))
        self.rec_table = TableView(key="title", caption="Recommended for you", height="300px")
        self.rec_table.add_class("lab8-recs")
        self.avg_table = TableView(key="title", caption="Average user (no ratings)", height="300px")
        self.avg_table.add_class("lab8-avg")
        self.regularisation_html = W.HTML()
        self.regularisation_html.add_class("lab8-regularisation")
        self.projector = DownloadPanel(
            "Embedding Projector files",
            lambda: X.projector_texts(self.factors, "explorer"),
            self._click,
            tooltip="movie and user factors as TSV files for projector.tensorflow.org",
            css="lab8-projector",
        )

        for w, fn in (
            (self.space_toggle, self._on_space),
            (self.pc_x, self._on_axes),
            (self.pc_y, self._on_axes),
            (self.color_menu, self._on_color),
        ):
            w.observe(lambda _c, fn=fn: self._click(fn), "value")
        for w, fn in (
            (self.n_top_field, self._on_n_top),
            (self.bias_min_field, self._on_bias_min),
            (self.nb_min, lambda: self._check_floor(self.nb_min.number, self.factors.item_counts)),
        ):
            w.observe(lambda c, w=w, fn=fn: self._typed(w, c, fn), "number")

        self.body.children = [
            W.HTML(
                '<div class="lab8-note">Brush (drag a box), lasso or click points in either chart: '
                "the selection is the same in every view and in <code>explorer.selected</code>. "
                "Click a table row for its neighbours.</div>"
            ),
            _row(self.space_toggle, self.n_top_field, self.pc_x, self.pc_y, self.color_menu),
            _row(
                self.pca,
                panel(
                    self.bias_view,
                    self.bias_min_field,
                    self.bias_note_html,
                    self.no_bias_html,
                    basis="340px",
                ),
                panel(self.scree, basis="200px", min_width="200px"),
                align_items="flex-start",
            ),
            self.extremes_html,
            _row(
                panel(section("Selection"), self.table, basis="420px"),
                panel(
                    neighbours := section("Neighbours"),
                    _row(self.nb_title, self.nb_k, self.nb_min, self.nb_button),
                    self.nb_table,
                    basis="380px",
                ),
                align_items="flex-start",
            ),
            new_user := section("A new user"),
            W.HTML(f'<div class="lab8-note">{BOOTSTRAP_TEXT}</div>'),
            self.regularisation_html,
            _row(
                panel(
                    self.rate_rows,
                    _row(self.rate_title, self.rate_stars, self.rate_button, self.reset_button),
                    basis="420px",
                ),
                panel(self.rec_table, basis="260px", min_width="240px"),
                panel(self.avg_table, basis="260px", min_width="240px"),
                align_items="flex-start",
            ),
            self.projector,
        ]
        self.add_section("pca", self.pca)
        self.add_section("neighbours", neighbours)
        self.add_section("new-user", new_user)

    def _click(self, fn) -> None:
        if getattr(self, "_rendering", False):
            return
        with self.guard():
            fn()

    def _field(self, name: str, value: int, width: str) -> NumberField:
        """A typed field checked by ``ExploreSettings``: bad text is refused with field, value
        and range in the banner, and the field shows its last good value again."""
        w = NumberField(name, ExploreSettings.spec(name), value, self.fail)
        w.layout.width = width
        w.add_class(f"lab8-setting-{name}")
        return w

    def _typed(self, field: NumberField, change: dict, fn) -> None:
        """An accepted number that the view still cannot use (more ratings than any title has)
        is refused too, and the field goes back to the value in use."""
        if getattr(self, "_rendering", False):
            return
        with self.guard():
            try:
                fn()
            except (LabInputError, ValueError, KeyError, TypeError):
                self._rendering = True
                try:
                    field.number = change["old"]
                finally:
                    self._rendering = False
                raise

    # --- drawing -----------------------------------------------------------------------------------
    def _space_arrays(self):
        """(names, factors, counts, bias) of the items or the users."""
        f = self.factors
        if self.space == "users":
            if f.user_factors is None:
                raise LabInputError("this source has no user factors: only movies can be shown")
            return f.users, f.user_factors, f.user_counts, f.user_bias
        return f.items, f.item_factors, f.item_counts, f.item_bias

    def _render(self) -> None:
        """Everything from ``self.factors``: map, biases, scree, options, tables."""
        f = self.factors
        names, fac, counts, bias = self._space_arrays()
        self._map = X.pca_map(fac, names, counts, self.n_top)
        self._frame = self._make_frame(names, counts, bias)
        # the keys, once (link_selection keeps its set of a view's keys while the list is the same)
        # and each key's row in the frame, so a selection's rows are found without a scan
        self._keys = list(names)
        self._row = {k: i for i, k in enumerate(self._keys)}
        nc = self._map.coords.shape[1]
        opts = [(f"PC{i + 1}", i) for i in range(nc)]
        color_opts = [("none", "none")]
        if self.space == "items":
            color_opts.append(("decade", "decade"))
            if f.genres is not None:
                gs = sorted({g for s in f.genres for g in s.split("|") if g})
                color_opts[1:1] = [("main genre", "main")] + [(f"genre: {g}", f"g:{g}") for g in gs]
        self._rendering = True  # the controls' observers wait: one draw below
        try:
            for w, v in ((self.pc_x, 0), (self.pc_y, 1)):
                if [o[1] for o in w.options] != [o[1] for o in opts]:
                    w.options = opts
                if w.value is None or w.value >= nc:
                    w.value = v
            if [o[1] for o in self.color_menu.options] != [o[1] for o in color_opts]:
                self.color_menu.options = color_opts
                self.color_menu.value = (
                    "main" if any(o[1] == "main" for o in color_opts) else "none"
                )
        finally:
            self._rendering = False
        self._draw_map()
        self._draw_bias(names, counts, bias)
        self._scree_scale.domain = [f"PC{i + 1}" for i in range(nc)]
        with self.scree_bars.hold_sync():
            self.scree_bars.x = [f"PC{i + 1}" for i in range(nc)]
            self.scree_bars.y = self._map.explained
        self.nb_title.options = self._popular(600) if self.space == "items" else []
        self.rate_title.options = self.nb_title.options
        if self.space == "items":
            self._build_questionnaire()
        self._update_table()
        self._redo_user()
        if self._last_neighbours is not None:
            try:
                self.neighbours(*self._last_neighbours)
            except (KeyError, ValueError):
                self._last_neighbours = None
        self.source = (f.source + " · " if f.source else "") + f"{f.kind}, {f.n_items:,} titles"

    def _make_frame(self, names, counts, bias):
        import pandas as pd

        label = "title" if self.space == "items" else "user"
        cols = {label: list(names)}
        cols["bias"] = bias.numpy().astype(float) if bias is not None else np.nan
        cols["n_ratings"] = counts if counts is not None else -1
        if self.space == "items" and self.factors.item_mean is not None:
            cols["mean_rating"] = self.factors.item_mean
        frame = pd.DataFrame(cols)
        frame["x"] = np.nan
        frame["y"] = np.nan
        return frame

    def _draw_map(self) -> None:
        m, names = self._map, self._space_arrays()[0]
        i, j = self.pc_x.value or 0, self.pc_y.value if self.pc_y.value is not None else 1
        keys = [names[r] for r in m.rows]
        self._frame["x"] = np.nan
        self._frame["y"] = np.nan
        self._frame.loc[m.rows, "x"] = m.coords[:, i]
        self._frame.loc[m.rows, "y"] = m.coords[:, j]
        self.pca.set_data(m.coords[:, i], m.coords[:, j], keys, color=self._colors(m.rows))
        ratio = m.explained
        what = "movie" if self.space == "items" else "user"
        self.pca.x_axis.label = f"PC{i + 1} ({ratio[i]:.0%})"
        self.pca.y_axis.label = f"PC{j + 1} ({ratio[j]:.0%})"
        self.pca.figure.title = f"PCA of the {len(m.rows):,} most-rated {what}s' factors"

        def ends(c):
            low, high = m.extremes[c]
            return (
                f"<b>PC{c + 1}</b> ← {html.escape('; '.join(map(str, low[:3])))} "
                f"<span style='color:#999'>…</span> {html.escape('; '.join(map(str, high[:3])))} →"
            )

        self.extremes_html.value = f'<div class="lab8-note">{ends(i)}<br>{ends(j)}</div>'

    def _colors(self, rows) -> list | None:
        c = self.color_menu.value or "none"
        if c == "none":
            self.pca.legend.value = ""
            return None
        if c == "decade":
            y = self.factors.years[rows]
            return ["unknown" if np.isnan(v) else f"{int(v) // 10 * 10}s" for v in y]
        gen = [self.factors.genres[r] for r in rows]
        if c == "main":
            return [g.split("|")[0] or "(none)" for g in gen]
        g = c[2:]
        return [g if g in s.split("|") else "other" for s in gen]

    def _draw_bias(self, names, counts, bias) -> None:
        if bias is None or counts is None:
            self.no_bias_html.value = (
                '<div class="lab8-note" style="padding:8px;border:1px dashed #ccc">This model has no '
                "biases (a neural net, or DotProductBias with bias=False), so there is no bias view. "
                "Every other view works.</div>"
            )
            self.no_bias_html.layout.display = ""
            for w in (self.bias_view, self.bias_min_field, self.bias_note_html):
                w.layout.display = "none"
            self.bias_view.set_data([], [], [])
            return
        self.no_bias_html.layout.display = "none"
        for w in (self.bias_view, self.bias_min_field, self.bias_note_html):
            w.layout.display = ""
        counts = np.asarray(counts)
        low = self.bias_min_ratings or X.default_min_ratings(counts, cap=5, keep=500)
        keep = np.flatnonzero(counts >= max(1, low))
        b = bias.numpy()
        self.bias_view.set_data(counts[keep].astype(float), b[keep], [names[r] for r in keep])
        what = "movie" if self.space == "items" else "user"
        self.bias_view.y_axis.label = f"learned {what} bias"
        self._rendering = True  # the control shows the floor in use; its observer waits
        self.bias_min_field.number = low
        self._rendering = False
        self.bias_note_html.value = (
            f'<div class="lab8-note">{len(keep):,} of {int((counts > 0).sum()):,} {what}s, those '
            f"with at least {low} training ratings: a bias learned from one or two ratings says "
            "little, and every point drawn makes each brush slower.</div>"
        )

    def _popular(self, n: int) -> list[str]:
        c = self.factors.item_counts
        order = np.argsort(-c, kind="stable") if c is not None else np.arange(self.factors.n_items)
        return [str(self.factors.items[i]) for i in order[:n]]

    def _build_questionnaire(self) -> None:
        titles = self._popular(QUESTIONNAIRE)
        titles += [t for t in self.user_ratings if t not in titles]
        if self.questionnaire == titles and self.rate_rows.children:
            return
        rows = []
        for n, t in enumerate(titles):
            stars = W.ToggleButtons(
                options=list(STARS), value=self._star_text(t), style={"button_width": "28px"}
            )
            stars.add_class(f"lab8-stars-{n}")
            stars.observe(lambda c, t=t: self._click(lambda: self._on_star(t, c["new"])), "value")
            label = W.HTML(
                f'<span class="lab8-note" title="{html.escape(t)}">{html.escape(t)}</span>'
            )
            label.add_class("lab8-rate-title")
            rows.append(_row(label, stars))
        self.questionnaire = titles
        self.rate_rows.children = rows

    def _star_text(self, title: str) -> str:
        v = self.user_ratings.get(title)
        return "–" if v is None else (str(int(v)) if float(v).is_integer() and 1 <= v <= 5 else "–")

    # --- events ------------------------------------------------------------------------------------
    def _on_space(self) -> None:
        self.space = self.space_toggle.value
        self.selected = []
        self.table.key = "title" if self.space == "items" else "user"
        self._render()

    def _on_n_top(self) -> None:
        self.n_top = X.check_whole("n_top", self.n_top_field.number, 3, 1 << 30)
        self._render()

    def _on_axes(self) -> None:
        if self.pc_x.value is not None and self.pc_y.value is not None:
            self._draw_map()
            self._update_table()

    def _on_bias_min(self) -> None:
        low = X.check_whole("min ratings", self.bias_min_field.number, 1, 1 << 30)
        names, _, counts, bias = self._space_arrays()
        self._check_floor(low, counts)
        self.bias_min_ratings = low
        self._draw_bias(names, counts, bias)

    def _check_floor(self, low: int, counts) -> None:
        """A floor above every count would leave a view empty: say so instead."""
        most = int(np.max(counts)) if counts is not None and len(counts) else 0
        if counts is not None and low > most:
            what = "movie" if self.space == "items" else "user"
            raise LabInputError(
                f"min ratings must be an integer from 1 to {most:,} (the most-rated {what} has "
                f"{most:,} training ratings), got {low}"
            )

    def _on_color(self) -> None:
        m = self._map
        self.pca.set_color(self._colors(m.rows))

    def _on_lab_changed(self, _change=None) -> None:
        with self.guard(clear=False):
            self.refresh()

    def _on_star(self, title: str, value: str) -> None:
        ratings = dict(self.user_ratings)
        if value == "–":
            ratings.pop(title, None)
        else:
            ratings[title] = float(value)
        self.new_user(ratings)

    def _rate_typed(self) -> None:
        title = self.factors.items[X.find_name(self.factors, self.rate_title.value)]
        self.new_user({**self.user_ratings, title: self.rate_stars.value})
        self._build_questionnaire()

    # --- selection -----------------------------------------------------------------------------------
    @property
    def all_keys(self) -> list:
        """Every key that can be selected: the titles (or user ids when users are shown)."""
        return self._keys

    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list:
        want = list(proposal["value"])
        if self.space == "items" and want:
            bad = [t for t in want if self.factors.row_of(t) is None]
            for t in bad:
                try:
                    want[want.index(t)] = self.factors.items[X.find_name(self.factors, t)]
                except KeyError as e:
                    self.fail(e.args[0])
                    raise
            return list(dict.fromkeys(want))
        return list(dict.fromkeys(want))

    @traitlets.observe("selected")
    def _on_selected(self, _change=None) -> None:
        if hasattr(self, "table"):
            self._update_table()

    def _update_table(self) -> None:
        sel = self.selected
        at = np.sort(np.fromiter((self._row[k] for k in sel if k in self._row), dtype=np.int64))
        rows = self._frame.take(at)  # in the frame's order, as a scan would give
        with self.table.hold_sync():  # rows and caption in one message
            self.table.set_frame(rows)
            self.table.caption = (
                f"{len(rows):,} selected"
                if sel
                else "Nothing selected: brush, lasso or click points"
            )

    @contextmanager
    def hold_sync(self) -> Iterator[None]:
        """Hold the selection table's messages too: a linked gesture sends every view at once."""
        with super().hold_sync(), self.table.hold_sync():
            yield

    # --- public API ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the model (after a run, or after changing it in a notebook cell)."""
        self.factors = self._source.read()
        self._render()

    def neighbours(self, title: str, k: int = 10, min_ratings: int | None = None):
        """The k nearest titles to ``title`` by cosine similarity of the item factors, among titles
        with at least ``min_ratings`` training ratings (None: CollabLab.similar's same default,
        ``models.collab.default_min_ratings``); they are selected in every view. Each row
        carries its ``n_ratings``."""
        try:
            nb = X.neighbours(self.factors, title, k, min_ratings)
        except (KeyError, ValueError) as e:
            self.fail(e.args[0] if isinstance(e, KeyError) else str(e))
            raise
        found = self.factors.items[X.find_name(self.factors, title)]
        self._last_neighbours = (found, k, min_ratings)
        floor = (
            X.default_min_ratings(self.factors.item_counts) if min_ratings is None else min_ratings
        )
        self.nb_table.set_frame(nb)
        self.nb_table.caption = (
            f"Nearest to {found} by cosine similarity (films with ≥ {floor} training ratings)"
        )
        if self.space == "items":
            self.selected = [found, *nb["title"]]
        return nb

    def _show_neighbours(self, title: str) -> None:
        self.nb_title.value = str(title)
        floor = int(self.nb_min.number)
        self._check_floor(floor, self.factors.item_counts)
        self.neighbours(title, self.nb_k.number, floor)

    def new_user(
        self,
        ratings: Mapping,
        k: int = 10,
        min_ratings: int | None = None,
        use_metadata: bool | None = None,
    ):
        """Recommendations for a new user who gave ``ratings`` (title -> stars): a user vector and bias
        fitted with the item factors frozen, pulled toward the average user and kept within the
        distance of 95% of real users from it. Never includes a rated title.

        ``use_metadata``: fit and score with the items' genre embeddings (a model trained with
        ``CollabLab(metadata="genres")``), so rating three horror films speaks for every horror
        film; False reads the same model with them switched off; None uses them when present.
        ``predicted`` is clipped to the rating scale; ``model_output`` is the model's number."""
        try:
            f = self._user_factors(use_metadata)
            user = X.fit_new_user(f, ratings)
            recs = X.recommend(f, ratings, k, min_ratings, user=user)
            avg = X.recommend(f, {}, k, min_ratings)
        except (KeyError, ValueError, TypeError) as e:
            self.fail(e.args[0] if isinstance(e, KeyError) else str(e))
            raise
        self.user_ratings = {f.items[X.find_name(f, t)]: float(s) for t, s in ratings.items()}
        self._new_user_args = (k, min_ratings, use_metadata)
        self.user_vector = user
        self.recommendations, self.average_recommendations = recs, avg
        self._render_regularisation(f)
        self.rec_table.set_frame(recs.drop(columns="model_output"))
        self.rec_table.caption = (
            f"Recommended for you ({len(self.user_ratings)} rated)"
            if self.user_ratings
            else "Recommended for you (rate something)"
        )
        self.avg_table.set_frame(avg.drop(columns="model_output"))
        self.clear_error()
        return recs

    def _user_factors(self, use_metadata: bool | None) -> X.Factors:
        f = self.factors
        if use_metadata and not f.has_metadata:
            raise ValueError(
                "use_metadata=True needs a model trained with genres: "
                'CollabLab(..., metadata="genres"), then lab.fit() or explorer.lab.fit()'
            )
        return f if use_metadata or use_metadata is None else f.without_metadata()

    def _render_regularisation(self, f: X.Factors) -> None:
        lo, hi = f.rating_range
        top = f.y_range[1] if f.y_range is not None else hi
        meta = (
            "Each film's vector includes its genres' learned embeddings, so your ratings of a few "
            "films speak for the others of their genres. "
            if f.has_metadata
            else ""
        )
        self.regularisation_html.value = (
            '<div class="lab8-note">'
            + REGULARISATION_TEXT.format(
                within=X.NEW_USER_WITHIN,
                radius=X.user_spread(f),
                metadata=meta,
                lo=lo,
                hi=hi,
                top=top,
            )
            + "</div>"
        )

    @property
    def user_distance(self) -> float:
        """How far the new user's fitted vector lies from the average user's."""
        u0, _ = X.average_user(self.factors)
        return 0.0 if self.user_vector is None else float((self.user_vector[0] - u0).norm())

    def export_projector(self, folder, name: str = "explorer") -> list:
        """Write the shown model's movie (and user) factors for the Embedding Projector
        (projector.tensorflow.org → Load): ``<name>_movies_vectors.tsv`` with
        ``<name>_movies_metadata.tsv`` (title, n_ratings, genres), and the same for users;
        returns the paths."""
        return X.write_projector_sets(folder, self.factors, name)

    def reset_user(self) -> None:
        """Forget the new user's ratings (back to the average user)."""
        self.new_user({})
        self.rate_rows.children = []
        self._build_questionnaire()

    def _redo_user(self) -> None:
        k, mr, meta = getattr(self, "_new_user_args", (10, None, None))
        if meta and not self.factors.has_metadata:
            meta = None
        keep = {t: s for t, s in self.user_ratings.items() if self.factors.row_of(t) is not None}
        self.new_user(keep, k, mr, meta)
