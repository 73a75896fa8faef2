"""The lab index: what each lab is, a link to it, the lesson part by part (each part a link to the
lab and the section that shows it), and a first taste of the heatmap component on a real MNIST digit
(click a pixel to read its value, as in the lesson's spreadsheet)."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ..labs import LABS
from ..lesson import PARTS, section_href
from ..views.heatmap import HeatmapGrid
from ._base import LabBase

LINK = "color:#1565c0;text-decoration:underline;font-weight:600"


class LabIndex(LabBase):
    """Links to every lab in the registry (``labs.py``) plus a clickable MNIST digit, so the index
    is itself a working widget. It is the page's only heading (the notebook has none)."""

    is_index = True  # no "← all labs" link on the index itself

    def __init__(self, digit: int = 0, **kwargs):
        super().__init__(title="Lesson 8 labs: embeddings and convolutions", **kwargs)
        self.add_class("lab8-index")
        from ..data import mnist_sample

        digits = mnist_sample()
        self.source = digits.source
        if not 0 <= digit < len(digits.images):
            raise ValueError(f"digit must be between 0 and {len(digits.images) - 1}, got {digit}")
        items = "".join(
            f'<li><a class="lab8-link" href="{html.escape(lab.notebook)}" style="{LINK}">'
            f"{html.escape(lab.name)}</a>"
            f" — {html.escape(lab.description)}</li>"
            for lab in LABS
            if lab.name != "index"
        )
        intro = "fast.ai Part 1, Lesson 8 as live widgets. Each lab wraps a real PyTorch model."
        self.links = W.HTML(
            f"<p style='font-size:14px;margin:4px 0'>{intro}</p>"
            f"<ul style='font-size:14px;line-height:1.8'>{items}</ul>"
        )
        names = {lab.name: lab.class_name for lab in LABS}
        parts = "".join(
            f'<li><span class="lab8-time">{html.escape(p.time)}</span> {html.escape(p.title)} → '
            f'<a class="lab8-part" href="{html.escape(section_href(p))}" style="color:#1565c0">'
            f"{html.escape(names[p.lab])} · {html.escape(p.section)}</a></li>"
            for p in PARTS
        )
        self.lesson_map = W.HTML(
            "<div class='lab8-section'>The lesson, part by part</div>"
            "<p style='font-size:13px;margin:4px 0;color:#555'>Watching Lesson 8? Each part opens "
            "the lab, at the section, that shows it (times from the lesson's outline).</p>"
            f"<ol class='lab8-lesson-map' style='font-size:13px;line-height:1.7'>{parts}</ol>"
        )
        self.grid = HeatmapGrid(
            digits.images[digit],
            cmap="gray",
            vmin=0.0,
            vmax=1.0,
            cell=12,
            title=f"An MNIST {int(digits.labels[digit])}: 28×28 numbers in [0, 1]",
            subtitle="click a pixel to read its value",
        )
        self.grid.add_class("lab8-index-digit")
        self.pixel = W.HTML("<code>pixel[row, col] = …</code>")
        self.pixel.add_class("lab8-pixel")
        self.clicked: tuple[int, int, float] | None = None
        self.grid.on_click(self._on_click)
        self.body.children = [
            self.links,
            W.HBox([self.grid, self.pixel], layout=W.Layout(gap="16px")),
            self.lesson_map,
        ]

    def _on_click(self, row: int, col: int) -> None:
        with self.guard():
            value = float(np.asarray(self.grid.values)[row, col])
            self.clicked = (row, col, value)
            self.pixel.value = f"<code>pixel[{row}, {col}] = {value:.3f}</code>"
