"""ConvLab's panels around the chain: the controls (made from ``ConvConfig``), the input column with
the drawing pad, and the prediction column. Each panel is given what it needs (the traits to link,
callbacks, the error path) and calls back; none knows the lab. No math here."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets

from ...models.conv import KERNEL_PRESETS, ConvConfig
from ...views.controls import SliderReadout, control_for, with_readout
from ...views.heatmap import HeatmapGrid

__all__ = ["ConvControls", "InputPanel", "PredictionPanel", "head", "prediction_html"]

POOL_LABELS = {"max": "max pool", "avg": "avg pool", "none": "no pool"}
INPUT_COL = 176
PRED_COL = 120
ROW = dict(flex_flow="row wrap", align_items="center", gap="2px 10px")
STYLE = {"description_width": "initial"}


def head(title: str, *notes: str) -> W.HTML:
    """A column title with small notes under it."""
    lines = "".join(f"<small>{html.escape(t)}</small>" for t in notes if t)
    h = W.HTML(f"<div class='lab8-conv-head'>{html.escape(title)}{lines}</div>")
    h.layout.width = "100%"
    return h


def scaling_html(p: float, training: bool) -> str:
    """What dropout does to the kept activations right now."""
    if p == 0:
        return "<span class='lab8-conv-note'>dropout off (p = 0)</span>"
    if not training:
        return "<span class='lab8-conv-note'>eval: no mask, no scaling</span>"
    return (
        f"<span class='lab8-conv-note'>train: kept activations × 1/(1−p) = "
        f"1/(1−{p:g}) = <b>×{1 / (1 - p):.3g}</b>, dropped ones are 0</span>"
    )


class ConvControls(W.VBox):
    """Every setting's control, linked both ways to the trait of the same name on ``settings``.

    A slider's readout takes exactly what was typed or refuses it (``readouts[name]``). Callbacks:
    ``on_stride2(on)``, ``on_preset(filter or "all", preset)``, ``on_new_mask()``.
    """

    def __init__(
        self,
        settings: traitlets.HasTraits,
        n_digits: int,
        on_error: Callable[[str], None],
        on_stride2: Callable[[bool], None],
        on_preset: Callable[[int | str, str], None],
        on_new_mask: Callable[[], None],
    ):
        self.readouts: dict[str, SliderReadout] = {}
        self._on_error = on_error
        self._quiet = False
        self.index_slider = W.IntSlider(
            value=settings.index,
            min=0,
            max=n_digits - 1,
            description="sample digit",
            style=STYLE,
            layout=W.Layout(width="230px"),
        )
        self.index_slider.add_class("lab8-conv-index")
        W.link((self.index_slider, "value"), (settings, "index"))
        index_box = self._readout(self.index_slider, "index")
        self.kernel_slider, kernel_box = self._setting(settings, "kernel_size")
        self.filters_slider, filters_box = self._setting(settings, "n_filters")
        self.stride_slider, stride_box = self._setting(settings, "stride")
        self.padding_slider, padding_box = self._setting(settings, "padding")
        self.pool_buttons = W.ToggleButtons(
            options=[(POOL_LABELS[c], c) for c in ConvConfig.spec("pool").choices],
            value=settings.pool,
            style={"button_width": "78px"},
        )
        self.pool_buttons.add_class("lab8-conv-pool-type")
        W.link((self.pool_buttons, "value"), (settings, "pool"))
        self.pool_size_slider, pool_size_box = self._setting(settings, "pool_size")
        self.stride2_toggle = W.ToggleButton(
            value=False,
            description="stride-2 conv instead of pooling",
            layout=W.Layout(width="230px"),
            tooltip="one click: conv1 stride 2 and no pooling, or back",
        )
        self.stride2_toggle.add_class("lab8-conv-stride2")
        self.stride2_toggle.observe(
            lambda ch: None if self._quiet else on_stride2(bool(ch["new"])), "value"
        )
        self.filter_pick = W.Dropdown(
            description="preset for", style=STYLE, layout=W.Layout(width="150px")
        )
        self.filter_pick.add_class("lab8-conv-preset-filter")
        self.preset_pick = W.Dropdown(
            options=list(KERNEL_PRESETS), value="top_edge", layout=W.Layout(width="120px")
        )
        self.preset_pick.add_class("lab8-conv-preset")
        self.preset_button = W.Button(description="apply", layout=W.Layout(width="60px"))
        self.preset_button.add_class("lab8-conv-preset-apply")
        self.preset_button.on_click(
            lambda _b: on_preset(
                "all" if self.filter_pick.value == "all" else int(self.filter_pick.value),
                self.preset_pick.value,
            )
        )
        self.activation_pick, _ = self._setting(settings, "activation")
        self.dropout_slider, dropout_box = self._setting(settings, "dropout", step=0.05)
        self.mode_buttons = W.ToggleButtons(
            options=[("train", True), ("eval", False)],
            value=settings.training,
            style={"button_width": "56px"},
            tooltips=["mask and 1/(1−p) scaling", "no mask, no scaling"],
        )
        self.mode_buttons.add_class("lab8-conv-mode")
        W.link((self.mode_buttons, "value"), (settings, "training"))
        self.mask_button = W.Button(description="new mask", layout=W.Layout(width="90px"))
        self.mask_button.add_class("lab8-conv-new-mask")
        self.mask_button.on_click(lambda _b: on_new_mask())
        self.scaling_note = W.HTML()
        self.scaling_note.add_class("lab8-conv-scaling")
        rows = [
            [index_box, kernel_box, filters_box, stride_box, padding_box],
            [
                self.pool_buttons,
                pool_size_box,
                self.stride2_toggle,
                self.filter_pick,
                self.preset_pick,
                self.preset_button,
            ],
            [
                self.activation_pick,
                dropout_box,
                self.mode_buttons,
                self.mask_button,
                self.scaling_note,
            ],
        ]
        super().__init__([W.HBox(r, layout=W.Layout(**ROW)) for r in rows])
        self.add_class("lab8-conv-controls")

    def _readout(self, slider: W.Widget, name: str) -> W.HBox:
        box, self.readouts[name] = with_readout(slider, name, self._on_error)
        self.readouts[name].add_class(f"lab8-conv-{name.replace('_', '-')}-readout")
        return box

    def _setting(self, settings: traitlets.HasTraits, name: str, **kw: Any):
        """The control ``control_for`` makes for ``name``, linked both ways to the trait; (control,
        what goes in the row: a slider with its typed readout, or the control)."""
        w = control_for(ConvConfig, name, getattr(settings, name), on_error=self._on_error, **kw)
        w.add_class(f"lab8-conv-{name.replace('_', '-')}")
        W.link((w, "value"), (settings, name))
        if isinstance(w, W.IntSlider | W.FloatSlider):
            w.layout.width = "170px"
            return w, self._readout(w, name)
        return w, w

    def sync(self, cfg: ConvConfig, training: bool) -> None:
        """Controls that depend on other settings: the stride-2 toggle, pool size, the mask."""
        self._quiet = True
        try:
            self.stride2_toggle.value = cfg.pool == "none" and cfg.stride == 2
        finally:
            self._quiet = False
        self.pool_size_slider.disabled = cfg.pool == "none"
        self.mask_button.disabled = cfg.dropout == 0 or not training
        self.scaling_note.value = scaling_html(cfg.dropout, training)

    def set_filters(self, n: int) -> None:
        """The preset picker offers filters 0 … n − 1 and "all filters"."""
        options = [(f"filter {i}", str(i)) for i in range(n)] + [("all filters", "all")]
        if [o[1] for o in self.filter_pick.options] != [o[1] for o in options]:
            keep = self.filter_pick.value
            self.filter_pick.options = options
            self.filter_pick.value = keep if keep in [o[1] for o in options] else "0"


class InputPanel(W.VBox):
    """The input digit (click a pixel) and the drawing pad under it.

    Callbacks: ``on_click(r, c)``, ``on_draw(image)`` with the pad's 28×28 values after a stroke,
    ``on_clear()`` after the pad is cleared, ``on_digit()`` to go back to the sample digit.
    """

    def __init__(
        self,
        on_click: Callable[[int, int], None],
        on_draw: Callable[[np.ndarray], None],
        on_clear: Callable[[], None],
        on_digit: Callable[[], None],
        guard: Callable,
    ):
        self._on_draw, self._guard = on_draw, guard
        self.grid = HeatmapGrid(cell=6, cmap="gray", vmin=0.0, vmax=1.0)
        self.grid.add_class("lab8-conv-input")
        self.grid.on_click(on_click)
        self.pad = HeatmapGrid(
            np.zeros((28, 28), np.float32),
            cell=5,
            cmap="gray",
            vmin=0.0,
            vmax=1.0,
            drawable=True,
            brush_value=1.0,
            title="draw a digit",
            subtitle="drag to paint",
        )
        self.pad.add_class("lab8-conv-pad")
        self.pad.on_draw(self._stroke)
        self.clear_button = W.Button(
            description="clear",
            layout=W.Layout(width="70px"),
            tooltip="clear the pad and show the sample digit again",
        )
        self.clear_button.add_class("lab8-conv-clear")
        self.clear_button.on_click(lambda _b: self._clear(on_clear))
        self.index_label = W.HTML("<span class='lab8-conv-note'>or draw one below ↓</span>")
        self.index_label.add_class("lab8-conv-note")
        self.digit_button = W.Button(
            description="back to the digit",
            layout=W.Layout(width="140px", display="none"),
            tooltip="show the sample digit the slider points at",
        )
        self.digit_button.add_class("lab8-conv-digit")
        self.digit_button.on_click(lambda _b: on_digit())
        super().__init__(
            [
                head("input", "1×28×28", "values in [0, 1]"),
                self.grid,
                W.HBox(  # one fixed-height row, so the pad below never moves mid-stroke
                    [self.index_label, self.digit_button],
                    layout=W.Layout(height="34px", align_items="center", justify_content="center"),
                ),
                self.pad,
                self.clear_button,
            ],
            layout=W.Layout(align_items="center", width=f"{INPUT_COL}px", flex="0 0 auto"),
        )

    def _stroke(self, cells: Sequence[tuple[int, int, float]], done: bool) -> None:
        """Paint a stroke's cells (the brightest value wins, in [0, 1]) and hand the pad on."""
        with self._guard():
            arr = self.pad.values
            for r, c, v in cells:
                if 0 <= r < arr.shape[0] and 0 <= c < arr.shape[1] and math.isfinite(v):
                    arr[r, c] = max(arr[r, c], min(max(v, 0.0), 1.0))
            self.pad.values = arr
            self._on_draw(arr.copy())

    def _clear(self, on_clear: Callable[[], None]) -> None:
        with self._guard():
            self.pad.values = np.zeros((28, 28), np.float32)
            on_clear()

    def show(self, image: np.ndarray, label: str) -> None:
        """The input the network sees, titled by where it came from."""
        if not np.array_equal(self.grid.values if self.grid.data else None, image):
            self.grid.values = image
        if self.grid.title != label:
            self.grid.title = label
        sample = label.startswith("MNIST")
        self.digit_button.layout.display = "none" if sample else ""
        self.index_label.layout.display = "" if sample else "none"

    def mark(self, highlight: list[list[int]], selected: list[int]) -> None:
        """The receptive field's window on the input, and a clicked input pixel."""
        if self.grid.highlight != highlight:
            self.grid.highlight = highlight
        if self.grid.selected != selected:
            self.grid.selected = selected


