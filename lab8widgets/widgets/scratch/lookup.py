"""Section 2 of ScratchLab: an embedding is a lookup, ``one_hot(idx) @ E`` = ``E[idx]``, in value,
in gradient and in time. Shows a ``models.embedding.Lookup`` and the timings; calls back on the
table picked, the indices typed and the timing button."""

from __future__ import annotations

from collections.abc import Callable

import bqplot as bq
import ipywidgets as W

from ...models import embedding as M
from ...views.layout import row, section
from ...views.ticks import decades
from . import views as V

__all__ = ["LookupView"]


class LookupView(W.VBox):
    """Table picker (``on_table(name)``), typed indices (``on_pick(text)``), the six matrices, the
    equality note and the timing chart (``on_time()``)."""

    def __init__(
        self,
        tables: list[tuple[str, str]],
        on_table: Callable[[str], None],
        on_pick: Callable[[str], None],
        on_time: Callable[[], None],
    ):
        self._syncing = False
        self.table = V.tagged(
            W.Dropdown(options=tables, description="table", layout=W.Layout(width="300px")),
            "lab8-scratch-table",
        )
        self.table.observe(lambda ch: on_table(ch["new"]), "value")
        self.indices = V.tagged(
            W.Text(value="3, 1, 3", continuous_update=False, layout=W.Layout(width="300px")),
            "lab8-scratch-indices",
        )
        self.indices.observe(lambda ch: None if self._syncing else on_pick(ch["new"]), "value")
        # one-hot rows are 0/1; every other matrix shows the same two decimals (gradients too)
        self.one_hot = V.grid("lab8-scratch-onehot", "one_hot(idx)", decimals=0, cmap="gray")
        self.E = V.grid("lab8-scratch-E", "E")
        self.product = V.grid("lab8-scratch-product", "one_hot(idx) @ E")
        self.lookup = V.grid("lab8-scratch-lookup", "E[idx]")
        self.grad_one_hot = V.grid("lab8-scratch-grad-onehot", "E.grad via one-hot")
        self.grad_lookup = V.grid("lab8-scratch-grad-lookup", "E.grad via E[idx]")
        self.equal = V.html_box("lab8-scratch-equal")
        self.time_button = V.button("Time both paths", "clock-o", "lab8-scratch-time", on_time)
        self.time_lines = V.lines(
            ["#d62728", "#1f77b4"],
            bq.LogScale(min=10.0, max=100_000.0),  # explicit domains: ticks need one before data
            bq.LogScale(min=0.001, max=100.0),
            marker="circle",
            labels=["one-hot @ E", "E[idx]"],
            display_legend=True,
        )
        self.timing_chart = V.figure(
            self.time_lines,
            "lab8-scratch-timing",
            ("vocabulary size (rows of E)", "ms per lookup of 64 ids"),
            "Why the lookup is the shortcut",
            (420, 300),
            legend_location="top-left",
        )
        # one labelled tick a decade on both log axes (d3's default labels every 1-9 × 10^k and
        # they run into each other), and room for the y label beside its ticks
        x_axis, y_axis = self.timing_chart.axes
        x_axis.tick_values, x_axis.tick_format = decades(10, 100_000), ",d"
        y_axis.tick_values = decades(0.001, 100)
        y_axis.tick_format, y_axis.label_offset = "~g", "48px"
        self.timing_chart.fig_margin = dict(top=40, bottom=45, left=70, right=28)
        self.timing = V.html_box("lab8-scratch-timing-text", V.TIMING_HINT, max_width="100%")
        super().__init__(
            [
                section(
                    "2 · An embedding is a lookup: <code>one_hot(idx) @ E</code> = "
                    "<code>E[idx]</code>"
                ),
                row(self.table, self.indices, align_items="center"),
                row(
                    V.scroll(self.one_hot, "240px"),
                    V.op("@", V.scroll(self.E, "620px")),
                    V.op("=", V.scroll(self.product)),
                    V.op("≡", V.scroll(self.lookup)),
                    gap="4px",
                ),
                row(
                    V.scroll(self.grad_one_hot, "620px"),
                    V.scroll(self.grad_lookup, "620px"),
                    self.equal,
                ),
                row(W.VBox([self.time_button, self.timing_chart]), self.timing),
            ]
        )

    def show(self, c: M.Lookup, table: str, asks: str, shown: str) -> None:
        """The lookup ``c`` in ``table``; ``shown`` is the indices as the learner names them."""
        (n_rows, k), n = c.E.shape, len(c.indices)
        with self.hold_sync():
            self.indices.description = asks
            if V.split(self.indices.value) != V.split(shown):
                self._syncing = True  # showing what Python holds is not a new request
                try:
                    self.indices.value = shown
                finally:
                    self._syncing = False
            if self.table.value != table:
                self.table.value = table
            # small tables show their numbers; a MovieLens table fits ~600 px a side, then scrolls
            oh_cell = V.cell_size(n, n_rows, 700, 4)
            e_cell, v_cell = V.cell_size(n_rows, k, 600, 2), V.cell_size(n, k, 260, 3)
            for g, vals, cell in (
                (self.one_hot, c.one_hot, oh_cell),
                (self.E, c.E, e_cell),
                (self.product, c.product, v_cell),
                (self.lookup, c.lookup, v_cell),
                (self.grad_one_hot, c.grad_one_hot, e_cell),
                (self.grad_lookup, c.grad_lookup, e_cell),
            ):
                g.cell = cell
                g.show_values = n_rows <= 16 and k <= 16 and cell >= 18
                g.values = vals.detach().cpu().numpy()
            # mark the ones while cells are big enough to see both the mark and the black cell;
            # no marks on the gradients: their non-zero rows are the point
            self.one_hot.highlight = (
                [[i, r, i, r] for i, r in enumerate(c.indices)] if oh_cell >= 10 else []
            )
            self.E.highlight = [[r, 0, r, k - 1] for r in sorted(set(c.indices))]
            self.one_hot.subtitle = f"{n} × {n_rows}"
            self.E.subtitle = f"{n_rows} × {k}"
            self.product.subtitle = self.lookup.subtitle = f"{n} × {k}"
        self.equal.value = V.lookup_html(c)

    def show_timings(self, t: list[dict[str, float]]) -> None:
        if not t:
            return
        xs = [r["vocab"] for r in t]
        ys = [r[k] for r in t for k in ("one_hot_ms", "lookup_ms") if r[k] > 0]
        x_axis, y_axis = self.timing_chart.axes
        with self.time_lines.hold_sync():
            self.time_lines.x = xs
            self.time_lines.y = [[r["one_hot_ms"] for r in t], [r["lookup_ms"] for r in t]]
        for axis, values in ((x_axis, xs), (y_axis, ys or [0.001, 100])):
            ticks = decades(min(values), max(values))
            with axis.scale.hold_sync():
                axis.scale.min, axis.scale.max = ticks[0], ticks[-1]
            axis.tick_values = ticks
        self.timing.value = V.timings_html(t)
