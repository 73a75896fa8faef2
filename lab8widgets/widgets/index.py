"""The lab index: what each lab is, a link to it, and a first taste of the heatmap component on a
real MNIST digit (click a pixel to read its value, as in the lesson's spreadsheet)."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ..server import LABS
from ._base import LabBase
from .grid import HeatmapGrid


class LabIndex(LabBase):
    """Links to every lab plus a clickable MNIST digit, so the index is itself a working widget."""

    def __init__(self, digit: int = 0, **kwargs):
        super().__init__(title="Lesson 8 labs: embeddings and convolutions", **kwargs)
        self.add_class("lab8-index")
        from ..data import mnist_sample

        digits = mnist_sample()
        self.source = digits.source
        if not 0 <= digit < len(digits.images):
            raise ValueError(f"digit must be between 0 and {len(digits.images) - 1}, got {digit}")
        items = "".join(
            f'<li><a class="lab8-link" href="{name}.ipynb">{html.escape(name)}</a> — {html.escape(text)}</li>'
            for name, text in LABS.items()
            if name != "index"
        )
        self.links = W.HTML(f"<ul style='font-size:14px;line-height:1.8'>{items}</ul>")
        self.grid = HeatmapGrid(
            digits.images[digit],
            cmap="gray",
            vmin=0.0,
            vmax=1.0,
            cell=12,
            title=f"An MNIST {int(digits.labels[digit])}: 28×28 numbers in [0, 1]",
            subtitle="click a pixel",
        )
        self.grid.add_class("lab8-index-digit")
        self.pixel = W.HTML("<code>click a pixel to read its value</code>")
        self.pixel.add_class("lab8-pixel")
        self.clicked: tuple[int, int, float] | None = None
        self.grid.on_click(self._on_click)
        self.body.children = [
            self.links,
            W.HBox([self.grid, self.pixel], layout=W.Layout(gap="16px")),
        ]

    def _on_click(self, row: int, col: int) -> None:
        with self.guard():
            value = float(np.asarray(self.grid.values)[row, col])
            self.clicked = (row, col, value)
            self.pixel.value = f"<code>pixel[{row}, {col}] = {value:.3f}</code>"