def prediction_html(probs: np.ndarray, classes: Sequence[str], fit: str) -> str:
    """The predicted class, every class's probability, and how the dense layer was fitted."""
    best = int(np.argmax(probs))
    ps = " · ".join(f"P({html.escape(c)})={p:.2f}" for c, p in zip(classes, probs, strict=False))
    return (
        f"<div class='lab8-conv-note'><b>predicts {html.escape(classes[best])}</b> ({ps})<br>"
        f"<span style='color:#666'>{html.escape(fit)}</span></div>"
    )


class PredictionPanel(W.VBox):
    """The softmax's verdict and the "refit dense" button (``on_fit()``)."""

    def __init__(self, on_fit: Callable[[], None]):
        self.text = W.HTML(layout=W.Layout(width=f"{PRED_COL}px"))
        self.text.add_class("lab8-conv-prediction")
        self.fit_button = W.Button(
            description="refit dense",
            layout=W.Layout(width="116px", flex="0 0 auto"),
            tooltip="logistic regression on the sample's pooled features",
        )
        self.fit_button.add_class("lab8-conv-fit")
        self.fit_button.on_click(lambda _b: on_fit())
        super().__init__(
            [head("prediction"), self.text, self.fit_button],
            layout=W.Layout(align_items="center", width=f"{PRED_COL}px", flex="0 0 auto"),
        )
        self.add_class("lab8-conv-col")
        self.add_class("lab8-conv-predictions")
