"""LinkedScatter: a bqplot scatter whose selection is a list of keys, and ``link_selection`` to keep
several views' selections in step.

Brush, lasso and click all fill the mark's ``selected`` (indices) in the browser; the view turns them
into ``selected`` keys, waiting for a brush to end (bqplot's ``brushing`` turning False) so a drag
sends one selection, not one per mouse move. Setting ``selected`` from Python paints the mark.
Links follow jupyter-scatter: each view's observer is removed while the others are written (inside
``hold_sync``), so a change never comes back to the view it came from.

The mark is bqplot's SVG ``Scatter``, measured responsive with 10,000 points (brush → every linked
view updated, ``benchmarks/explorer_latency.py``). bqplot's WebGL ``ScatterGL`` moved to the
bqplot-gl package in bqplot 0.13, and installing bqplot-gl 0.1.1 beside bqplot 0.13.1 breaks every
``BrushSelector`` on the page (it brings a d3-selection that bqplot's brush then reads ``event``
from, so brushes never report), and its ScatterGL views fail with selectors ("getScales is not a
function"); so it is not used.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

__all__ = ["LinkedScatter", "SelectionLink", "link_selection", "PALETTE"]

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


class LinkedScatter(W.VBox):
    """A scatter of points named by ``keys``; ``selected`` is the list of selected keys (view order).

    ``mode`` picks the gesture: "brush" (rectangle), "lasso" (free shape) or "click" (click a point,
    ctrl/shift-click to add). Hover shows a tooltip in every mode.
    """

    selected = traitlets.List()
    mode = traitlets.Enum(MODES, "brush")

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
    ):
        super().__init__()
        self.add_class("lab8-scatter")
        self._keys: list = []
        self._index: dict = {}
        self._syncing = False
        self.x_scale = bq.LogScale() if x_log else bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.color_scale = bq.OrdinalColorScale(colors=list(PALETTE), domain=[])
        self.mark = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self.x_scale, "y": self.y_scale, "color": self.color_scale},
            default_size=int(size),
            colors=[PALETTE[0]],
            stroke=None,
            display_names=False,
            selected_style={"opacity": 1.0, "stroke": "black", "stroke-width": 1},
            unselected_style={"opacity": 0.25},
            tooltip=bq.Tooltip(fields=["name", "x", "y"], formats=["", ".3f", ".3f"]),
            # keep the hover tooltip when adding click selection (overriding drops the default)
            interactions={"hover": "tooltip", "click": "select"},
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
        self.brush = bq.interacts.BrushSelector(
            x_scale=self.x_scale, y_scale=self.y_scale, marks=[self.mark], color="#d62728"
        )
        self.lasso = bq.interacts.LassoSelector(marks=[self.mark], color="#d62728")
        self.figure = bq.Figure(
            marks=[self.mark],
            axes=[self.x_axis, self.y_axis],
            title=title,
            interaction=self.brush,
            animation_duration=0,
            fig_margin={"top": 36, "bottom": 46, "left": 58, "right": 18},
            layout=W.Layout(width="calc(100% - 4px)", height=height, min_width=min_width),
        )
        self.figure.add_class("lab8-scatter-figure")
        self._mode_buttons = W.ToggleButtons(
            options=[("brush", "brush"), ("lasso", "lasso"), ("click", "click")],
            value="brush",
            style={"button_width": "58px"},
            tooltips=["drag a rectangle", "draw a free shape", "click points (ctrl adds)"],
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
        self.children = [self.toolbar, self.figure, self.legend]
        self.layout = W.Layout(flex="1 1 360px", min_width=min_width)
        W.link((self._mode_buttons, "value"), (self, "mode"))
        self.mark.observe(self._on_mark_selected, "selected")
        self.brush.observe(self._on_brushing, "brushing")
        self.set_data(x, y, keys, color=color)

    # --- data -------------------------------------------------------------------------------------
    @property
    def all_keys(self) -> list:
        """The key of each point, in the order of ``x`` and ``y``."""
        return self._keys

    def set_data(
        self,
        x: Sequence[float],
        y: Sequence[float],
        keys: Sequence[Hashable] | None = None,
        *,
        color: Sequence | None = None,
    ) -> None:
        """Replace the points; the selection keeps the keys still present."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        keys = self._keys if keys is None else list(keys)
        if not (len(x) == len(y) == len(keys)):
            raise ValueError(f"x, y and keys differ in length: {len(x)}, {len(y)}, {len(keys)}")
        self._keys = keys
        self._index = {k: i for i, k in enumerate(keys)}
        was = set(self.selected)
        keep = [k for k in keys if k in was] if was else []
        with self.mark.hold_sync():
            self.mark.selected = None
            self.mark.x = x
            self.mark.y = y
            # bqplot cannot serialise an empty object array
            self.mark.names = np.asarray([str(k) for k in keys], dtype=object) if keys else None
            if color is not None:
                self._set_color(color)
            elif len(self.mark.color if self.mark.color is not None else []) != len(keys):
                self.mark.color = None
        self._syncing = True
        try:
            self.selected = keep
        finally:
            self._syncing = False
        self._paint(keep)

    def set_color(self, values: Sequence | None, labels: dict | None = None) -> None:
        """Colour points by category (``values``, one per point; None: one colour) with a legend."""
        self._set_color(values, labels)

    def _set_color(self, values: Sequence | None, labels: dict | None = None) -> None:
        if values is None:
            self.mark.color = None
            self.legend.value = ""
            return
        vals = list(values)
        if len(vals) != len(self._keys):
            raise ValueError(f"color has {len(vals)} values for {len(self._keys)} points")
        cats = sorted({str(v) for v in vals})
        code = {c: i for i, c in enumerate(cats)}
        with self.mark.hold_sync():
            self.color_scale.domain = list(range(len(cats)))
            self.color_scale.colors = [PALETTE[i % len(PALETTE)] for i in range(len(cats))]
            self.mark.color = np.array([code[str(v)] for v in vals], dtype=float)
        swatches = "".join(
            f'<span style="white-space:nowrap;margin-right:8px"><span style="display:inline-block;'
            f"width:9px;height:9px;border-radius:50%;background:{PALETTE[i % len(PALETTE)]};"
            f'margin-right:3px"></span>{_esc((labels or {}).get(c, c))}</span>'
            for i, c in enumerate(cats)
        )
        self.legend.value = (
            f'<div style="font:11px system-ui,sans-serif;color:#333">{swatches}</div>'
        )

    # --- selection: mark (browser) -> keys ------------------------------------------------------
    def _on_mark_selected(self, _change=None) -> None:
        if self._syncing or self.brush.brushing:
            return  # a brush still moving: wait for brushing to turn False
        self._from_mark()

    def _on_brushing(self, change) -> None:
        if not change["new"]:
            self._from_mark()

    def _from_mark(self) -> None:
        sel = self.mark.selected
        idx = [] if sel is None else sorted({int(i) for i in np.asarray(sel).ravel()})
        keys = [self._keys[i] for i in idx if 0 <= i < len(self._keys)]
        if keys != self.selected:
            self._syncing = True
            try:
                self.selected = keys
            finally:
                self._syncing = False

    # --- selection: keys (Python) -> mark -------------------------------------------------------
    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list:
        """Keep known keys, in view order, once each (unknown keys are dropped, not an error)."""
        want = set(proposal["value"])
        return [k for k in self._keys if k in want] if want else []

    @traitlets.observe("selected")
    def _on_selected(self, change) -> None:
        if not self._syncing:
            self._paint(change["new"])

    def _paint(self, keys: list) -> None:
        idx = np.sort(np.array([self._index[k] for k in keys], dtype=np.int32))
        self._syncing = True
        try:
            with self.mark.hold_sync():
                self.mark.selected = idx if len(idx) else None
            if not len(idx):
                self.brush.selected_x = None
                self.brush.selected_y = None
        finally:
            self._syncing = False

    @traitlets.observe("mode")
    def _on_mode(self, change) -> None:
        self.figure.interaction = {"brush": self.brush, "lasso": self.lasso, "click": None}[
            change["new"]
        ]


