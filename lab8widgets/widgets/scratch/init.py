"""Section 3 of ScratchLab: how the tables start, ``create_params`` (normal(0, 0.01)) against
``nn.Embedding`` (N(0, 1)), as weight histograms and first predictions. Shows an
``InitComparison``; calls back on "Draw again"."""

from __future__ import annotations

from collections.abc import Callable

import bqplot as bq
import ipywidgets as W

from ...models import embedding as M
from ...views.layout import row, section
from . import views as V

__all__ = ["InitView"]

INITS = ("create_params", "nn.Embedding")


class InitView(W.VBox):
    """Two weight histograms, the first predictions of both, a note and "Draw again" (``on_reinit``)."""

    def __init__(self, on_reinit: Callable[[], None]):
        self.histograms: dict[str, tuple[bq.Figure, bq.Lines]] = {}
        for key, colour, fmt in (
            ("create_params", V.GREEN, ".2f"),
            ("nn.Embedding", V.PURPLE, ".0f"),
        ):
            line = V.histogram_lines([colour])
            fig = V.figure(
                line,
                "lab8-scratch-hist",
                ("weight", "count"),
                key,
                (250, 240),
                xaxis=dict(num_ticks=5, tick_format=fmt),
            )
            self.histograms[key] = (fig, line)
        self.prediction_lines = V.histogram_lines([V.GREEN, V.PURPLE])
        self.prediction_chart = V.figure(
            self.prediction_lines,
            "lab8-scratch-preds",
            ("first prediction (y_range 0–5.5)", "count"),
            "First predictions",
            (290, 240),
        )
        self.note = V.html_box("lab8-scratch-init")
        self.reinit_button = V.button("Draw again", "refresh", "lab8-scratch-reinit", on_reinit)
        super().__init__(
            [
                section(
                    "3 · How the tables start: <code>create_params</code> vs <code>nn.Embedding</code>"
                ),
                row(*(f for f, _ in self.histograms.values()), self.prediction_chart, gap="4px"),
                row(self.reinit_button, self.note, align_items="center"),
            ]
        )

    def show(self, c: M.InitComparison) -> None:
        for key, (fig, line) in self.histograms.items():
            with line.hold_sync():
                line.x, line.y = M.histogram(c.weights(key))
            fig.title = f"{key}: std {c.summary(key)['weight_std']:.3g}"
        hists = c.prediction_histograms()
        with self.prediction_lines.hold_sync():
            self.prediction_lines.x = [hists[k][0] for k in INITS]
            self.prediction_lines.y = [hists[k][1] for k in INITS]
        self.note.value = V.init_html(c)
