"""ConvLab's parts that are not the chain itself: how the chain is laid out (cell sizes, titles),
the "convolution as matrix multiplication" tab and the activation panel. Views only: every number
comes from ``lab8widgets.models``."""

from __future__ import annotations

import math
from collections import OrderedDict

import bqplot as bq
import ipywidgets as W
import numpy as np
import torch

from ..models.conv import SpreadsheetCNN, StageMeta, matmul_demo
from ..models.layers import FORMULAS, activation_curve
from ..views.matrix import MatrixView

__all__ = ["ActivationPanel", "MatmulPanel", "chain_layout", "shape_text"]

MAP_STAGES = ("conv1", "relu1", "conv2", "relu2", "mask", "dropout", "pool")
MATMUL_MAX_CROP = 6
# Width budget (px) for the chain at 1280 px: beyond it, the chain scrolls inside its own box.
CHAIN_WIDTH, MIN_COL = 1000, 92
KERNEL_HEIGHT = 430  # px: the kernel editors' column never grows taller than this


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _note(stage: str, m: StageMeta, model: SpreadsheetCNN) -> list[str]:
    """Two short lines under a column title: how it is computed, and its parameter count."""
    if stage == "conv1":
        return [
            f"{m.kernel}×{m.kernel}, stride {m.stride}, pad {m.padding}",
            f"{m.params:,} params",
        ]
    if stage == "conv2":
        return [f"{m.kernel}×{m.kernel}×{model.n_filters}, pad {m.padding}", f"{m.params:,} params"]
    if stage == "pool":
        if model.pool_type == "none":
            return ["none: = its input"]
        return [f"{model.pool_type} {m.kernel}×{m.kernel}, stride {m.stride}"]
    if stage == "mask":
        p = model.dropout
        if not model.training:
            return [f"p = {p:g}", "eval: no mask"]
        return [f"p = {p:g}, seed {model.drop.seed}", f"kept × 1/(1−p) = ×{1 / (1 - p):.3g}"]
    if stage == "dropout":
        return ["mask · relu2 / (1−p)" if model.training else "eval: = relu2"]
    return [FORMULAS.get(model.activation, model.activation)]


def stage_title(stage: str, model: SpreadsheetCNN) -> str:
    act = {
        "relu": "ReLU",
        "leaky_relu": "LeakyReLU",
        "gelu": "GELU",
        "silu": "SiLU",
        "mish": "Mish",
    }
    name = act.get(model.activation, model.activation)
    return {"relu1": name, "relu2": name, "mask": "dropout mask", "dropout": "dropout"}.get(
        stage, stage
    )


