"""The reading panel of CollabLab: what the biases learned (four tables, filtered by how many
training ratings an item has) and the similar-movies box. A panel with explicit inputs: a model
getter, the data, the lab's lock and its error path; it reads ``models.collab.inspect`` (which
reads through ``.cpu()``) and holds no math."""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import ipywidgets as W
from torch import nn

from ...models.collab import CollabData, bias_table, bias_tables, default_min_ratings, similar_items
from ...models.collab.inspect import ReadSettings
from ...views.controls import control_for
from ...views.training import Column, runs_table_html
from .._base import LabInputError

COMBO_TITLES = 600  # most-rated titles offered in the similar-movies box (any title can be typed)


class ReadersView(W.HBox):
    """Bias tables and similar movies of ``model()`` on ``data``.

    ``lock``: held while reading (the trainer holds it each step); ``guard``: the lab's error path
    for gestures (a context manager); ``fail(text)``: the banner; ``trained()``: whether a run of
    ours has finished (the bias tables wait for one).
    """

    def __init__(
        self,
        model: Callable[[], nn.Module],
        data: CollabData,
        titles: list[str],
        *,
        lock: AbstractContextManager,
        guard: Callable[[], AbstractContextManager],
        fail: Callable[[str], None],
        trained: Callable[[], bool],
    ):
        self.model, self.data, self.lock = model, data, lock
        self.guard, self.fail, self.trained = guard, fail, trained
        self.title = ""  # the last similar-movies lookup, redone after each run
        self.min_ratings = control_for(ReadSettings, "min_ratings", on_error=fail)
        self.min_ratings.add_class("lab8-min-ratings")
        self.min_ratings.observe(lambda _c: self._gesture(self.render_biases), "number")
        self.bias_html = W.HTML()
        self.bias_html.add_class("lab8-bias-tables")
        self.similar_input = W.Combobox(
            value="",
            options=titles[:COMBO_TITLES],
            placeholder="type a title, e.g. " + (titles[0] if titles else ""),
            ensure_option=False,
            layout=W.Layout(width="340px"),
        )
        self.similar_input.add_class("lab8-similar-input")
        self.similar_k = control_for(ReadSettings, "k", on_error=fail)
        self.similar_k.add_class("lab8-similar-k")
        # one default with the explorer's neighbours: models.collab.default_min_ratings
        self.similar_min = control_for(
            ReadSettings,
            "similar_min_ratings",
            value=default_min_ratings(data.item_counts[1:]),
            on_error=fail,
        )
        self.similar_min.add_class("lab8-similar-min")
        self.similar_button = W.Button(description="Most similar", icon="search")
        self.similar_button.add_class("lab8-similar-button")
        self.similar_button.on_click(lambda _b: self._gesture(self.show_similar))
        self.similar_html = W.HTML(
            '<div class="lab8-note">Cosine similarity of the item factors: the book\'s '
            "<code>nn.CosineSimilarity</code> over <code>movie_factors</code>, among films with "
            f"at least {self.similar_min.number} training ratings (a film rated once or twice has "
            "factors that mean little).</div>"
        )
        self.similar_html.add_class("lab8-similar-table")
        row = W.Layout(align_items="center", gap="10px", flex_flow="row wrap")
        bias_col = W.VBox(
            [
                W.HBox(
                    [
                        W.HTML('<div class="lab8-section">What the biases learned</div>'),
                        self.min_ratings,
                    ],
                    layout=row,
                ),
                self.bias_html,
            ],
            layout=W.Layout(flex="1 1 auto"),
        )
        similar_col = W.VBox(
            [
                W.HTML('<div class="lab8-section">Similar movies</div>'),
                W.HBox(
                    [self.similar_input, self.similar_k, self.similar_min, self.similar_button],
                    layout=row,
                ),
                self.similar_html,
            ],
            layout=W.Layout(flex="0 1 560px"),
        )
        super().__init__(
            [bias_col, similar_col], layout=W.Layout(gap="16px", align_items="flex-start")
        )
        self.bias_box, self.similar_box = bias_col, similar_col  # where the lesson map lands

    def _gesture(self, fn: Callable[[], Any]) -> None:
        with self.guard():
            fn()

    def render_biases(self) -> None:
        """The four bias tables of the model (only items with at least min ratings)."""
        if bias_tables(self.model()) is None:
            self.bias_html.value = (
                '<div class="lab8-note">This model has no biases (neural net, or bias off): '
                "train a dot-product model with bias to read them.</div>"
            )
            return
        if not self.trained():
            self.bias_html.value = '<div class="lab8-note">Train a model to read its biases.</div>'
            return
        k = int(self.min_ratings.number)
        most = int(self.data.item_counts.max())
        if k > most:
            text = (
                f"min ratings {k} is more than any movie has: the most rated has {most} training "
                f"ratings, so the tables would be empty. Pick a number from 1 to {most}."
            )
            self.bias_html.value = f'<div class="lab8-note">{html.escape(text)}</div>'
            self.fail(text)
            return
        with self.lock:
            m, d = self.model(), self.data
            tables = [
                ("Lowest movie biases", bias_table(m, d, "item", 6, True, k), "title"),
                ("Highest movie biases", bias_table(m, d, "item", 6, False, k), "title"),
                ("Lowest user biases", bias_table(m, d, "user", 6, True, k), "user"),
                ("Highest user biases", bias_table(m, d, "user", 6, False, k), "user"),
            ]
        cells = [
            caption(cap, runs_table_html(df.to_dict("records"), _cols(key, "bias")))
            for cap, df, key in tables
        ]
        self.bias_html.value = (
            '<div class="lab8-bias-grid">'
            + "".join(f"<div>{c}</div>" for c in cells)
            + '</div><div class="lab8-note lab8-bias-note">A movie\'s bias is what its factors '
            "cannot explain: a low bias means even viewers whose tastes match it tend to rate it "
            "low, a high one that people like it whatever their taste. A user's bias is how "
            "generous they are. n_ratings counts training ratings; weight decay keeps the rarely "
            "rated near 0.</div>"
        )

    def show_similar(self) -> None:
        """The most similar titles to the one typed (cosine of the item factors)."""
        title = self.similar_input.value.strip()
        if not title:
            raise LabInputError("Type a movie title first (the box suggests the most rated ones).")
        floor = int(self.similar_min.number)
        with self.lock:  # not the API method: a redraw after a run must not clear its banner
            df = similar_items(self.model(), self.data, title, self.similar_k.number, floor)
        self.title = title
        self.similar_html.value = caption(
            f"Most similar to {title} (films with at least {floor} training ratings)",
            runs_table_html(df.to_dict("records"), _cols("title", "similarity")),
        )

    def refresh_similar(self) -> None:
        if self.title:
            try:
                self.show_similar()
            except (KeyError, ValueError):
                pass


def _cols(key: str, value: str) -> list[Column]:
    return [Column(key, key), Column(value, value), Column("n_ratings", "n_ratings")]


def caption(text: str, table: str) -> str:
    """``table`` (runs_table_html) with ``text`` as its caption."""
    return table.replace("<tr>", f"<caption>{html.escape(text)}</caption><tr>", 1)
