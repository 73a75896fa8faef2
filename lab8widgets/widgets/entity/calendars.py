"""The Weekdays and months section: each calendar embedding's PCA as a ring joined in calendar order,
with its calendar score and how many training rows each day had (why Sunday sits near the centre).

The panel draws what it is given; the lab reads the model."""

from __future__ import annotations

from collections.abc import Sequence

import bqplot as bq
import ipywidgets as W
import numpy as np

from ...views import LinkedScatter
from .common import fit_domain, labelled, wrap

__all__ = ["CalendarPanel", "sparse_days_text"]


def sparse_days_text(labels: Sequence[str], counts: Sequence[int]) -> str:
    """Why a day with few training rows sits near the ring's centre, with its row count ("" when
    every day has at least half the median day's rows)."""
    counts = np.asarray(counts, dtype=np.int64)
    med = float(np.median(counts)) if len(counts) else 0.0
    few = [(lab, int(n)) for lab, n in zip(labels, counts, strict=True) if n < 0.5 * med]
    if not few:
        return ""
    shown = ", ".join(
        f"{lab}: {n:,} training rows ({n / med:.0%} of a median day's)" for lab, n in few
    )
    return (
        f" {shown}. Most stores are closed then (on Sundays only stores like Rossmann's station "
        "stores open), so its vector gets few gradient updates and weight decay pulls it toward "
        "the centre of the ring: its place says little about the calendar."
    )


class CalendarPanel(W.HBox):
    """One ring view per calendar kind (``kinds``: kind -> its title)."""

    def __init__(self, kinds: Sequence[str]):
        self.rings: dict[str, LinkedScatter] = {}
        self.ring_lines: dict[str, bq.Lines] = {}
        self.ring_html: dict[str, W.HTML] = {}
        boxes = []
        for kind in kinds:
            view = labelled(
                LinkedScatter([], [], [], title=f"{kind} embedding (PCA)", height="320px")
            )
            view.add_class(f"lab8-entity-ring-{kind}")
            line = bq.Lines(
                x=np.zeros(0),
                y=np.zeros(0),
                colors=["#999"],
                scales={"x": view.x_scale, "y": view.y_scale},
            )
            view.figure.marks = [line, view.mark]
            self.rings[kind], self.ring_lines[kind] = view, line
            self.ring_html[kind] = W.HTML()
            boxes.append(W.VBox([view, self.ring_html[kind]], layout=W.Layout(flex="1 1 360px")))
        super().__init__(boxes, layout=wrap())

    def draw(
        self, kind: str, xy: np.ndarray, keys: list[str], order: np.ndarray, text: str
    ) -> None:
        """Points ``xy`` named ``keys``, joined in calendar ``order`` and back to the first."""
        view, line = self.rings[kind], self.ring_lines[kind]
        view.set_data(xy[:, 0], xy[:, 1], keys)
        fit_domain(view, xy[:, 0], xy[:, 1])
        ring = np.r_[order, order[:1]]
        with line.hold_sync():
            line.x, line.y = xy[ring, 0], xy[ring, 1]
        self.ring_html[kind].value = text

    def say(self, kind: str, text: str) -> None:
        self.ring_html[kind].value = text