def chain_layout(meta: OrderedDict[str, StageMeta], model: SpreadsheetCNN) -> list[dict]:
    """The chain's groups for ``HeatmapStack``: kernels, one column per stage, dense → softmax.

    Cell sizes aim at CHAIN_WIDTH for the default network (no scrolling at 1280 px); larger ones
    keep readable cells and scroll inside the chain's box.
    """
    n, k = model.n_filters, model.kernel_size
    # kernel editors keep cells big enough to read and drag (≥ 20 px) and stack at most KERNEL_HEIGHT
    # high; more kernels go side by side (the chain scrolls sideways, never down the page)
    kcell = int(max(20, min(36, 150 // k)))
    rows = max(1, min(n, int(KERNEL_HEIGHT // (k * kcell + 32))))
    cols = math.ceil(n / rows)
    rows = math.ceil(n / cols)
    kernel_w = max(cols * (k * kcell + 14), 112)
    groups: list[dict] = [
        {
            "key": "kernels",
            "title": "layer-1 kernels",
            "notes": [f"{n}×{k}×{k}", "drag ↕ · double-click to type"],
            "parts": [
                {
                    "columns": cols,
                    "legend": True,
                    "grids": [
                        {
                            "key": ("kernel", i),
                            "cell": kcell,
                            "show_values": True,
                            "decimals": 2 if kcell >= 30 else 1,
                            "editable": True,
                            "step": 0.1,
                            "title": f"filter {i}",
                        }
                        for i in range(n)
                    ],
                }
            ],
        }
    ]
    stages = [s for s in MAP_STAGES if s in meta or (s == "mask" and "dropout" in meta)]
    shape = {s: meta["relu2" if s == "mask" else s].shape for s in stages}
    mcols = {s: math.ceil(shape[s][0] / 2) for s in stages}  # at most two rows of maps
    spare = CHAIN_WIDTH - kernel_w - 170 - len(stages) * 14
    by_width = spare / sum(mcols[s] * (shape[s][2] + 3) for s in stages)
    for stage in stages:
        C, H, Wd = shape[stage]
        mrows = math.ceil(C / mcols[stage])
        budget = 430 if stage != "conv2" else 330
        cell = int(max(3, min(7, by_width, (budget / mrows - 36) // H)))
        label = (
            "filter" if stage in ("conv1", "conv2") else ("channel" if mcols[stage] == 1 else "ch")
        )
        gray = stage == "mask"
        maps = {
            "columns": mcols[stage],
            "legend": not gray,
            "cmap": "gray" if gray else "diverging",
            "vmin": 0.0 if gray else None,
            "vmax": 1.0 if gray else None,
            "grids": [
                {"key": (stage, ch), "cell": cell, "title": f"{label} {ch}"} for ch in range(C)
            ],
        }
        parts = [maps]
        if stage == "conv2":
            width = max(mcols[stage] * (Wd * cell + 12), MIN_COL)
            wcell = int(max(4, min(8, (width - 12) // (n * k))))
            weights = {
                "grids": [
                    {
                        "key": ("conv2w", j),
                        "cell": wcell,
                        "title": f"filter {j} weights",
                        "subtitle": f"{n} channels × {k}×{k}",
                    }
                    for j in range(C)
                ]
            }
            parts = [weights, maps]
        m = meta.get(stage) if stage != "mask" else meta["dropout"]
        notes = [shape_text(shape[stage]), *_note(stage, m, model)]
        groups.append(
            {"key": stage, "title": stage_title(stage, model), "notes": notes, "parts": parts}
        )
    cls = model.classes
    feats = math.prod(meta["pool"].shape)
    groups.append(
        {
            "key": "dense",
            "title": "dense → softmax",
            "notes": [f"{feats} → {len(cls)}", f"{meta['dense'].params:,} params"],
            "parts": [
                {
                    "grids": [
                        {
                            "key": ("dense",),
                            "cell": 40,
                            "show_values": True,
                            "decimals": 2,
                            "title": "dense (logits)",
                            "subtitle": " | ".join(cls),
                        }
                    ]
                },
                {
                    "cmap": "gray",
                    "vmin": 0.0,
                    "vmax": 1.0,
                    "grids": [
                        {
                            "key": ("output",),
                            "cell": 40,
                            "show_values": True,
                            "decimals": 2,
                            "title": "softmax",
                            "subtitle": " | ".join(cls),
                        }
                    ],
                },
            ],
        }
    )
    return groups


class MatmulPanel(W.VBox):
    """One convolution unrolled into a matrix product, beside ``F.conv2d`` on the same crop."""

    def __init__(self, guard):
        self._guard = guard
        style = {"description_width": "initial"}
        self.size = W.IntSlider(
            value=5,
            min=2,
            max=MATMUL_MAX_CROP,
            description="crop size",
            style=style,
            layout=W.Layout(width="200px"),
        )
        self.size.add_class("lab8-conv-mm-size")
        self.row, self.col = (
            W.IntSlider(
                value=11,
                min=0,
                max=28 - 2,
                description=d,
                style=style,
                layout=W.Layout(width="220px"),
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
        super().__init__(
            [
                W.HBox(
                    [self.size, self.row, self.col, self.filter],
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


class ActivationPanel(W.HBox):
    """The chosen non-linearity and its derivative (autograd), and how many activations it zeroes."""

    def __init__(self):
        self.x = np.linspace(-4, 4, 161)
        self.figure: bq.Figure | None = (
            None  # made when first shown: bqplot can't lay out a hidden tab
        )
        self.text = W.HTML()
        self.text.add_class("lab8-conv-activation-note")
        self.name = ""
        self.counts: dict[str, int] = {}  # stage → activations that are exactly 0
        super().__init__([self.text], layout=W.Layout(gap="16px", align_items="center"))

    def _build(self) -> None:
        x = self.x
        sx, sy = bq.LinearScale(min=-4, max=4), bq.LinearScale(min=-1.5, max=4)
        self.f = bq.Lines(
            x=x,
            y=np.zeros_like(x),
            scales={"x": sx, "y": sy},
            colors=["#b2182b"],
            labels=["f(x)"],
            display_legend=True,
        )
        self.df = bq.Lines(
            x=x,
            y=np.zeros_like(x),
            scales={"x": sx, "y": sy},
            colors=["#2166ac"],
            line_style="dashed",
            labels=["f′(x) (autograd)"],
            display_legend=True,
        )
        self.figure = bq.Figure(
            marks=[self.f, self.df],
            axes=[bq.Axis(scale=sx, label="x"), bq.Axis(scale=sy, orientation="vertical")],
            layout=W.Layout(width="360px", height="240px"),
            fig_margin={"top": 30, "bottom": 40, "left": 40, "right": 10},
            legend_location="top-left",
        )
        self.figure.add_class("lab8-conv-activation-plot")
        self.children = [self.figure, self.text]

    def show(self, name: str, acts: OrderedDict[str, np.ndarray]) -> None:
        if self.figure is None:
            self._build()
        if name != self.name:
            y, dy = activation_curve(name, torch.as_tensor(self.x))
            with self.f.hold_sync(), self.df.hold_sync():
                self.f.y = y.numpy()
                self.df.y = dy.numpy()
            self.figure.title = f"{name}: {FORMULAS.get(name, name)}"
            self.name = name
        lines = []
        self.counts = {}
        for pre, post in (("conv1", "relu1"), ("conv2", "relu2")):
            total = acts[post].size
            zeroed = int((acts[post] == 0).sum())
            neg = int((acts[pre] < 0).sum())
            self.counts[post] = zeroed
            lines.append(
                f"<b>{post}</b>: {zeroed:,} of {total:,} activations are exactly 0 "
                f"({zeroed / total:.0%}); {neg:,} inputs were negative"
            )
        self.text.value = (
            f"<div class='lab8-conv-note'>On the current image, {name}:<br>{'<br>'.join(lines)}"
            "<br><small>ReLU zeroes every negative input; LeakyReLU, GELU, SiLU and Mish let a little "
            "through (their gradient is not 0 there), sigmoid and tanh squash.</small></div>"
        )
