"""ConvLab's page: controls made from ``ConvConfig``, the input column with the drawing pad, the chain
(one ``HeatmapStack``), and the tabs. ``build_view`` puts the widgets on the lab; ``show_around``
refreshes what sits around the chain after each render. No math here."""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import TYPE_CHECKING

import ipywidgets as W
import numpy as np

from ..models.conv import KERNEL_PRESETS, ConvConfig
from ..views.controls import control_for
from ..views.heatmap import HeatmapGrid, HeatmapStack
from .conv_panels import ActivationPanel, MatmulPanel

if TYPE_CHECKING:
    from .conv import ConvLab

POOL_LABELS = {"max": "max pool", "avg": "avg pool", "none": "no pool"}
INPUT_COL = 176
PRED_COL = 120
ROW = dict(flex_flow="row wrap", align_items="center", gap="2px 10px")


def _setting(lab: ConvLab, name: str, **kw) -> W.Widget:
    """The control ``control_for`` makes for ``name``, linked both ways to the lab's trait."""
    w = control_for(ConvConfig, name, getattr(lab, name), on_error=lab.fail, **kw)
    w.add_class(f"lab8-conv-{name.replace('_', '-')}")
    W.link((w, "value"), (lab, name))
    return w


def _head(title: str, *notes: str) -> W.HTML:
    lines = "".join(f"<small>{html.escape(t)}</small>" for t in notes if t)
    h = W.HTML(f"<div class='lab8-conv-head'>{html.escape(title)}{lines}</div>")
    h.layout.width = "100%"
    return h


