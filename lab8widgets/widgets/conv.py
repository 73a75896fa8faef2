"""ConvLab: the course's conv-example spreadsheet as a live, draggable torch model.

A thin view over ``lab8widgets.models.conv.SpreadsheetCNN``: every heatmap shows an array that
``lab.model`` computed, the controls only call the model's own methods, and a change made to
``lab.model`` in a notebook cell is picked up after the cell runs.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..models.conv import (
    KERNEL_PRESETS,
    POOL_TYPES,
    SpreadsheetCNN,
    StageMeta,
    VanishedStageError,
    as_digit_image,
    fit_dense,
    matmul_demo,
    receptive_field,
)
from ._base import LabBase, LabInputError, reject_unknown
from .grid import HeatmapGrid

__all__ = ["ConvLab"]

CONFIG = ("n_filters", "kernel_size", "stride", "padding", "pool", "pool_size")
MAP_STAGES = ("conv1", "relu1", "conv2", "relu2", "pool")
STAGE_TITLES = {
    "conv1": "conv1",
    "relu1": "ReLU",
    "conv2": "conv2",
    "relu2": "ReLU",
    "pool": "pool",
}
LIMITS = {
    "kernel_size": (1, 7),
    "n_filters": (1, 8),
    "stride": (1, 3),
    "padding": (0, 3),
    "pool_size": (1, 4),
}
FIT_IMAGES = 600  # per fit: enough for a stable 3-vs-7 dense layer, small enough to fit in ~0.2 s
MATMUL_MAX_CROP = 6
_FIT_CACHE: dict[tuple, tuple] = {}  # fitted dense layers by (data, sizes, conv weights)
DRAG_FULL_EVERY = 0.05  # s: while dragging, the chain past conv1 repaints at most 20 times a second
# Layout budget (px) for a 1280×800 page: the chain's columns share CHAIN_WIDTH.
CHAIN_WIDTH, INPUT_COL, OUTPUT_COL, COL_GAP, MIN_COL = 1190, 176, 170, 14, 92
_CSS = """
<style>
.lab8-conv .lab8-conv-head{font:600 12px system-ui,sans-serif;color:#222;line-height:1.35}
.lab8-conv .lab8-conv-head small{font-weight:400;color:#555;display:block}
.lab8-conv .lab8-conv-summary{font:12px system-ui,sans-serif;color:#333}
.lab8-conv .lab8-conv-summary b{color:#000}
.lab8-conv .lab8-conv-note{font:12px system-ui,sans-serif;color:#444}
.lab8-conv .lab8-conv-col{border-left:1px solid #eee;padding-left:6px}
.lab8-conv .widget-label{min-width:0}
.lab8-conv .lm-TabBar-tab,.lab8-conv .p-TabBar-tab{flex:0 0 auto!important;max-width:none!important}
.lab8-conv .lab8-conv-head{white-space:normal;text-align:center}
</style>
"""


def _fmt(v: float) -> str:
    """Short text for a weight: integers without decimals, else up to two decimals."""
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v))}"
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _tie_colour(idx: int, n: int) -> str:
    """One hue per kernel weight, so tied entries of the unrolled matrix share a colour."""
    hue = (idx * 360.0 / max(n, 1) + 200) % 360
    return f"hsl({hue:.0f},70%,{68 if idx % 2 else 76}%)"


def _nice(v: float, floor: float = 0.0) -> float:
    """A round colour-scale limit ≥ v (1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k): steady while a drag nudges v."""
    v = max(v, floor)
    if not math.isfinite(v) or v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if m * 10.0**e >= v * (1 - 1e-9):
            return m * 10.0**e
    return 10.0 ** (e + 1)


def _shape(meta: StageMeta) -> str:
    return "×".join(str(d) for d in meta.shape)


class ConvLab(LabBase):
    """The conv-example spreadsheet: drag kernel cells, change sizes, click cells, unroll a convolution.

    ``lab.model`` is the live ``SpreadsheetCNN``; ``lab.activations`` holds exactly what is displayed.
    Sizes are traitlets (``lab.stride = 2``); a combination that leaves a stage with no output is
    reported in ``lab.error`` while the last valid network stays on screen.
    """

    kernel_size = traitlets.Int(3)
    n_filters = traitlets.Int(2)
    stride = traitlets.Int(1)
    padding = traitlets.Int(0)
    pool = traitlets.Unicode("max")
    pool_size = traitlets.Int(2)
    index = traitlets.Int(0)  # which sample digit is the input (when no drawing or array is shown)

    def __init__(
        self,
        image: Any = None,
        *,
        index: int = 0,
        digits: Sequence[int] = (3, 7),
        model: SpreadsheetCNN | None = None,
        n_filters: int = 2,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 0,
        pool: str = "max",
        pool_size: int = 2,
        fit: bool = True,
        **kwargs: Any,
    ):
        reject_unknown(type(self).__name__, kwargs)
        super().__init__(title="ConvLab: the conv-example spreadsheet, live")
        self.add_class("lab8-conv")
        from ..data import mnist_sample

        self._batching = 0
        self._syncing = False
        self._digits = mnist_sample(digits=digits)
        self.source = self._digits.source
        self._fit_info = ""
        self._selection: tuple[str, int, int, int] | None = None  # stage, channel, row, col
        self._grids: dict[str, HeatmapGrid] = {}
        self._activations: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sig: tuple | None = None
        self._image_label = ""
        self._pool_before_stride2: tuple[str, int, int] | None = None
        self._last_full = 0.0
        self._deferred: asyncio.TimerHandle | None = None

        if model is not None and not isinstance(model, SpreadsheetCNN):
            raise TypeError(f"model must be a SpreadsheetCNN, got {type(model).__name__}")
        with self._batch():
            if model is None:
                cfg = dict(
                    n_filters=n_filters,
                    kernel_size=kernel_size,
                    stride=stride,
                    padding=padding,
                    pool=pool,
                    pool_size=pool_size,
                )
                for name, value in cfg.items():
                    setattr(self, name, value)  # validates ranges
                self._model = SpreadsheetCNN(
                    **cfg, classes=[str(d) for d in self._digits_for_classes()]
                )
            else:
                self._model = model
                self._traits_from_model()
            self.index = self._check_index(index)
        self._meta = self._model.stages_meta()
        self._image = self._digits.images[self.index].copy()
        self._image_label = self._sample_label()
        if image is not None:
            self._image = as_digit_image(image)
            self._image_label = "your image"
        self._build_controls()
        self._build_views()
        if fit and not self._model.dense_fitted:
            self._fit()
        self._render()
        self._install_cell_hook()

    # --- public API ------------------------------------------------------------------------------
    @property
    def model(self) -> SpreadsheetCNN:
        """The live torch module; change it in a cell and the lab follows after the cell runs."""
        return self._model

    @model.setter
    def model(self, m: SpreadsheetCNN) -> None:
        if not isinstance(m, SpreadsheetCNN):
            self.error = f"lab.model must be a SpreadsheetCNN, got {type(m).__name__}"
            raise TypeError(self.error)
        self._model = m
        self.refresh()

    @property
    def image(self) -> np.ndarray:
        """The 28×28 input in [0, 1] that the network sees (a copy)."""
        return self._image.copy()

    @image.setter
    def image(self, x: Any) -> None:
        self.set_image(x)

    @property
    def activations(self) -> OrderedDict[str, np.ndarray]:
        """Stage → array exactly as displayed: 'input' (28, 28), maps (C, H, W), 'dense'/'output' (1, n).

        (During a fast drag in a kernel, the heatmaps after conv1 catch up within DRAG_FULL_EVERY.)
        """
        return OrderedDict((k, v.copy()) for k, v in self._activations.items())

    @property
    def digits(self):
        """The MNIST sample the digit picker walks through (images, labels, source)."""
        return self._digits

    def set_image(self, x: Any, label: str = "your image") -> None:
        """Show a 2-D array, tensor or PIL image (resized to 28×28 grayscale in [0, 1]) as the input."""
        try:
            img = as_digit_image(x)
        except ValueError as e:
            self.error = str(e)
            raise
        self._image = img
        self._image_label = label
        self.clear_error()
        self._render()

    def show_digit(self, index: int | None = None) -> None:
        """Show sample digit ``index`` (0 … len(lab.digits.images) − 1; default: the current one)."""
        index = self.index if index is None else self._check_index(index)
        if index == self.index:
            self._show_sample()
        else:
            self.index = index  # the observer shows it

    def set_kernel(self, i: int, values: Any) -> None:
        """Layer-1 filter ``i`` becomes the k×k ``values``; bad values raise and keep the old kernel."""
        try:
            self._model.set_kernel(i, values)
        except ValueError as e:
            self.error = f"Kernel not changed: {e}"
            raise LabInputError(self.error) from None
        self.clear_error()
        self._render()

    def apply_preset(self, i: int | str, name: str) -> None:
        """Filter ``i`` (or ``"all"``) becomes preset ``name``: one of ``KERNEL_PRESETS``."""
        try:
            if name not in KERNEL_PRESETS:
                raise ValueError(
                    f"unknown preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}"
                )
            targets = range(self._model.n_filters) if i == "all" else [i]
            for t in targets:
                self._model.apply_preset(t, name)
        except ValueError as e:
            self.error = str(e)
            raise LabInputError(self.error) from None
        self.clear_error()
        self._render()

    def configure(self, **changes: Any) -> None:
        """Change several sizes at once (e.g. ``pool="none", stride=2``); raises if a stage vanishes."""
        unknown = sorted(set(changes) - set(CONFIG))
        if unknown:
            raise TypeError(
                f"configure() got unexpected keyword argument(s) {unknown}; expected {list(CONFIG)}"
            )
        for name, value in changes.items():  # check every value before changing any
            if name == "pool":
                ok = value in POOL_TYPES
                expected = f"one of {', '.join(POOL_TYPES)}"
            else:
                lo, hi = LIMITS[name]
                ok = (
                    isinstance(value, int | np.integer)
                    and not isinstance(value, bool)
                    and lo <= value <= hi
                )
                expected = f"an integer between {lo} and {hi}"
            if not ok:
                self.error = f"{name} must be {expected}, got {value!r}"
                raise LabInputError(self.error)
        with self._batch():
            for name, value in changes.items():
                setattr(self, name, value)
        self._apply_config(raise_errors=True)

    def fit_dense(self) -> tuple[float, float]:
        """Refit the dense layer on the sample for the current kernels; (train, held-out) accuracy."""
        accs = self._fit()
        self._render()
        return accs

    def select(self, stage: str, row: int, col: int, channel: int = 0) -> OrderedDict:
        """Select cell (row, col) of ``stage`` (channel ``channel``) as a click does; returns its windows."""
        with self.guard():
            self._select(stage, channel, row, col)
        if self.error:
            raise LabInputError(self.error)
        return self._receptive()

    def refresh(self) -> None:
        """Re-read ``lab.model`` (layers, weights) and redraw; runs by itself after each notebook cell."""
        self._traits_from_model()
        try:
            self._model.stages_meta()
        except ValueError as e:
            self.error = f"{e} (the lab shows the last network that had an output)"
            return
        with self.guard():
            if self._model.configure():  # the dense layer no longer fits the new shapes
                self._fit()
            self._after_config()

    # --- traits ------------------------------------------------------------------------------------
    @traitlets.validate(*LIMITS)
    def _valid_size(self, proposal):
        name = proposal["trait"].name
        lo, hi = LIMITS[name]
        v = proposal["value"]
        if isinstance(v, bool) or not lo <= v <= hi:
            msg = f"{name} must be between {lo} and {hi}, got {v!r}"
            self.error = msg
            raise traitlets.TraitError(msg)
        return v

    @traitlets.validate("pool")
    def _valid_pool(self, proposal):
        if proposal["value"] not in POOL_TYPES:
            msg = f"pool must be one of {', '.join(POOL_TYPES)}, got {proposal['value']!r}"
            self.error = msg
            raise traitlets.TraitError(msg)
        return proposal["value"]

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        n = len(self._digits.images) if hasattr(self, "_digits") else 1 << 30
        v = proposal["value"]
        if not 0 <= v < n:
            msg = f"index must be between 0 and {n - 1}, got {v!r}"
            self.error = msg
            raise traitlets.TraitError(msg)
        return v

    @traitlets.observe(*CONFIG)
    def _on_config(self, _change) -> None:
        if self._batching or self._syncing:
            return
        self._apply_config(raise_errors=False)

    @traitlets.observe("index")
    def _on_index(self, _change) -> None:
        if self._batching:
            return
        self._show_sample()

    @contextmanager
    def _batch(self):
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1

    def _check_index(self, index: Any) -> int:
        n = len(self._digits.images)
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < n:
            self.error = f"index must be between 0 and {n - 1}, got {index!r}"
            raise LabInputError(self.error)
        return int(index)

    def _digits_for_classes(self) -> list[int]:
        return sorted(int(d) for d in np.unique(self._digits.labels))

    def _sample_label(self) -> str:
        return f"MNIST sample #{self.index}, a {int(self._digits.labels[self.index])}"

    def _traits_from_model(self) -> None:
        """The lab's size traits follow the model's layers (after a change made in a cell)."""
        self._syncing = True
        try:
            cfg = self._model.config()
            for name in CONFIG:
                if name in LIMITS:
                    lo, hi = LIMITS[name]
                    if not lo <= cfg[name] <= hi:
                        continue  # the model may go beyond the sliders; the traits keep their range
                if getattr(self, name) != cfg[name]:
                    setattr(self, name, cfg[name])
        finally:
            self._syncing = False

    def _apply_config(self, raise_errors: bool) -> None:
        cfg = {name: getattr(self, name) for name in CONFIG}
        try:
            rebuilt = self._model.configure(**cfg)
        except VanishedStageError as e:
            self.error = f"{e} (the lab shows the last network that had an output)"
            self._sync_toggle()
            if raise_errors:
                raise
            return
        except (ValueError, TypeError) as e:
            self.error = str(e)
            if raise_errors:
                raise
            return
        self.clear_error()
        if rebuilt:
            self._fit()
        self._after_config()

    def _after_config(self) -> None:
        self._meta = self._model.stages_meta()
        self._build_views()
        if self._selection is not None:
            stage, ch, r, c = self._selection
            shp = self._meta[stage].shape
            ok = (len(shp) == 3 and ch < shp[0] and r < shp[1] and c < shp[2]) or (
                len(shp) == 1 and c < shp[0]
            )
            if not ok:
                self._selection = None
        self._render()
        self._sync_toggle()

    def _show_sample(self) -> None:
        self._image = self._digits.images[self.index].copy()
        self._image_label = self._sample_label()
        self.clear_error()
        self._render()

    # --- dense layer ------------------------------------------------------------------------------
    def _fit(self) -> tuple[float, float]:
        """Fit the dense layer on the sample (cached: the same conv weights and sizes fit the same)."""
        m = self._model
        n = min(len(self._digits.images), FIT_IMAGES)
        pick = np.linspace(0, len(self._digits.images) - 1, n).astype(
            int
        )  # both classes, spread out
        key = (
            self._digits.source,
            tuple(sorted(m.config().items())),
            m.conv1.weight.detach().numpy().tobytes(),
            m.conv2.weight.detach().numpy().tobytes(),
        )
        hit = _FIT_CACHE.get(key)
        if hit is None:
            tr, va = fit_dense(m, self._digits.images[pick], self._digits.labels[pick])
            hit = (m.dense.weight.detach().clone(), m.dense.bias.detach().clone(), tr, va)
            _FIT_CACHE[key] = hit
            while len(_FIT_CACHE) > 64:
                _FIT_CACHE.pop(next(iter(_FIT_CACHE)))
        else:
            with torch.no_grad():
                m.dense.weight.copy_(hit[0])
                m.dense.bias.copy_(hit[1])
            m.dense_fitted = True
        tr, va = hit[2], hit[3]
        self._fit_info = (
            f"dense layer fitted (logistic regression, conv layers frozen) on {n - int(n * 0.2)} sample digits; "
            f"held-out accuracy {va:.0%}"
        )
        self._fit_sig = self._kernel_sig()
        return tr, va

    def _kernel_sig(self) -> tuple:
        return (
            self._model.conv1.weight._version,
            id(self._model.conv1.weight),
            self._model.conv2.weight._version,
            id(self._model.conv2.weight),
        )

    # --- cell hook: changes made to lab.model in a notebook cell ---------------------------------
    def _install_cell_hook(self) -> None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with ipywidgets
            return
        ip = get_ipython()
        if ip is None or not hasattr(ip, "events"):
            return
        ref = weakref.ref(self)

        def after_execute(*_args):
            lab = ref()
            if lab is None:
                ip.events.unregister("post_execute", after_execute)
                return
            lab._follow_model()

        ip.events.register("post_execute", after_execute)

    def _follow_model(self) -> None:
        """Redraw when ``lab.model`` changed since the last render (tensor versions, layers)."""
        if self._model.signature() != self._sig:
            self.refresh()

    # --- controls ----------------------------------------------------------------------------------
    def _build_controls(self) -> None:
        style = {"description_width": "initial"}
        n = len(self._digits.images)

        def slider(trait: str, desc: str, width: str = "215px") -> W.IntSlider:
            lo, hi = LIMITS[trait]
            s = W.IntSlider(
                value=getattr(self, trait),
                min=lo,
                max=hi,
                description=desc,
                style=style,
                continuous_update=False,
                layout=W.Layout(width=width),
            )
            s.add_class(f"lab8-conv-{trait.replace('_', '-')}")
            W.link((s, "value"), (self, trait))
            return s

        self.index_slider = W.IntSlider(
            value=self.index,
            min=0,
            max=n - 1,
            description="sample digit",
            style=style,
            layout=W.Layout(width="300px"),
        )
        self.index_slider.add_class("lab8-conv-index")
        W.link((self.index_slider, "value"), (self, "index"))
        self.kernel_slider = slider("kernel_size", "kernel")
        self.filters_slider = slider("n_filters", "filters")
        self.stride_slider = slider("stride", "stride", "195px")
        self.padding_slider = slider("padding", "padding", "205px")
        self.pool_buttons = W.ToggleButtons(
            options=[("max pool", "max"), ("avg pool", "avg"), ("no pool", "none")],
            value=self.pool,
            style={"button_width": "78px"},
        )
        self.pool_buttons.add_class("lab8-conv-pool-type")
        W.link((self.pool_buttons, "value"), (self, "pool"))
        self.pool_size_slider = slider("pool_size", "pool size", "215px")
        self.stride2_toggle = W.ToggleButton(
            value=False,
            description="stride-2 conv instead of pooling",
            layout=W.Layout(width="230px"),
            tooltip="one click: conv1 stride 2 and no pooling, or back",
        )
        self.stride2_toggle.add_class("lab8-conv-stride2")
        self.stride2_toggle.observe(self._on_stride2, "value")
        self.filter_pick = W.Dropdown(
            description="preset for", style=style, layout=W.Layout(width="150px")
        )
        self.filter_pick.add_class("lab8-conv-preset-filter")
        self.preset_pick = W.Dropdown(
            options=list(KERNEL_PRESETS), value="top_edge", layout=W.Layout(width="120px")
        )
        self.preset_pick.add_class("lab8-conv-preset")
        self.preset_button = W.Button(description="apply", layout=W.Layout(width="60px"))
        self.preset_button.add_class("lab8-conv-preset-apply")
        self.preset_button.on_click(lambda _b: self._on_preset())
        row = W.Layout(flex_flow="row wrap", align_items="center", gap="2px 10px")
        self.controls = W.VBox(
            [
                W.HBox(
                    [
                        self.index_slider,
                        self.kernel_slider,
                        self.filters_slider,
                        self.stride_slider,
                        self.padding_slider,
                    ],
                    layout=row,
                ),
                W.HBox(
                    [
                        self.pool_buttons,
                        self.pool_size_slider,
                        self.stride2_toggle,
                        self.filter_pick,
                        self.preset_pick,
                        self.preset_button,
                    ],
                    layout=row,
                ),
            ]
        )
        self.controls.add_class("lab8-conv-controls")
        self._sync_toggle()

    def _on_stride2(self, change) -> None:
        if self._syncing:
            return
        with self.guard():
            if change["new"]:
                self._pool_before_stride2 = (self.pool, self.pool_size, self.stride)
                self.configure(pool="none", stride=2)
            else:
                pool, size, stride = self._pool_before_stride2 or ("max", 2, 1)
                if pool == "none":
                    pool = "max"
                self.configure(pool=pool, pool_size=size, stride=stride)
        self._sync_toggle()

    def _sync_toggle(self) -> None:
        if not hasattr(self, "stride2_toggle"):
            return
        self._syncing = True
        try:
            self.stride2_toggle.value = self.pool == "none" and self.stride == 2
        finally:
            self._syncing = False

    def _on_preset(self) -> None:
        with self.guard():
            target = self.filter_pick.value
            self.apply_preset("all" if target == "all" else int(target), self.preset_pick.value)

    # --- views ----------------------------------------------------------------------------------
    def _grid(self, name: str, **kw: Any) -> HeatmapGrid:
        """The heatmap for ``name`` (created once, CSS class ``lab8-conv-<name>``), updated with ``kw``."""
        values = kw.pop("values", None)
        g = self._grids.get(name)
        if g is None:
            g = HeatmapGrid(values, **kw)
            g.add_class(f"lab8-conv-{name}")
            self._grids[name] = g
            return g
        with g.hold_sync():
            for k, v in kw.items():
                if getattr(g, k) != v:
                    setattr(g, k, v)
            if values is not None:
                g.values = values
        return g

    def _stage_grid(self, stage: str, ch: int, cell: int, title: str, **kw: Any) -> HeatmapGrid:
        name = f"{stage}-{ch}" if stage in MAP_STAGES else stage
        fresh = name not in self._grids
        g = self._grid(name, cell=cell, title=title, **{"cmap": "diverging", **kw})
        if fresh:
            g.on_click(lambda r, c, s=stage, k=ch: self._on_cell_click(s, k, r, c))
        return g

    def _build_views(self) -> None:
        """Lay out the chain for the current shapes: one column per stage, channels stacked."""
        meta = self._meta
        n, k = self._model.n_filters, self._model.kernel_size
        c2 = self._model.conv2_filters
        cls = self._model.classes

        # input column: the digit and the drawing pad
        if "input" not in self._grids:
            g = self._grid("input", cell=6, cmap="gray", vmin=0.0, vmax=1.0)
            g.on_click(lambda r, c: self._on_cell_click("input", 0, r, c))
            pad = self._grid(
                "pad",
                values=np.zeros((28, 28), np.float32),
                cell=5,
                cmap="gray",
                vmin=0.0,
                vmax=1.0,
                drawable=True,
                brush_value=1.0,
                title="draw a digit",
                subtitle="drag to paint",
            )
            pad.on_draw(self._on_draw)
            self.clear_button = W.Button(description="clear", layout=W.Layout(width="70px"))
            self.clear_button.add_class("lab8-conv-clear")
            self.clear_button.on_click(lambda _b: self._on_clear())
            self.index_label = W.HTML("<span class='lab8-conv-note'>or draw one below ↓</span>")
            self.index_label.add_class("lab8-conv-note")
            self.digit_button = W.Button(
                description="back to the digit",
                layout=W.Layout(width="140px", display="none"),
                tooltip="show the sample digit the slider points at",
            )
            self.digit_button.add_class("lab8-conv-digit")
            self.digit_button.on_click(lambda _b: self._on_back_to_digit())
            self.input_col = W.VBox(
                [
                    self._head("input", _shape(meta["input"]), "values in [0, 1]"),
                    g,
                    W.HBox(  # one fixed-height row, so the pad below never moves mid-stroke
                        [self.index_label, self.digit_button],
                        layout=W.Layout(
                            height="34px", align_items="center", justify_content="center"
                        ),
                    ),
                    pad,
                    self.clear_button,
                ],
                layout=W.Layout(align_items="center", width=f"{INPUT_COL}px"),
            )

        # kernel editors: ~36 px cells with their values, smaller only when many or large
        cols = 1 if n <= 4 else 2
        rows = math.ceil(n / cols)
        kcell = int(max(20, min(36, 150 // k, (430 / rows - 42) // k)))
        kernels = []
        for i in range(n):
            fresh = f"kernel-{i}" not in self._grids
            g = self._grid(
                f"kernel-{i}",
                cell=kcell,
                cmap="diverging",
                show_values=True,
                decimals=2 if kcell >= 30 else 1,  # the value must fit its cell
                editable=True,
                step=0.1,
            )
            if fresh:
                g.on_edit(lambda r, c, v, done, i=i: self._on_kernel_edit(i, r, c, v, done))
            kernels.append(g)
        kernel_w = max(cols * (k * kcell + 14), 112)
        kernel_box = W.Box(
            kernels,
            layout=W.Layout(flex_flow="row wrap", width=f"{kernel_w}px", justify_content="center"),
        )
        kernel_col = W.VBox(
            [
                self._head("layer-1 kernels", f"{n}×{k}×{k}", "drag ↕ · double-click to type"),
                kernel_box,
            ],
            layout=W.Layout(align_items="center", width=f"{kernel_w}px"),
        )

        # one cell size for the five map columns, so the chain fits a 1280-px-wide page
        layout = {}
        for stage in MAP_STAGES:
            C, H, Wd = meta[stage].shape
            mcols = 1 if C <= 4 else 2
            layout[stage] = (C, H, Wd, mcols, math.ceil(C / mcols))
        spare = CHAIN_WIDTH - INPUT_COL - kernel_w - OUTPUT_COL - 5 * COL_GAP
        by_width = spare / sum(mc * (Wd + 3) for _, _, Wd, mc, _ in layout.values())
        cols_out = [self.input_col, kernel_col]
        for stage in MAP_STAGES:
            m = meta[stage]
            C, H, Wd, mcols, mrows = layout[stage]
            budget = 430 if stage != "conv2" else 330
            cell = int(max(2, min(7, by_width, (budget / mrows - 36) // H)))
            maps = []
            label = "filter" if stage in ("conv1", "conv2") else ("channel" if mcols == 1 else "ch")
            for ch in range(C):
                maps.append(self._stage_grid(stage, ch, cell, f"{label} {ch}"))
            title_w = 7 * len(f"{label} {C - 1}")  # a grid is as wide as its title
            width = max(mcols * (max(Wd * cell, title_w) + 12), MIN_COL)
            box = W.Box(
                maps,
                layout=W.Layout(flex_flow="row wrap", width=f"{width}px", justify_content="center"),
            )
            note, params = self._stage_note(stage, m)
            children = [self._head(STAGE_TITLES[stage], _shape(m), note, params), box]
            if stage == "conv2":
                wcell = int(max(2, min(8, (width - 12) // (n * k))))
                width = max(width, n * k * wcell + 12, 120)  # room for the weights and their title
                weights = [
                    self._grid(
                        f"conv2w-{j}",
                        cell=wcell,
                        cmap="diverging",
                        title=f"filter {j} weights",
                        subtitle=f"{n} channels × {k}×{k}",
                    )
                    for j in range(c2)
                ]
                children.insert(
                    1,
                    W.Box(
                        weights,
                        layout=W.Layout(
                            flex_flow="column", align_items="center", width=f"{width}px"
                        ),
                    ),
                )
            col = W.VBox(children, layout=W.Layout(align_items="center", width=f"{width + 8}px"))
            col.add_class("lab8-conv-col")
            cols_out.append(col)

        # dense and output
        dense = self._stage_grid(
            "dense", 0, 40, "dense (logits)", show_values=True, decimals=2, subtitle=" | ".join(cls)
        )
        out = self._stage_grid(
            "output",
            0,
            40,
            "softmax",
            cmap="gray",
            vmin=0.0,
            vmax=1.0,
            show_values=True,
            decimals=2,
            subtitle=" | ".join(cls),
        )
        if not hasattr(self, "fit_button"):
            self.fit_button = W.Button(
                description="refit dense layer",
                layout=W.Layout(width="150px"),
                tooltip="logistic regression on the sample's pooled features",
            )
            self.fit_button.add_class("lab8-conv-fit")
            self.fit_button.on_click(lambda _b: self._on_fit())
            self.prediction = W.HTML(layout=W.Layout(width=f"{OUTPUT_COL - 8}px"))
            self.prediction.add_class("lab8-conv-prediction")
        feats = math.prod(meta["pool"].shape)
        out_col = W.VBox(
            [
                self._head(
                    "dense → softmax",
                    f"{feats} → {len(cls)}",
                    f"{meta['dense'].params:,} params",
                ),
                dense,
                out,
                self.prediction,
                self.fit_button,
            ],
            layout=W.Layout(align_items="center", width=f"{OUTPUT_COL}px"),
        )
        out_col.add_class("lab8-conv-col")
        cols_out.append(out_col)

        if not hasattr(self, "summary"):
            self.summary = W.HTML()
            self.summary.add_class("lab8-conv-summary")
            self.rf_note = W.HTML(
                "<span class='lab8-conv-note'>click any cell to see its receptive field</span>"
            )
            self.rf_note.add_class("lab8-conv-rf")
            self.chain = W.Box(
                layout=W.Layout(flex_flow="row wrap", align_items="flex-start", gap="4px 6px")
            )
            self.chain.add_class("lab8-conv-chain")
            self.network = W.VBox([self.summary, self.chain, self.rf_note])
            self._build_matmul()
            self.tabs = W.Tab(
                children=[self.network, self.matmul],
                titles=["Network", "Convolution as matrix multiplication"],
            )
            self.tabs.add_class("lab8-conv-tabs")
            self.tabs.observe(lambda _c: self._render_matmul(), "selected_index")
            self.body.children = [W.HTML(_CSS), self.controls, self.tabs]
        self.chain.children = cols_out
        self.summary.value = self._summary_html()
        options = [(f"filter {i}", str(i)) for i in range(n)] + [("all filters", "all")]
        if [o[1] for o in self.filter_pick.options] != [o[1] for o in options]:
            keep = self.filter_pick.value
            self.filter_pick.options = options
            self.filter_pick.value = keep if keep in [o[1] for o in options] else "0"
        if [o[1] for o in self.mm_filter.options] != list(range(n)):
            keep = self.mm_filter.value
            self.mm_filter.options = [(f"filter {i}", i) for i in range(n)]
            self.mm_filter.value = keep if keep is not None and keep < n else 0

    def _head(self, title: str, shape: str, *notes: str) -> W.HTML:
        lines = "".join(f"<small>{html.escape(t)}</small>" for t in (shape, *notes) if t)
        h = W.HTML(f"<div class='lab8-conv-head'>{html.escape(title)}{lines}</div>")
        h.layout.width = "100%"
        return h

    def _stage_note(self, stage: str, m: StageMeta) -> tuple[str, str]:
        """Two short lines under a column title: how it is computed, and its parameter count."""
        if stage == "conv1":
            return (
                f"{m.kernel}×{m.kernel}, stride {m.stride}, pad {m.padding}",
                f"{m.params:,} params",
            )
        if stage == "conv2":
            return (
                f"{m.kernel}×{m.kernel}×{self._model.n_filters}, pad {m.padding}",
                f"{m.params:,} params",
            )
        if stage == "pool":
            if self._model.pool_type == "none":
                return "none: = ReLU", ""
            return f"{self._model.pool_type} {m.kernel}×{m.kernel}, stride {m.stride}", ""
        return "max(0, x)", ""

    def _summary_html(self) -> str:
        meta = self._meta
        total = sum(m.params for m in meta.values())
        parts = []
        for name, m in meta.items():
            label = {"relu1": "ReLU", "relu2": "ReLU", "output": "softmax"}.get(name, name)
            if name == "pool" and self._model.pool_type == "none":
                label = "no pool"
            elif name == "pool":
                label = f"{self._model.pool_type} pool {m.kernel}"
            params = f" ({m.params:,})" if m.params else ""
            parts.append(f"<b>{html.escape(label)}</b> {_shape(m)}{params}")
        return (
            f"<div class='lab8-conv-summary'>{' → '.join(parts)} · <b>{total:,}</b> parameters "
            f"(no conv bias)</div>"
        )

    # --- rendering ----------------------------------------------------------------------------
    def _render(self, fast: Sequence[str] = (), defer: bool = False) -> None:
        """Run the model on the input and show every stage (the only place arrays reach the views).

        ``fast`` names the heatmaps a gesture is about (the dragged kernel's conv1 map, the kernel, its
        ReLU map; the input while drawing): they are sent first. With ``defer`` (a drag step that is
        not the last) and steps closer than DRAG_FULL_EVERY inside a running kernel, only they are
        sent and the rest of the chain follows on a trailing timer, so the page never queues
        seconds of repaints behind a fast drag; the last step always repaints everything.
        """
        m = self._model
        try:
            st = m.forward_stages(self._image)
        except (
            RuntimeError,
            ValueError,
        ) as e:  # a model changed in a cell into something that fails
            self.error = (
                f"the model could not run: {e} (the lab shows the last network that had an output)"
            )
            return
        acts: OrderedDict[str, np.ndarray] = OrderedDict()
        acts["input"] = st["input"][0, 0].numpy()
        for stage in MAP_STAGES:
            acts[stage] = st[stage][0].numpy()
        acts["dense"] = st["dense"].numpy()
        acts["output"] = st["output"].numpy()
        self._activations = acts
        self._sig = m.signature()
        if defer and fast and self._defer_rest():
            self._push(set(fast), first=fast)
            return
        self._cancel_deferred()
        self._push(None, first=fast)

    def _defer_rest(self) -> bool:
        """True when the chain repainted less than DRAG_FULL_EVERY ago and a timer can finish the job."""
        now = time.monotonic()
        if now - self._last_full >= DRAG_FULL_EVERY:
            return False
        if self._deferred is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (tests, scripts): always repaint everything now
            return False
        self._deferred = loop.call_later(
            max(0.0, self._last_full + DRAG_FULL_EVERY - now), self._run_deferred
        )
        return True

    def _cancel_deferred(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def _run_deferred(self) -> None:
        self._deferred = None
        with self.guard(clear=False):
            self._push(None)

    def _push(self, only: set[str] | None, first: Sequence[str] = ()) -> None:
        """Copy the current activations into the heatmaps (``only``: just these, else all), ``first`` first."""
        m = self._model
        acts = self._activations
        g = self._grids

        def show(
            grid: HeatmapGrid, values: np.ndarray, vmax: float | None = None, **traits: Any
        ) -> None:
            with grid.hold_sync():
                grid.values = values
                if vmax is not None:
                    grid.vmin, grid.vmax = -vmax, vmax
                for k, v in traits.items():
                    setattr(grid, k, v)

        updates: dict[str, Callable[[], None]] = {
            "input": partial(show, g["input"], acts["input"], title=self._image_label)
        }
        kernels = m.conv1.weight.detach()[:, 0].numpy()
        kmax = _nice(float(np.abs(kernels).max(initial=0.0)), floor=1.0)
        for i in range(m.n_filters):
            updates[f"kernel-{i}"] = partial(
                show,
                g[f"kernel-{i}"],
                kernels[i],
                kmax,
                title=f"filter {i}",
                subtitle=m.filter_presets[i] or "edited",
            )
        for stage in MAP_STAGES:
            a = acts[stage]
            vmax = _nice(float(np.abs(a).max(initial=0.0)))  # one colour scale per stage
            for ch in range(a.shape[0]):
                updates[f"{stage}-{ch}"] = partial(show, g[f"{stage}-{ch}"], a[ch], vmax)
        # the maps a gesture is about go first: each message costs the page ~1-2 ms to handle
        order = [n for n in first if n in updates] + [n for n in updates if n not in first]
        for name in order:
            if only is None or name in only:
                updates[name]()
        if only is not None:
            return
        self._last_full = time.monotonic()
        w2 = (
            m.conv2.weight.detach().numpy()
        )  # (c2, n, k, k) shown as k × (n·k): channels side by side
        w2max = _nice(float(np.abs(w2).max(initial=0.0)))
        for j in range(w2.shape[0]):
            show(g[f"conv2w-{j}"], np.concatenate(list(w2[j]), axis=1), w2max)
        show(g["dense"], acts["dense"], _nice(float(np.abs(acts["dense"]).max(initial=0.0))))
        g["output"].values = acts["output"]
        self._render_prediction()
        self._render_selection()
        sample = self._image_label.startswith("MNIST")
        self.digit_button.layout.display = "none" if sample else ""
        self.index_label.layout.display = "" if sample else "none"
        self._render_matmul()

    def _render_prediction(self) -> None:
        probs = self._activations["output"][0]
        cls = self._model.classes
        best = int(np.argmax(probs))
        stale = getattr(self, "_fit_sig", None) != self._kernel_sig()
        if not self._model.dense_fitted:
            fit = "dense layer not fitted yet"
        else:
            fit = self._fit_info + (
                " — kernels changed since: refit to see how well these features do" if stale else ""
            )
        self.prediction.value = (
            f"<div class='lab8-conv-note'><b>predicts {html.escape(cls[best])}</b> "
            f"({' · '.join(f'P({html.escape(c)})={p:.2f}' for c, p in zip(cls, probs, strict=False))})<br>"
            f"<span style='color:#666'>{html.escape(fit)}</span></div>"
        )

    # --- gestures -------------------------------------------------------------------------------
    def _on_kernel_edit(self, i: int, r: int, c: int, value: Any, done: bool) -> None:
        """A drag (every step, done or not) or a typed value: checked, written into conv1, redrawn."""
        with self.guard():
            try:
                self._model.set_kernel_value(i, r, c, value)
            except ValueError as e:
                raise LabInputError(f"Kernel not changed: {e}") from None
            self._render((f"kernel-{i}", f"conv1-{i}", f"relu1-{i}"), defer=not done)

    def _on_draw(self, cells: list[tuple[int, int, float]], done: bool) -> None:
        with self.guard():
            pad = self._grids["pad"]
            arr = pad.values
            for r, c, v in cells:
                if 0 <= r < arr.shape[0] and 0 <= c < arr.shape[1] and math.isfinite(v):
                    arr[r, c] = max(arr[r, c], min(max(v, 0.0), 1.0))
            pad.values = arr
            self._image = arr.copy()
            self._image_label = "your drawing"
            self._render(("input",), defer=not done)

    def _on_clear(self) -> None:
        with self.guard():
            self._grids["pad"].values = np.zeros((28, 28), np.float32)
            if self._image_label == "your drawing":
                self._image = np.zeros((28, 28), np.float32)
                self._render()

    def _on_back_to_digit(self) -> None:
        with self.guard():
            self.show_digit()

    def _on_fit(self) -> None:
        with self.guard():
            self.fit_dense()

    def _on_cell_click(self, stage: str, ch: int, r: int, c: int) -> None:
        with self.guard():
            self._select(stage, ch, r, c)

    def _select(self, stage: str, ch: int, r: int, c: int) -> None:
        if stage not in self._meta:
            raise KeyError(f"unknown stage {stage!r}; stages are {', '.join(self._meta)}")
        shp = self._meta[stage].shape
        if len(shp) == 3 and not 0 <= ch < shp[0]:
            raise ValueError(f"{stage} has channels 0..{shp[0] - 1}, got {ch}")
        windows = self._receptive((stage, ch, r, c))  # validates the cell
        self._selection = (stage, ch, r, c)
        self._render_selection(windows)

    def _receptive(self, sel: tuple[str, int, int, int] | None = None) -> OrderedDict:
        """The windows of ``sel`` (default: the current selection) in every earlier stage."""
        sel = sel or self._selection
        if sel is None:
            return OrderedDict()
        stage, ch, r, c = sel
        return receptive_field(
            self._meta, stage, r, c, ch if len(self._meta[stage].shape) == 3 else None
        )

    def _render_selection(self, windows: OrderedDict | None = None) -> None:
        if windows is None:
            windows = self._receptive()
        sel = self._selection
        for name, g in self._grids.items():
            stage, _, chs = name.rpartition("-")
            if not stage or not chs.isdigit():
                stage, ch = name, 0
            else:
                ch = int(chs)
            if stage not in self._meta:  # kernels, conv2 weights, the pad, the matmul views
                continue
            hl: list[list[int]] = []
            if sel is not None and stage in windows and stage != sel[0]:
                w = windows[stage]
                if w.channels is None or ch in w.channels:
                    hl = [[w.r0, w.c0, w.r1, w.c1]]
            selected = (
                [sel[2], sel[3]] if sel is not None and sel[0] == stage and sel[1] == ch else []
            )
            with g.hold_sync():
                if g.highlight != hl:
                    g.highlight = hl
                if g.selected != selected:
                    g.selected = selected
        if sel is None:
            return
        stage, ch, r, c = sel
        w = windows.get("input")
        where = (
            f"{stage}[{ch}]" if len(self._meta[stage].shape) == 3 and stage != "input" else stage
        )
        if w is None or stage == "input":
            text = f"{where} ({r}, {c}) is an input pixel: value {self._activations['input'][r, c]:.2f}"
        else:
            text = (
                f"{where} ({r}, {c}) = {self._cell_value(stage, ch, r, c):.3g} reads input rows {w.r0}–{w.r1}, "
                f"columns {w.c0}–{w.c1}: a {w.r1 - w.r0 + 1}×{w.c1 - w.c0 + 1} receptive field (orange)"
            )
        self.rf_note.value = f"<span class='lab8-conv-note'>{html.escape(text)}</span>"

    def _cell_value(self, stage: str, ch: int, r: int, c: int) -> float:
        a = self._activations[stage]
        return float(a[ch, r, c] if a.ndim == 3 else a[r, c])

    # --- convolution as matrix multiplication ------------------------------------------------------
    def _build_matmul(self) -> None:
        style = {"description_width": "initial"}
        self.mm_size = W.IntSlider(
            value=5,
            min=2,
            max=MATMUL_MAX_CROP,
            description="crop size",
            style=style,
            layout=W.Layout(width="200px"),
        )
        self.mm_row, self.mm_col = (
            W.IntSlider(
                value=11,
                min=0,
                max=28 - 2,
                description=desc,
                style=style,
                layout=W.Layout(width="220px"),
            )
            for desc in ("top row", "left col")
        )
        self.mm_filter = W.Dropdown(
            description="kernel of", style=style, layout=W.Layout(width="160px")
        )
        for w in (self.mm_size, self.mm_row, self.mm_col, self.mm_filter):
            w.observe(lambda _c: self._render_matmul(), "value")
        self.mm_size.add_class("lab8-conv-mm-size")
        self.mm_matrix = W.HTML()
        self.mm_matrix.add_class("lab8-conv-mm-matrix")
        self.mm_kernel = W.HTML()
        self.mm_check = W.HTML()
        self.mm_check.add_class("lab8-conv-mm-check")
        crop = self._grid(
            "mm-crop", cell=30, cmap="gray", vmin=0.0, vmax=1.0, show_values=True, decimals=2
        )
        self.mm_flat_box = W.VBox()
        self.mm_product_box = W.VBox()
        sym = {"font_size": "22px"}
        self.matmul = W.VBox(
            [
                W.HBox(
                    [self.mm_size, self.mm_row, self.mm_col, self.mm_filter],
                    layout=W.Layout(flex_flow="row wrap", gap="2px 10px"),
                ),
                W.HTML(
                    "<div class='lab8-conv-note'>Each output of a convolution is a dot product, so the whole "
                    "convolution is one matrix multiplication: one row per output cell, one column per input "
                    "pixel. The kernel's weights appear in every row (same colour = the same, <i>tied</i>, weight); "
                    "grey entries are zeros.</div>"
                ),
                W.Box(
                    [
                        W.VBox([crop, self.mm_kernel], layout=W.Layout(align_items="center")),
                        self.mm_matrix,
                        W.Label("×", style=sym),
                        self.mm_flat_box,
                        W.Label("=", style=sym),
                        self.mm_product_box,
                        W.VBox(
                            [
                                self._grid(
                                    "mm-output",
                                    cell=30,
                                    show_values=True,
                                    decimals=2,
                                    title="product reshaped",
                                ),
                                self._grid(
                                    "mm-torch",
                                    cell=30,
                                    show_values=True,
                                    decimals=2,
                                    title="F.conv2d",
                                ),
                                self.mm_check,
                            ],
                            layout=W.Layout(align_items="center"),
                        ),
                    ],
                    layout=W.Layout(flex_flow="row wrap", align_items="flex-start", gap="8px"),
                ),
            ]
        )
        self.matmul.add_class("lab8-conv-matmul")

    def _render_matmul(self) -> None:
        if not hasattr(self, "tabs") or self.tabs.selected_index != 1:
            return  # built only while its tab is open: a drag must stay fast
        with self.guard(clear=False):
            size = self.mm_size.value
            for s in (self.mm_row, self.mm_col):
                s.max = 28 - size
            r0, c0 = self.mm_row.value, self.mm_col.value
            m = self._model
            i = self.mm_filter.value if self.mm_filter.value is not None else 0
            if i >= m.n_filters:
                i = 0
            crop = self._image[r0 : r0 + size, c0 : c0 + size]
            kernel = m.kernel(i).numpy()
            try:
                demo = matmul_demo(crop, kernel, m.stride, m.padding)
            except ValueError as e:
                self.mm_matrix.value = f"<div class='lab8-conv-note'>{html.escape(str(e))}: make the crop bigger or add padding</div>"
                return
            rows, cols = demo.matrix.shape
            cell = int(max(4, min(22, 420 // max(rows, cols))))
            self._grid(
                "mm-crop",
                values=crop,
                title=f"input crop rows {r0}–{r0 + size - 1}, cols {c0}–{c0 + size - 1}",
            )
            flat = self._grid(
                "mm-flat",
                cell=cell,
                cmap="gray",
                vmin=0.0,
                vmax=1.0,
                show_values=cell >= 18,
                decimals=1,
                title="flat input",
                subtitle=f"{cols}×1",
            )
            flat.values = demo.flat_input.numpy()[:, None]
            prod = self._grid(
                "mm-product",
                cell=cell,
                show_values=cell >= 18,
                decimals=1,
                title="product",
                subtitle=f"{rows}×1",
            )
            prod.values = demo.product.numpy()[:, None]
            self.mm_flat_box.children = [flat]
            self.mm_product_box.children = [prod]
            oh, ow = demo.output.shape
            ocell = int(max(12, min(30, 180 // max(oh, ow))))
            out = self._grid(
                "mm-output", cell=ocell, show_values=ocell >= 18, subtitle=f"{oh}×{ow}"
            )
            out.values = demo.output.numpy()
            ref = self._grid(
                "mm-torch",
                cell=ocell,
                show_values=ocell >= 18,
                subtitle=f"stride {m.stride}, padding {m.padding}",
            )
            ref.values = demo.reference.numpy()
            vmax = float(np.abs(demo.reference.numpy()).max(initial=0.0)) or 1.0
            for g in (prod, out, ref):
                g.vmin, g.vmax = -vmax, vmax
            ok = demo.max_abs_error <= 1e-4 * max(1.0, vmax)
            self.mm_check.value = (
                f"<div class='lab8-conv-note' style='color:{'#1a7f37' if ok else '#b42318'}'>"
                f"max |matmul − F.conv2d| = {demo.max_abs_error:.1e} {'✓ equal' if ok else '✗ differ'}</div>"
            )
            self.mm_kernel.value = self._kernel_legend(kernel, i)
            self.mm_matrix.value = self._matrix_svg(demo.index, kernel, cell)

    def _kernel_legend(self, kernel: np.ndarray, i: int) -> str:
        k = kernel.shape[0]
        cells = "".join(
            "<tr>"
            + "".join(
                f"<td style='background:{_tie_colour(a * k + b, k * k)};width:26px;height:22px;text-align:center;"
                f"font:11px system-ui'>{_fmt(float(kernel[a, b]))}</td>"
                for b in range(k)
            )
            + "</tr>"
            for a in range(k)
        )
        return (
            f"<div class='lab8-conv-note' style='text-align:center'>kernel of filter {i}"
            f"<table style='border-collapse:collapse;margin:2px auto'>{cells}</table></div>"
        )

    def _matrix_svg(self, index: np.ndarray, kernel: np.ndarray, cell: int) -> str:
        """The unrolled weight matrix: colour = which kernel weight (tied), grey = structural zero."""
        rows, cols = index.shape
        k2 = kernel.size
        flat = kernel.reshape(-1)
        text = cell >= 16
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{cols * cell + 1}' height='{rows * cell + 1}' "
            f"class='lab8-conv-mm-svg' style='font:{max(7, int(cell * 0.42))}px system-ui'>"
        ]
        for r in range(rows):
            for c in range(cols):
                idx = int(index[r, c])
                x, y = c * cell, r * cell
                if idx < 0:
                    parts.append(
                        f"<rect x='{x}' y='{y}' width='{cell}' height='{cell}' fill='#ececec' stroke='#fff'/>"
                    )
                    continue
                v = float(flat[idx])
                parts.append(
                    f"<rect x='{x}' y='{y}' width='{cell}' height='{cell}' fill='{_tie_colour(idx, k2)}' "
                    f"stroke='#fff' data-w='{idx}'><title>w[{idx // kernel.shape[1]},{idx % kernel.shape[1]}] = {v:g}</title></rect>"
                )
                if text:
                    parts.append(
                        f"<text x='{x + cell / 2}' y='{y + cell / 2 + 3}' text-anchor='middle'>{_fmt(v)}</text>"
                    )
        parts.append("</svg>")
        n_tied = int((index >= 0).sum())
        caption = (
            f"<div class='lab8-conv-note'>weight matrix {rows}×{cols}: {n_tied} entries from {k2} weights, "
            f"{rows * cols - n_tied} zeros</div>"
        )
        return f"<div style='max-width:560px;max-height:460px;overflow:auto'>{''.join(parts)}</div>{caption}"
