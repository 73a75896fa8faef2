"""LinkedScatter: a bqplot scatter whose selection is a list of keys.

Why it is built this way (profiled in Chromium on the EmbeddingExplorer, 9,391 points; see
``benchmarks/explorer_latency.py`` and docs/performance.md for the numbers):

- bqplot's SVG ``Scatter`` restyles *every* point of a mark whenever its ``selected`` or
  ``hovered_point`` changes (``apply_styles``: fill, stroke, opacity and width rewritten per point,
  the points found with ``indices.indexOf(i)``, so the script grows with the square of the count).
  With selected/unselected styles on one mark of 8,400 points, a brush cost ~100 ms of that
  script and ~110 ms of style recalc, layerize and paint in the *linked* bias view before the
  table could draw; a hover cost 60-250 ms per enter and leave (machine loaded).
- Every frame that repaints anything *anywhere on the page* (a table row) re-layerizes every
  point (each ``g.object_grp`` has its own transform, so each point is a paint chunk): ~15 ms per
  frame with 4,000 points on a quiet machine, ~40 ms with 9,400 under load. So a large view draws
  its points as ``paint``, one path per colour (zero-length segments that lab8.css rounds into
  dots), and its Scatter marks' dots are hidden (``visibility:hidden``) but keep
  ``pointer-events:all``: the pointer still finds each point, for its tooltip and click.

So a large view (more than ``restyle_max`` points, 500 by default) never gives a mark a
selection: its points sit in base marks of at most ``CHUNK`` points whose style never changes
with the selection (a hover restyles one chunk), and the selected points are drawn as dots on a
canvas stacked on the figure (``overlay``, a ``SelectionLayer``: views/selection_layer.py). A
selection change is one message of int32 indices and one canvas pass; the figure's SVG does not
change at all (as bqplot paths, a d3 transition rebuilt the path string and Chromium re-laid out and
hit-tested the SVG: 25-30 ms a brush with thousands selected). The base marks fade through one CSS
class (``lab8-scatter-dim``); the canvas lets the pointer through to the point beneath (its tooltip
and click). The rules live in ``static/lab8.css`` and each view carries them, so a view outside a
lab draws its selection too. The brush selects no mark in the browser: Python takes the points
inside ``brush.selected_x``/``selected_y`` when ``brushing`` turns False; a lasso selects the base
marks (each a small restyle) and the view joins their answers; a click toggles a point and a click
on empty space clears (bqplot's click-select would restyle a whole mark, and its ctrl-click never
reaches Python). The gesture's own view sends its selection first, then the linked views follow
in ``link_selection``'s order (a lab's tables last, whose layout would delay the dots by a frame),
and the brush's own state is not echoed back to the page (one redraw less per mouse move).
A small view keeps bqplot's own per-point selection styles and click-select (ctrl-click adds).
Measured on a quiet 2-core machine (``benchmarks/explorer_latency.py``, ``scatter_latency.py``):
see docs/performance.md.

``link_selection`` (views/link.py) keeps several views' selections in step.
bqplot's WebGL ``ScatterGL`` moved to the bqplot-gl package in bqplot 0.13, and installing
bqplot-gl 0.1.1 beside bqplot 0.13.1 breaks every ``BrushSelector`` on the page (it brings a
d3-selection that bqplot's brush then reads ``event`` from, so brushes never report), and its
ScatterGL views fail with selectors ("getScales is not a function"); so it is not used.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

from .selection_layer import SelectionLayer

__all__ = ["LinkedScatter", "PALETTE", "CHUNK"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)
MODES = ("brush", "lasso", "click")
CHUNK = 1000  # points per base mark: bqplot's restyle of one mark grows with its size squared
RESTYLE_MAX = 500  # up to this many points, bqplot's own per-point selection styles are cheap
SELECTED_STYLE = {"opacity": 1.0, "stroke": "black", "stroke-width": 1}
UNSELECTED_STYLE = {"opacity": 0.25}
DIM_CLASS = "lab8-scatter-dim"  # on the view while a selection is shown (lab8.css dims the rest)
LARGE_CLASS = "lab8-scatter-large"  # a view over restyle_max points: dots drawn by paths (lab8.css)


def _no_echo(name: str):
    """BrushSelector's trait ``name``, not echoed back to the page (ipywidgets 8 echoes each update
    from the page; the brush then redraws once more per mouse move, and once more at mouse-up
    before the selection's messages)."""
    trait = copy.copy(bq.interacts.BrushSelector.class_traits()[name])
    trait.metadata = {**trait.metadata, "echo_update": False}
    return trait


