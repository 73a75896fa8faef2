"""The "convolution as matrix multiplication" tab: one convolution unrolled into a matrix product,
beside ``F.conv2d`` on the same crop. Every number comes from ``models.conv.matmul_demo``."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...models.conv import SpreadsheetCNN, matmul_demo
from ...views.controls import with_readout
from ...views.matrix import MatrixView

__all__ = ["MatmulPanel"]

MATMUL_MAX_CROP = 6


class MatmulPanel(W.VBox):
    """One convolution unrolled into a matrix product, beside ``F.conv2d`` on the same crop."""

    def __init__(self, guard, on_error=None):
        """``guard``: the lab's error path for a recompute; ``on_error(text)``: a refused typed value."""
        self._guard = guard
        style = {"description_width": "initial"}
        self.size = W.IntSlider(
            value=5,
            min=2,
            max=MATMUL_MAX_CROP,
            description="crop size",
            style=style,
            layout=W.Layout(width="180px"),
        )
        self.size.add_class("lab8-conv-mm-size")
        self.row, self.col = (
            W.IntSlider(
                value=11,
                min=0,
                max=28 - 2,
                description=d,
                style=style,
                layout=W.Layout(width="200px"),
            )
            for d in ("top row", "left col")
        )
        self.filter = W.Dropdown(
            description="kernel of", style=style, layout=W.Layout(width="160px")
        )
        self.view = MatrixView(css_prefix="lab8-conv-mm-")
        self.view.layout = W.Layout(max_width="100%", overflow="auto")
        self.check = W.HTML()
        self.check.add_class("lab8-conv-mm-check")
        self.note = W.HTML()
        self._source: tuple[np.ndarray, SpreadsheetCNN] | None = None
        for w in (self.size, self.row, self.col, self.filter):
            w.observe(lambda _c: self.refresh(), "value")
        # typed readouts: a value is used exactly or refused (the bounds are the sliders')
        boxes = []
        self.readouts = {}
        for w, name in ((self.size, "crop size"), (self.row, "top row"), (self.col, "left col")):
            box, self.readouts[name] = with_readout(w, name, on_error)
            boxes.append(box)
        super().__init__(
            [
                W.HBox(
                    [*boxes, self.filter],
                    layout=W.Layout(flex_flow="row wrap", gap="2px 10px"),
                ),
                W.HTML(
                    "<div class='lab8-conv-note'>Each output of a convolution is a dot product, so the "
                    "whole convolution is one matrix multiplication: one row per output cell, one column "
                    "per input pixel. The kernel's weights appear in every row (same colour = the same, "
                    "<i>tied</i>, weight); grey entries are zeros.</div>"
                ),
                self.view,
                self.note,
                self.check,
            ]
        )
        self.add_class("lab8-conv-matmul")
        self.active = False

    def set_filters(self, n: int) -> None:
        if list(o[1] for o in self.filter.options) != list(range(n)):
            keep = self.filter.value
            self.filter.options = [(f"filter {i}", i) for i in range(n)]
            self.filter.value = keep if keep is not None and keep < n else 0

    def show(self, image: np.ndarray, model: SpreadsheetCNN) -> None:
        self._source = (image, model)
        self.set_filters(model.n_filters)
        if self.active:
            self.refresh()

    def refresh(self) -> None:
        """Recompute for the current crop and kernel (only while the tab is open: drags stay fast)."""
        if not self.active or self._source is None:
            return
        with self._guard():
            image, m = self._source
            size = self.size.value
            for s in (self.row, self.col):
                s.max = 28 - size
            r0, c0 = self.row.value, self.col.value
            i = (
                self.filter.value
                if self.filter.value is not None and self.filter.value < m.n_filters
                else 0
            )
            crop = image[r0 : r0 + size, c0 : c0 + size]
            kernel = m.kernel(i)
            try:
                demo = matmul_demo(crop, kernel, m.stride, m.padding)
            except ValueError as e:
                self.note.value = (
                    f"<div class='lab8-conv-note'>{e}: make the crop bigger or add padding</div>"
                )
                return
            k = kernel.shape[0]
            ref = demo.reference.numpy()
            vmax = float(np.abs(ref).max(initial=0.0)) or 1.0
            oh, ow = ref.shape
            ocell = int(max(12, min(30, 180 // max(oh, ow))))
            scale = {
                "vmin": -vmax,
                "vmax": vmax,
                "show_values": ocell >= 18,
                "cell": ocell,
                "decimals": 2,
            }
            self.view.show(
                demo.matrix.numpy(),
                demo.flat_input.numpy(),
                demo.product.numpy(),
                ties=demo.index,
                titles=("weight matrix", "flat input", "product"),
                vector_scale=(0.0, 1.0),
                before=[
                    (
                        "crop",
                        crop,
                        {
                            "cmap": "gray",
                            "vmin": 0.0,
                            "vmax": 1.0,
                            "cell": 30,
                            "show_values": True,
                            "decimals": 2,
                            "title": f"input crop rows {r0}–{r0 + size - 1}, cols {c0}–{c0 + size - 1}",
                        },
                    ),
                    (
                        "kernel",
                        kernel.numpy(),
                        {
                            "ties": np.arange(k * k).reshape(k, k),
                            "cell": 26,
                            "show_values": True,
                            "decimals": 2,
                            "title": f"kernel of filter {i}",
                        },
                    ),
                ],
                after=[
                    (
                        "output",
                        demo.output.numpy(),
                        {**scale, "title": "product reshaped", "subtitle": f"{oh}×{ow}"},
                    ),
                    (
                        "torch",
                        ref,
                        {
                            **scale,
                            "title": "F.conv2d",
                            "subtitle": f"stride {m.stride}, padding {m.padding}",
                        },
                    ),
                ],
            )
            rows, cols = demo.index.shape
            n_tied = int((demo.index >= 0).sum())
            self.note.value = (
                f"<div class='lab8-conv-note'>weight matrix {rows}×{cols}: {n_tied} entries from {k * k} "
                f"weights, {rows * cols - n_tied} zeros</div>"
            )
            ok = demo.max_abs_error <= 1e-4 * max(1.0, vmax)
            self.check.value = (
                f"<div class='lab8-conv-note' style='color:{'#1a7f37' if ok else '#b42318'}'>"
                f"max |matmul − F.conv2d| = {demo.max_abs_error:.1e} {'✓ equal' if ok else '✗ differ'}</div>"
            )
