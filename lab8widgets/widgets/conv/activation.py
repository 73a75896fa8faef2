"""The "activation function" tab: the chosen non-linearity, its derivative (autograd) and how many
activations it zeroes on the current image. The curves come from ``models.layers``."""

from __future__ import annotations

from collections import OrderedDict

import bqplot as bq
import ipywidgets as W
import numpy as np
import torch

from ...models.layers import FORMULAS, activation_curve

__all__ = ["ActivationPanel"]


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
        for pre, post in (("conv1", "act1"), ("conv2", "act2")):
            total = acts[post].size
            zeroed = int((acts[post] == 0).sum())
            neg = int((acts[pre] < 0).sum())
            self.counts[post] = zeroed
            lines.append(
                f"<b>{post} = {name}({pre})</b>: {zeroed:,} of {total:,} activations are exactly 0 "
                f"({zeroed / total:.0%}); {neg:,} inputs were negative"
            )
        self.text.value = (
            f"<div class='lab8-conv-note'>On the current image, {name}:<br>{'<br>'.join(lines)}"
            "<br><small>ReLU zeroes every negative input; LeakyReLU, GELU, SiLU and Mish let a little "
            "through (their gradient is not 0 there), sigmoid and tanh squash.</small></div>"
        )
