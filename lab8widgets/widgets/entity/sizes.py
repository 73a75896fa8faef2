"""The Embedding sizes section: ``emb_sz_rule`` (categories → width) for every column, and the
lesson's identity for one chosen category: its one-hot row × the weight matrix = the lookup.

Given a model getter, a data getter, the lab's lock and its error path (``guard``)."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ...models.collab import emb_sz_rule
from ...models.tabular import get_emb_sz
from ...models.tabular import project as P
from ...views import LinkedScatter, TableView
from .common import labelled, vec, wrap

__all__ = ["SizesPanel"]


class SizesPanel(W.HBox):
    def __init__(
        self,
        model: Callable[[], Any],
        data: Callable[[], Any],
        lock: threading.RLock,
        guard: Callable[[], AbstractContextManager],
    ):
        self._model, self._data, self._lock, self._guard = model, data, lock, guard
        self.sizes = labelled(
            LinkedScatter(
                [],
                [],
                [],
                title="emb_sz_rule: categories → width",
                x_label="categories (with #na#)",
                y_label="width",
                x_log=True,
                height="320px",
            )
        )
        self.sizes.mode = "brush"
        # columns of equal size share a point, so names on the plot would pile up: they sit in the
        # table beside it (and in each point's tooltip)
        self.sizes.mark.display_names = False
        self.sizes_table = TableView(caption="get_emb_sz: one row per column", height="240px")
        self.sizes_table.add_class("lab8-entity-sizes-table")
        self.rule_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            colors=["#999"],
            scales={"x": self.sizes.x_scale, "y": self.sizes.y_scale},
        )
        self.sizes.figure.marks = [self.rule_line, self.sizes.mark]
        self.column_pick = W.Dropdown(options=data().cat_names, description="column")
        self.category_pick = W.Dropdown(description="category")
        self.column_pick.observe(lambda _c: self._click(self.column_changed), "value")
        self.category_pick.observe(lambda _c: self._click(self.draw_lookup), "value")
        self.lookup_html = W.HTML()
        self.lookup_html.add_class("lab8-entity-lookup")
        picks = W.VBox(
            [self.sizes_table, self.column_pick, self.category_pick, self.lookup_html],
            layout=W.Layout(flex="1 1 320px", min_width="300px"),
        )
        super().__init__([self.sizes, picks], layout=wrap())

    def _click(self, fn) -> None:
        with self._guard():
            fn()

    def set_data(self) -> None:
        """Column choices for the current data."""
        self.column_pick.options = self._data().cat_names
        self.column_changed()

    def draw(self) -> None:
        import pandas as pd

        data = self._data()
        szs = get_emb_sz(data)
        self.sizes_table.set_frame(
            pd.DataFrame(
                {
                    "column": data.cat_names,
                    "categories (with #na#)": [n for n, _ in szs],
                    "width": [w for _, w in szs],
                }
            )
        )
        n_cat = np.array([n for n, _ in szs], float)
        xs = np.unique(np.geomspace(2, max(n_cat.max(), 10) * 2, 60).round())
        self.sizes.set_data(n_cat, [w for _, w in szs], data.cat_names)
        with self.rule_line.hold_sync():
            self.rule_line.x, self.rule_line.y = xs, [emb_sz_rule(int(x)) for x in xs]
        self.draw_lookup()

    def column_changed(self) -> None:
        col = self.column_pick.value
        opts = [str(c) for c in self._data().classes[col][1:]]
        self.category_pick.options = opts
        self.category_pick.value = opts[0] if opts else None

    def draw_lookup(self) -> None:
        col, shown = self.column_pick.value, self.category_pick.value
        if shown is None:
            return
        cat = next(c for c in self._data().classes[col][1:] if str(c) == shown)
        with self._lock:
            r = P.one_hot_lookup(self._model(), col, cat)
        diff = float(np.abs(r["product"] - r["lookup"]).max())
        hot = int(np.argmax(r["one_hot"]))
        self.lookup_html.value = (
            f"<div class='lab8-note'>one-hot of <b>{html.escape(shown)}</b> (1 at index {hot} of "
            f"{len(r['one_hot'])}) × weight matrix {len(r['one_hot'])}×{len(r['lookup'])}:</div>"
            f"<code>{vec(r['product'])}</code><div class='lab8-note'>embedding lookup:</div>"
            f"<code>{vec(r['lookup'])}</code><div class='lab8-note'><b>equal: "
            f"{diff == 0.0}</b> (max |difference| {diff:.1g})</div>"
        )