class _Brush(bq.interacts.BrushSelector):
    """bqplot's BrushSelector whose gesture state the kernel does not echo (the page owns it)."""

    brushing = _no_echo("brushing")
    selected_x = _no_echo("selected_x")
    selected_y = _no_echo("selected_y")


def _tooltip() -> bq.Tooltip:
    return bq.Tooltip(fields=["name", "x", "y"], formats=["", ".3f", ".3f"])


class LinkedScatter(W.VBox):
    """A scatter of points named by ``keys``; ``selected`` is the list of selected keys (view order).

    ``mode`` picks the gesture: "brush" (rectangle), "lasso" (free shape) or "click" (click a point
    to add or drop it, click empty space to clear). Hover names the point under the pointer: bqplot's
    tooltip (name, x, y) in click mode, ``overlay``'s in brush and lasso modes (bqplot's selector
    covers the plot area there). ``marks`` are the base marks (``mark`` the first); ``overlay``
    draws the selection on top (a canvas over the figure, in each point's colour).
    Views of at most ``restyle_max`` points keep bqplot's own selection instead: the mark's
    ``selected`` and per-point styles, and its click-select (ctrl-click adds); the overlay then
    draws no selection.
    """

    selected = traitlets.List()
    mode = traitlets.Enum(MODES, "brush")
    restyle_max = traitlets.Int(RESTYLE_MAX)

    def __init__(
        self,
        x: Sequence[float],
        y: Sequence[float],
        keys: Sequence[Hashable],
        *,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        color: Sequence | None = None,
        size: float = 24,
        x_log: bool = False,
        height: str = "360px",
        min_width: str = "320px",
        restyle_max: int = RESTYLE_MAX,
    ):
        super().__init__()
        self.add_class("lab8-scatter")
        self._keys: list = []
        self._index: dict = {}
        self._x = self._y = np.zeros(0)
        self._names = np.zeros(0, dtype=object)
        self._codes: np.ndarray | None = None  # colour category of each point
        self._shown: np.ndarray = np.zeros(0, dtype=np.int64)  # the overlay's point indices
        self._dimmed = False
        self._lasso_pending = False
        self._loading = False
        self._size = int(size)
        self.x_scale = bq.LogScale() if x_log else bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.color_scale = bq.OrdinalColorScale(colors=list(PALETTE), domain=[])
        self.marks: list[bq.Scatter] = [self._new_mark()]
        # a large view's selection: dots on a canvas over the figure (views/selection_layer.py), full
        # colour over the faded rest and a little wider than a point (size: px²)
        dot = round(2 * (self._size / np.pi) ** 0.5 + 1.5, 1)
        self.overlay = SelectionLayer(radius=dot / 2, hover=True)  # brush mode to start
        self._x_log = bool(x_log)
        # a large view's points as Chromium sees them: a few paths (one per colour) drawn by
        # ``paint``, while the base marks' dots stay hidden but hit-testable (lab8.css: tooltips and
        # clicks still reach each point). A dot per point, each in its own transformed group, made
        # every repaint anywhere on the page re-layerize thousands of paint chunks (~15 ms/frame).
        self.paint = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self.x_scale, "y": self.y_scale},
            colors=[PALETTE[0]],
            stroke_width=round(2 * (self._size / np.pi) ** 0.5, 1),
            preserve_domain={"x": True, "y": True},
            interactions={},
            visible=False,
        )
        self.x_axis = bq.Axis(
            scale=self.x_scale, label=x_label, num_ticks=5, tick_format=",.0f" if x_log else ".2~f"
        )
        self.y_axis = bq.Axis(
            scale=self.y_scale,
            orientation="vertical",
            label=y_label,
            num_ticks=5,
            tick_format=".2~f",
        )
        # no marks: the browser selects nothing (a restyle per move); Python reads the rectangle
        self.brush = _Brush(x_scale=self.x_scale, y_scale=self.y_scale, marks=[], color="#d62728")
        self.lasso = bq.interacts.LassoSelector(marks=list(self.marks), color="#d62728")
        self.figure = bq.Figure(
            marks=[self.paint, *self.marks],
            axes=[self.x_axis, self.y_axis],
            title=title,
            interaction=self.brush,
            animation_duration=0,
            fig_margin={"top": 36, "bottom": 46, "left": 58, "right": 18},
            layout=W.Layout(width="calc(100% - 4px)", height=height, min_width=min_width),
        )
        self.figure.add_class("lab8-scatter-figure")
        self.figure.observe(self._keep_points_on_top, "marks")
        self._mode_buttons = W.ToggleButtons(
            options=[("brush", "brush"), ("lasso", "lasso"), ("click", "click")],
            value="brush",
            style={"button_width": "58px"},
            tooltips=["drag a rectangle", "draw a free shape", "click points to add or drop"],
        )
        self._mode_buttons.add_class("lab8-scatter-mode")
        self._clear = W.Button(description="clear", layout=W.Layout(width="60px"))
        self._clear.add_class("lab8-scatter-clear")
        self._clear.on_click(lambda _b: setattr(self, "selected", []))
        self.legend = W.HTML(layout=W.Layout(min_height="0"))
        self.legend.add_class("lab8-scatter-legend")
        self.toolbar = W.HBox(
            [self._mode_buttons, self._clear],
            layout=W.Layout(align_items="center", gap="6px", flex_flow="row wrap"),
        )
        style = W.HTML(f"<style>{_own_css()}</style>", layout=W.Layout(display="none"))
        plot = W.Box([self.figure, self.overlay])  # lab8.css stacks the layer on the figure
        plot.add_class("lab8-scatter-plot")
        self.children = [self.toolbar, plot, self.legend, style]
        self.layout = W.Layout(flex="1 1 360px", min_width=min_width)
        W.link((self._mode_buttons, "value"), (self, "mode"))
        self.brush.observe(self._on_brushing, "brushing")
        self.restyle_max = int(restyle_max)
        self.set_data(x, y, keys, color=color)

    def _scales(self) -> dict:
        return {"x": self.x_scale, "y": self.y_scale, "color": self.color_scale}

    def _new_mark(self) -> bq.Scatter:
        m = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales=self._scales(),
            default_size=self._size,
            colors=[PALETTE[0]],
            stroke=None,
            names_unique=False,
            display_names=False,
            tooltip=_tooltip(),
            # hover keeps its tooltip; clicks come to Python (on_element_click), not bqplot's select
            interactions={"hover": "tooltip"},
        )
        m.on_element_click(self._on_click)
        m.on_background_click(self._on_background_click)
        m.observe(self._on_mark_selected, "selected")
        return m

    @property
    def mark(self) -> bq.Scatter:
        """The first base mark (all the points when there are at most ``CHUNK``)."""
        return self.marks[0]

    # --- data -------------------------------------------------------------------------------------
    @property
    def all_keys(self) -> list:
        """The key of each point, in the order of ``x`` and ``y``."""
        return self._keys

    @property
    def x(self) -> np.ndarray:
        """Every point's x (all base marks together, in key order)."""
        return self._x

    @property
    def y(self) -> np.ndarray:
        return self._y

    @property
    def painted_keys(self) -> list:
        """The keys the page draws as selected: the overlay's, or a small view's mark's."""
        if self._small:
            sel = self.mark.selected
            return [] if sel is None else [self._keys[int(i)] for i in np.sort(sel)]
        return [self._keys[i] for i in self._shown]

    def set_data(
        self,
        x: Sequence[float],
        y: Sequence[float],
        keys: Sequence[Hashable] | None = None,
        *,
        color: Sequence | None = None,
    ) -> None:
        """Replace the points; the selection keeps the keys still present."""
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        keys = self._keys if keys is None else list(keys)
        if not (len(x) == len(y) == len(keys)):
            raise ValueError(f"x, y and keys differ in length: {len(x)}, {len(y)}, {len(keys)}")
        self._keys = keys
        self._index = {k: i for i, k in enumerate(keys)}
        self._x, self._y = x, y
        self._names = np.asarray([str(k) for k in keys], dtype=object)
        if color is not None:
            self._codes = self._color_codes(color)
        elif self._codes is not None and len(self._codes) != len(keys):
            self._codes = None
            self.legend.value = ""
        self._layout_marks(max(1, -(-len(keys) // CHUNK)))
        self._style_marks()
        self._place_overlay()
        self._loading = True  # a lasso's old answer, cleared here, is no gesture
        try:
            for c, m in enumerate(self.marks):
                sl = slice(c * CHUNK, (c + 1) * CHUNK)
                with m.hold_sync():
                    if m.selected is not None:
                        m.selected = None
                    m.x, m.y = x[sl], y[sl]
                    # bqplot cannot serialise an empty object array
                    m.names = self._names[sl] if len(self._names[sl]) else None
                    m.color = self._codes[sl] if self._codes is not None else None
        finally:
            self._loading = False
        was = set(self.selected)
        keep = [k for k in keys if k in was] if was else []
        if keep != self.selected:
            self.selected = keep  # paints, and linked views follow
        else:
            self._paint()  # same keys, new places

    @property
    def _small(self) -> bool:
        return len(self._keys) <= self.restyle_max

    def _style_marks(self) -> None:
        """A small view styles each point through bqplot; a large one never restyles its points
        and draws them as ``paint``'s paths, its marks' dots hidden (``lab8-scatter-large``)."""
        small = self._small
        (self.remove_class if small else self.add_class)(LARGE_CLASS)
        self._draw_points()
        for m in self.marks:
            if not small and m.selected is not None:
                self._loading = True  # a large view's marks hold no selection
                try:
                    m.selected = None
                finally:
                    self._loading = False
            m.selected_style = SELECTED_STYLE if small else {}
            m.unselected_style = UNSELECTED_STYLE if small else {}
            m.interactions = (
                {"hover": "tooltip", "click": "select"} if small else {"hover": "tooltip"}
            )

    def _layout_marks(self, n: int) -> None:
        """Keep ``n`` base marks (reused in order), the lasso on them, the overlay on top."""
        if n == len(self.marks):
            return
        old = list(self.marks)
        self.marks = old[:n] + [self._new_mark() for _ in range(n - len(old))]
        self.lasso.marks = list(self.marks)
        self._keep_points_on_top(mine=old)
        for m in old[n:]:
            m.close()

    def _keep_points_on_top(self, _change=None, mine=()) -> None:
        """Marks a lab adds (a reference line) stay behind the points and the selection."""
        top = [self.paint, *self.marks]
        own = {id(m) for m in (*mine, *top)}
        want = [m for m in self.figure.marks if id(m) not in own] + top
        if list(self.figure.marks) != want:
            self.figure.marks = want

    def set_color(self, values: Sequence | None, labels: dict | None = None) -> None:
        """Colour points by category (``values``, one per point; None: one colour) with a legend."""
        self._codes = self._color_codes(values, labels)
        for c, m in enumerate(self.marks):
            m.color = self._codes[c * CHUNK : (c + 1) * CHUNK] if self._codes is not None else None
        self._draw_points()
        self._place_overlay()
        self._paint()

    def _draw_points(self) -> None:
        """A large view's points as ``paint``'s paths, in their colours (a small view: hidden)."""
        self._draw_dots(self.paint, None if self._small else np.arange(len(self._keys)))

    def _place_overlay(self) -> None:
        """Give the selection layer every point, its colour and its name: it draws a large view's
        selection (a small view draws its own through bqplot) and every view's hover tooltips in
        brush and lasso modes."""
        n = len(self.color_scale.domain) if self._codes is not None else 1
        self.overlay.set_points(
            self._x,
            self._y,
            None if self._codes is None else self._codes.astype(np.int64) % len(PALETTE),
            list(PALETTE[: min(max(1, n), len(PALETTE))]),
            names=self._names,
            x_log=self._x_log,
        )

    def _color_codes(self, values: Sequence | None, labels: dict | None = None):
        if values is None:
            self.legend.value = ""
            return None
        vals = list(values)
        if len(vals) != len(self._keys):
            raise ValueError(f"color has {len(vals)} values for {len(self._keys)} points")
        cats = sorted({str(v) for v in vals})
        code = {c: i for i, c in enumerate(cats)}
        self.color_scale.domain = list(range(len(cats)))
        self.color_scale.colors = [PALETTE[i % len(PALETTE)] for i in range(len(cats))]
        swatches = "".join(
            f'<span style="white-space:nowrap;margin-right:8px"><span style="display:inline-block;'
            f"width:9px;height:9px;border-radius:50%;background:{PALETTE[i % len(PALETTE)]};"
            f'margin-right:3px"></span>{_esc((labels or {}).get(c, c))}</span>'
            for i, c in enumerate(cats)
        )
        self.legend.value = (
            f'<div style="font:11px system-ui,sans-serif;color:#333">{swatches}</div>'
        )
        return np.array([code[str(v)] for v in vals], dtype=float)

    # --- gestures (browser) -> keys ---------------------------------------------------------------
    def _on_brushing(self, change) -> None:
        """A drag ended: select the points inside the rectangle (data coordinates, edges in)."""
        if change["new"]:
            return
        bx, by = self.brush.selected_x, self.brush.selected_y
        if bx is None or by is None or len(bx) < 2 or len(by) < 2:
            self._select([])
            return
        (x0, x1), (y0, y1) = sorted(map(float, bx[:2])), sorted(map(float, by[:2]))
        inside = (self._x >= x0) & (self._x <= x1) & (self._y >= y0) & (self._y <= y1)
        keys = [self._keys[i] for i in np.flatnonzero(inside)]
        self._brushed = keys  # what the rectangle on the page stands for
        self._select(keys)

    def _on_mark_selected(self, _change=None) -> None:
        """A lasso selects in every base mark, one message each: join them once they are in."""
        if self._lasso_pending or self._loading:
            return
        if len(self.marks) == 1:  # one answer: nothing to wait for
            self._join_marks()
            return
        try:
            import asyncio

            loop = asyncio.get_running_loop()
        except RuntimeError:  # no kernel loop (tests): join now
            self._join_marks()
            return
        self._lasso_pending = True
        loop.call_later(0.02, self._join_marks)

    def _join_marks(self) -> None:
        self._lasso_pending = False
        idx = [
            c * CHUNK + np.asarray(m.selected, dtype=np.int64).ravel()
            for c, m in enumerate(self.marks)
            if m.selected is not None and len(m.selected)
        ]
        idx = np.unique(np.concatenate(idx)) if idx else np.zeros(0, dtype=np.int64)
        self._select([self._keys[i] for i in idx if 0 <= i < len(self._keys)])

    def _on_click(self, mark, content) -> None:
        """A click on a point adds it to the selection, or drops it when it was selected."""
        if self._small:
            return  # bqplot's own click-select answered through the mark's selected
        i = int((content.get("data") or {}).get("index", -1))
        c = next((c for c, m in enumerate(self.marks) if m is mark), None)
        key = self._keys[c * CHUNK + i] if c is not None and 0 <= i < len(mark.x) else None
        if key is None:
            return
        sel = list(self.selected)
        self._select([k for k in sel if k != key] if key in sel else [*sel, key])

    def _on_background_click(self, _mark, _content) -> None:
        if self.mode == "click" and not self._small:
            self._select([])

    def _select(self, keys: list) -> None:
        """A gesture's selection. Not held: this view's selection layer leaves first (one small
        message the page draws at once), then the linked views in ``link_selection``'s order, a
        lab's tables last, so their layout does not delay the dots by a frame."""
        self.selected = keys

    @contextmanager
    def hold_sync(self) -> Iterator[None]:
        """Hold this view's messages, its overlay's and its marks' until the block ends."""
        with ExitStack() as held:
            for w in (super(), self.overlay, *self.marks):
                held.enter_context(w.hold_sync())
            yield

    # --- selection: keys (Python) -> overlay ------------------------------------------------------
    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list:
        """Keep known keys, in view order, once each (unknown keys are dropped, not an error)."""
        want = set(proposal["value"])
        if not want:
            return []
        if len(want) * 8 < len(self._keys):  # a few keys: look them up
            return [self._keys[i] for i in sorted(self._index[k] for k in want if k in self._index)]
        return [k for k in self._keys if k in want]

    @traitlets.observe("selected")
    def _on_selected(self, _change) -> None:
        self._paint()

    def _paint(self) -> None:
        """Draw the selection: the overlay's points, the base marks dimmed while it is non-empty
        (a small view: the mark's own ``selected``)."""
        idx = np.fromiter((self._index[k] for k in self.selected), dtype=np.int64)
        small = self._small
        if small:
            self._loading = True  # our own write, not a gesture
            try:
                self.mark.selected = idx.astype(np.int32) if len(idx) else None
            finally:
                self._loading = False
            idx = idx[:0]
        self._shown = idx
        self.overlay.show(idx)
        dim = bool(len(idx))
        if dim != self._dimmed:  # lab8.css dims the base marks: one class, not a style per point
            self._dimmed = dim
            (self.add_class if dim else self.remove_class)(DIM_CLASS)
        # the rectangle stays only while it is the selection: emptied, or replaced by another
        # view, a table or Python (e.g. the explorer's Neighbours), it goes
        if self.brush.selected_x is not None and self.selected != self._valid_brushed():
            self.brush.selected_x = None
            self.brush.selected_y = None

    def _valid_brushed(self) -> list | None:
        brushed = getattr(self, "_brushed", None)
        return None if brushed is None else [k for k in brushed if k in self._index]

    def _draw_dots(self, lines: bq.Lines, idx: np.ndarray | None) -> None:
        """Draw points ``idx`` on ``lines`` as zero-length segments (gap, x, x) that lab8.css rounds
        into dots, one path per colour; None or no points hides the paths (nothing redrawn)."""
        if idx is None or not len(idx):
            lines.visible = False
            return
        x, y = self._x[idx], self._y[idx]
        codes = self._codes[idx] if self._codes is not None else np.zeros(len(idx))
        # bqplot's lines are one rectangular array: a colour's points are cut into lines of at
        # most ``width`` (so a big colour does not pad every other one to its length), and each
        # line ends on a point (bqplot places a line's label at its last value): a short line
        # repeats its last point
        cats, counts = np.unique(codes, return_counts=True)
        width = int(counts.max())
        if len(cats) * width > 2 * len(idx):  # padding would more than double the points
            width = max(8, int(np.ceil(np.sqrt(len(idx)))))
        take, colors = [], []
        for c in cats:
            rows = np.flatnonzero(codes == c)
            for start in range(0, len(rows), width):
                r = rows[start : start + width]
                take.append(np.r_[r, np.full(width - len(r), r[-1])])
                colors.append(PALETTE[int(c) % len(PALETTE)])
        take = np.stack(take)
        gap = np.full(take.shape + (1,), np.nan)  # y NaN: bqplot leaves the line undrawn there
        xs = np.repeat(x[take][..., None], 3, axis=-1)  # gaps keep a real x for the scales
        ys = np.concatenate([gap, np.repeat(y[take][..., None], 2, axis=-1)], axis=-1)
        with lines.hold_sync():
            lines.x, lines.y = xs.reshape(len(take), -1), ys.reshape(len(take), -1)
            lines.colors = colors
            lines.visible = True

    @traitlets.observe("restyle_max")
    def _on_restyle_max(self, _change) -> None:
        self._style_marks()
        self._paint()

    @traitlets.observe("mode")
    def _on_mode(self, change) -> None:
        self.figure.interaction = {"brush": self.brush, "lasso": self.lasso, "click": None}[
            change["new"]
        ]
        # bqplot's brush and lasso cover the plot, so its tooltips never show: the layer's do
        self.overlay.hover = change["new"] != "click"


def _own_css() -> str:
    """LinkedScatter's rules from the shared stylesheet (static/lab8.css), for a view shown
    outside a lab (labs include the whole sheet): without them the selection's dots vanish."""
    if not _CSS:
        path = Path(__file__).resolve().parent.parent / "static" / "lab8.css"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        start = text.find("/* LinkedScatter")
        _CSS.append(text[start:].split("\n\n")[0] if start >= 0 else "")
    return _CSS[0]


_CSS: list[str] = []


def _esc(text: Any) -> str:
    import html

    return html.escape(str(text))