def _esc(text: Any) -> str:
    import html

    return html.escape(str(text))


class SelectionLink:
    """Keeps ``selected`` equal (through ``key``) across views; ``unlink()`` stops it."""

    def __init__(self, views: Sequence[Any], key: Callable[[Hashable], Hashable] | None = None):
        if len(views) < 2:
            raise ValueError(f"link_selection needs at least two views, got {len(views)}")
        for v in views:
            if not (hasattr(v, "selected") and hasattr(v, "all_keys") and hasattr(v, "observe")):
                raise TypeError(
                    f"{type(v).__name__} is not a selectable view (needs .selected, .all_keys, observe)"
                )
        self.views = list(views)
        self.key = key or (lambda k: k)
        self._handlers = {id(v): self._handler(v) for v in self.views}
        for v in self.views:
            v.observe(self._handlers[id(v)], "selected")

    def _handler(self, source):
        def on_change(change) -> None:
            self._spread(source, change["new"])

        return on_change

    def _spread(self, source, selected: list) -> None:
        shared = {self.key(k) for k in selected}
        others = [v for v in self.views if v is not source]
        for v in others:  # jupyter-scatter: unobserve, write, observe again
            v.unobserve(self._handlers[id(v)], "selected")
        try:
            for v in others:
                hold = v.hold_sync() if hasattr(v, "hold_sync") else _null()
                with hold:
                    v.selected = [k for k in v.all_keys if self.key(k) in shared]
        finally:
            for v in others:
                v.observe(self._handlers[id(v)], "selected")

    def unlink(self) -> None:
        for v in self.views:
            try:
                v.unobserve(self._handlers[id(v)], "selected")
            except ValueError:
                pass


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def link_selection(*views: Any, key: Callable[[Hashable], Hashable] | None = None) -> SelectionLink:
    """Keep the views' ``selected`` in step, each view selecting its own keys whose ``key(k)``
    is selected elsewhere (views may show different subsets). Returns a link with ``unlink()``."""
    return SelectionLink(views, key)