def build_view(lab: ConvLab) -> None:
    """Every widget of the lab, once; what depends on the network's shapes is in the chain's layout."""
    style = {"description_width": "initial"}
    lab.index_slider = W.IntSlider(
        value=lab.index,
        min=0,
        max=len(lab.digits.images) - 1,
        description="sample digit",
        style=style,
        layout=W.Layout(width="300px"),
    )
    lab.index_slider.add_class("lab8-conv-index")
    W.link((lab.index_slider, "value"), (lab, "index"))
    lab.kernel_slider = _setting(lab, "kernel_size")
    lab.filters_slider = _setting(lab, "n_filters")
    lab.stride_slider = _setting(lab, "stride")
    lab.padding_slider = _setting(lab, "padding")
    pool_spec = ConvConfig.spec("pool")
    lab.pool_buttons = W.ToggleButtons(
        options=[(POOL_LABELS[c], c) for c in pool_spec.choices],
        value=lab.pool,
        style={"button_width": "78px"},
    )
    lab.pool_buttons.add_class("lab8-conv-pool-type")
    W.link((lab.pool_buttons, "value"), (lab, "pool"))
    lab.pool_size_slider = _setting(lab, "pool_size")
    lab.stride2_toggle = W.ToggleButton(
        value=False,
        description="stride-2 conv instead of pooling",
        layout=W.Layout(width="230px"),
        tooltip="one click: conv1 stride 2 and no pooling, or back",
    )
    lab.stride2_toggle.add_class("lab8-conv-stride2")
    lab.stride2_toggle.observe(lab._on_stride2, "value")
    lab.filter_pick = W.Dropdown(
        description="preset for", style=style, layout=W.Layout(width="150px")
    )
    lab.filter_pick.add_class("lab8-conv-preset-filter")
    lab.preset_pick = W.Dropdown(
        options=list(KERNEL_PRESETS), value="top_edge", layout=W.Layout(width="120px")
    )
    lab.preset_pick.add_class("lab8-conv-preset")
    lab.preset_button = W.Button(description="apply", layout=W.Layout(width="60px"))
    lab.preset_button.add_class("lab8-conv-preset-apply")
    lab.preset_button.on_click(lambda _b: _on_preset(lab))
    lab.activation_pick = _setting(lab, "activation")
    lab.dropout_slider = _setting(lab, "dropout", step=0.05)
    lab.mode_buttons = W.ToggleButtons(
        options=[("train", True), ("eval", False)],
        value=lab.training,
        style={"button_width": "56px"},
        tooltips=["mask and 1/(1−p) scaling", "no mask, no scaling"],
    )
    lab.mode_buttons.add_class("lab8-conv-mode")
    W.link((lab.mode_buttons, "value"), (lab, "training"))
    lab.mask_button = W.Button(description="new mask", layout=W.Layout(width="90px"))
    lab.mask_button.add_class("lab8-conv-new-mask")
    lab.mask_button.on_click(lambda _b: _guarded(lab, lab.new_mask))
    lab.scaling_note = W.HTML()
    lab.scaling_note.add_class("lab8-conv-scaling")
    lab.controls = W.VBox(
        [
            W.HBox(
                [
                    lab.index_slider,
                    lab.kernel_slider,
                    lab.filters_slider,
                    lab.stride_slider,
                    lab.padding_slider,
                ],
                layout=W.Layout(**ROW),
            ),
            W.HBox(
                [
                    lab.pool_buttons,
                    lab.pool_size_slider,
                    lab.stride2_toggle,
                    lab.filter_pick,
                    lab.preset_pick,
                    lab.preset_button,
                ],
                layout=W.Layout(**ROW),
            ),
            W.HBox(
                [
                    lab.activation_pick,
                    lab.dropout_slider,
                    lab.mode_buttons,
                    lab.mask_button,
                    lab.scaling_note,
                ],
                layout=W.Layout(**ROW),
            ),
        ]
    )
    lab.controls.add_class("lab8-conv-controls")

    # input column: the digit and the drawing pad
    lab.input_grid = HeatmapGrid(cell=6, cmap="gray", vmin=0.0, vmax=1.0)
    lab.input_grid.add_class("lab8-conv-input")
    lab.input_grid.on_click(lambda r, c: lab._on_click(("input", 0), r, c))
    lab.pad = HeatmapGrid(
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
    lab.pad.add_class("lab8-conv-pad")
    lab.pad.on_draw(lab._on_draw)
    lab.clear_button = W.Button(
        description="clear",
        layout=W.Layout(width="70px"),
        tooltip="clear the pad and show the sample digit again",
    )
    lab.clear_button.add_class("lab8-conv-clear")
    lab.clear_button.on_click(lambda _b: lab._on_clear())
    lab.index_label = W.HTML("<span class='lab8-conv-note'>or draw one below ↓</span>")
    lab.index_label.add_class("lab8-conv-note")
    lab.digit_button = W.Button(
        description="back to the digit",
        layout=W.Layout(width="140px", display="none"),
        tooltip="show the sample digit the slider points at",
    )
    lab.digit_button.add_class("lab8-conv-digit")
    lab.digit_button.on_click(lambda _b: _guarded(lab, lab.show_digit))
    input_col = W.VBox(
        [
            _head("input", "1×28×28", "values in [0, 1]"),
            lab.input_grid,
            W.HBox(  # one fixed-height row, so the pad below never moves mid-stroke
                [lab.index_label, lab.digit_button],
                layout=W.Layout(height="34px", align_items="center", justify_content="center"),
            ),
            lab.pad,
            lab.clear_button,
        ],
        layout=W.Layout(align_items="center", width=f"{INPUT_COL}px", flex="0 0 auto"),
    )

    # the chain: one widget, one message per change, scrolling inside its own box
    lab.chain = HeatmapStack(css_prefix="lab8-conv-")
    lab.chain.add_class("lab8-conv-chain")
    lab.chain.layout = W.Layout(flex="1 1 auto", min_width="0", max_width="100%")
    lab.chain.on_edit(lab._on_chain_edit)
    lab.chain.on_click(lab._on_click)
    lab.summary = W.HTML()
    lab.summary.add_class("lab8-conv-summary")
    lab.rf_note = W.HTML(
        "<span class='lab8-conv-note'>click any cell to see its receptive field</span>"
    )
    lab.rf_note.add_class("lab8-conv-rf")
    lab.prediction = W.HTML(layout=W.Layout(width=f"{PRED_COL}px"))
    lab.prediction.add_class("lab8-conv-prediction")
    lab.fit_button = W.Button(
        description="refit dense",
        layout=W.Layout(width="116px", flex="0 0 auto"),
        tooltip="logistic regression on the sample's pooled features",
    )
    lab.fit_button.add_class("lab8-conv-fit")
    lab.fit_button.on_click(lambda _b: _guarded(lab, lab.fit_dense))
    pred_col = W.VBox(
        [_head("prediction"), lab.prediction, lab.fit_button],
        layout=W.Layout(align_items="center", width=f"{PRED_COL}px", flex="0 0 auto"),
    )
    pred_col.add_class("lab8-conv-col")
    row = W.HBox(
        [input_col, lab.chain, pred_col],
        layout=W.Layout(align_items="flex-start", gap="4px", width="100%"),
    )
    row.add_class("lab8-conv-row")
    lab.network = W.VBox([lab.summary, row, lab.rf_note])
    lab.matmul = MatmulPanel(lab.guard)
    lab.activation_panel = ActivationPanel()
    lab.tabs = W.Tab(
        children=[lab.network, lab.matmul, lab.activation_panel],
        titles=["Network", "Convolution as matrix multiplication", "Activation function"],
    )
    lab.tabs.add_class("lab8-conv-tabs")
    lab.tabs.observe(lambda _c: _on_tab(lab), "selected_index")
    lab.body.children = [lab.controls, lab.tabs]


def _guarded(lab: ConvLab, fn) -> None:
    with lab.guard():
        fn()


def _on_preset(lab: ConvLab) -> None:
    with lab.guard():
        target = lab.filter_pick.value
        lab.apply_preset("all" if target == "all" else int(target), lab.preset_pick.value)


def _on_tab(lab: ConvLab) -> None:
    lab.matmul.active = lab.tabs.selected_index == 1
    with lab.guard():
        show_around(lab, lab._activations)


def show_around(lab: ConvLab, acts: OrderedDict[str, np.ndarray]) -> None:
    """Everything beside the chain that follows a render: the input, texts, pickers, open tabs."""
    if not np.array_equal(lab.input_grid.values if lab.input_grid.data else None, acts["input"]):
        lab.input_grid.values = acts["input"]
    if lab.input_grid.title != lab._image_label:
        lab.input_grid.title = lab._image_label
    summary = lab._summary_html()
    if lab.summary.value != summary:
        lab.summary.value = summary
    lab.prediction.value = lab._prediction_html()
    sample = lab._image_label.startswith("MNIST")
    lab.digit_button.layout.display = "none" if sample else ""
    lab.index_label.layout.display = "" if sample else "none"
    n = lab.model.n_filters
    options = [(f"filter {i}", str(i)) for i in range(n)] + [("all filters", "all")]
    if [o[1] for o in lab.filter_pick.options] != [o[1] for o in options]:
        keep = lab.filter_pick.value
        lab.filter_pick.options = options
        lab.filter_pick.value = keep if keep in [o[1] for o in options] else "0"
    lab.matmul.show(lab._image, lab.model)
    if lab.tabs.selected_index == 2:
        lab.activation_panel.show(lab.model.activation, acts)
