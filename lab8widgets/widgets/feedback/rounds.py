"""RoundsPanel: the loop's curves over the rounds (the group's genre share in everyone else's
recommendations, catalogue coverage, Gini of item exposure), one linked scatter each, so brushing
rounds in one selects them in all; every finished run stays as a line in its colour."""

from __future__ import annotations

from collections.abc import Sequence

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

from ...views.layout import row
from ...views.link import link_selection
from ...views.scatter import LinkedScatter

__all__ = ["METRICS", "RoundsPanel"]

METRICS = (
    ("group_share", "genre share", "share of others' top k"),
    ("coverage", "coverage", "films shown / catalogue"),
    ("gini", "exposure Gini", "Gini of times shown"),
)


class RoundsPanel(W.VBox):
    """Three views of the rounds. ``selected`` is the list of brushed rounds (shared by the three);
    ``show(history)`` draws the running run, ``keep(key, history, color)`` leaves a run's lines,
    ``highlight(values)`` draws a dashed line on the share chart (the selected films' share)."""

    selected = traitlets.List()

    def __init__(self) -> None:
        super().__init__()
        self.add_class("lab8-feedback-rounds")
        self.views: dict[str, LinkedScatter] = {}
        for key, title, y_label in METRICS:
            v = LinkedScatter(
                [],
                [],
                [],
                title=title,
                x_label="round",
                y_label=y_label,
                height="260px",
                min_width="260px",
                size=40,
            )
            v.add_class(f"lab8-feedback-{key.replace('_', '-')}")
            v.x_axis.tick_format = "d"  # whole rounds
            v.x_axis.tick_values = np.arange(0, 2)
            self.views[key] = v
        self.lines: dict[tuple, bq.Lines] = {}
        share = self.views["group_share"]
        self.highlight_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": share.x_scale, "y": share.y_scale},
            colors=["#d62728"],
            line_style="dashed",
            labels=["selected films"],
        )
        share.figure.marks = [self.highlight_line, *share.figure.marks]
        self.link = link_selection(*self.views.values())
        share.observe(self._on_selected, "selected")
        self.children = [row(*self.views.values())]

    @property
    def all_keys(self) -> list:
        return self.views["group_share"].all_keys

    def _on_selected(self, change) -> None:
        self.selected = list(change["new"])

    @traitlets.observe("selected")
    def _select(self, change) -> None:
        share = self.views["group_share"]
        if list(share.selected) != list(change["new"]):
            share.selected = list(change["new"])  # the link spreads it to the others

    def show(self, history: Sequence[dict]) -> None:
        """The running run's rounds as points (brushable)."""
        rounds = [h["round"] for h in history]
        for key, v in self.views.items():
            last = max(rounds + [1])
            with v.x_scale.hold_sync():  # half a round of room each side: the ends stay brushable
                v.x_scale.min, v.x_scale.max = -0.5, last + 0.5
            step = max(1, -(-last // 10))  # at most about ten whole-round ticks
            v.x_axis.tick_values = np.arange(0, last + 1, step)
            v.set_data(rounds, [h[key] for h in history], rounds)

    def keep(self, run: int, history: Sequence[dict], color: str) -> None:
        """Leave run ``run``'s curves as lines in ``color`` (the runs table's swatch)."""
        x = np.array([h["round"] for h in history], float)
        for key, v in self.views.items():
            line = self.lines.get((run, key))
            if line is None:
                line = bq.Lines(
                    x=x,
                    y=x,
                    scales={"x": v.x_scale, "y": v.y_scale},
                    colors=[color],
                    stroke_width=2,
                    opacities=[0.8],
                )
                self.lines[(run, key)] = line
                v.figure.marks = [line, *v.figure.marks]
            with line.hold_sync():
                line.x, line.y = x, np.array([h[key] for h in history], float)

    def clear(self) -> None:
        for (_run, key), line in self.lines.items():
            v = self.views[key]
            v.figure.marks = [m for m in v.figure.marks if m is not line]
        self.lines.clear()
        self.show([])
        self.highlight([], [])

    def highlight(self, rounds: Sequence[int], values: Sequence[float]) -> None:
        with self.highlight_line.hold_sync():
            self.highlight_line.x = np.asarray(rounds, float)
            self.highlight_line.y = np.asarray(values, float)
