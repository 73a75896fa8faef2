"""ConvLab: the course's conv-example spreadsheet as a live, draggable torch model.

A thin view over ``lab8widgets.models.conv.SpreadsheetCNN``: every heatmap shows an array that
``lab.model`` computed (read through ``.cpu()``, wherever the model lives), the settings are a
``ConvConfig`` whose fields make the traits and controls, and a change made to ``lab.model`` in a
notebook cell is picked up after the cell runs. The chain (kernels → … → softmax) is one
``HeatmapStack``: a gesture that changes it goes to the page as one message, painted in one frame.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets

from ...models.conv import (
    ARCH_FIELDS,
    KERNEL_PRESETS,
    ConvConfig,
    SpreadsheetCNN,
    VanishedStageError,
    as_digit_image,
    fit_dense_cached,
    receptive_field,
)
from ...views.controls import SettingTrait
from ...views.heatmap import HeatmapStack
from .._base import LabBase, LabInputError, api_call, reject_unknown
from .activation import ActivationPanel
from .chain import chain_layout, highlight_chain, paint_chain, summary_html
from .matmul import MatmulPanel
from .page import ConvControls, InputPanel, PredictionPanel, prediction_html

__all__ = ["ConvLab"]

FIELDS = tuple(ConvConfig.specs())


class ConvLab(LabBase):
    """The conv-example spreadsheet: drag kernel cells, change sizes, click cells, unroll a convolution.

    ``lab.model`` is the live ``SpreadsheetCNN``; ``lab.activations`` holds exactly what is displayed.
    Settings are traits checked by ``ConvConfig`` (``lab.stride = 2``, ``lab.activation = "mish"``,
    ``lab.dropout = 0.5``); a combination that leaves a stage with no output is reported in
    ``lab.error`` while the last valid network stays on screen.
    """

    n_filters = SettingTrait(ConvConfig)
    kernel_size = SettingTrait(ConvConfig)
    stride = SettingTrait(ConvConfig)
    padding = SettingTrait(ConvConfig)
    pool = SettingTrait(ConvConfig)
    pool_size = SettingTrait(ConvConfig)
    activation = SettingTrait(ConvConfig)
    dropout = SettingTrait(ConvConfig)
    training = traitlets.Bool(True)  # dropout's train mode (mask and 1/(1-p)); False: eval
    index = traitlets.Int(0)  # which sample digit is the input (when no drawing or array is shown)

    def __init__(
        self,
        image: Any = None,
        *,
        index: int = 0,
        digits: Sequence[int] = (3, 7),
        model: SpreadsheetCNN | None = None,
        config: ConvConfig | None = None,
        fit: bool = True,
        **settings: Any,
    ):
        reject_unknown(type(self).__name__, settings, FIELDS)
        super().__init__(title="ConvLab: the conv-example spreadsheet, live")
        self.add_class("lab8-conv")
        from ...data import mnist_sample

        self._batching = 0
        self._digits = mnist_sample(digits=digits)
        self.source = self._digits.source
        self._fit_info = ""
        self._fit_sig: tuple | None = None
        self._selection: tuple[str, int, int, int] | None = None  # stage, channel, row, col
        self._activations: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sig: tuple | None = None
        self._layout_sig: tuple | None = None
        self._pool_before_stride2: tuple[str, int, int] | None = None
        if model is not None and not isinstance(model, SpreadsheetCNN):
            raise TypeError(f"model must be a SpreadsheetCNN, got {type(model).__name__}")
        with self._batch():
            if model is None:
                cfg = (config if config is not None else ConvConfig()).replace(**settings)
                for name in FIELDS:
                    setattr(self, name, getattr(cfg, name))
                model = SpreadsheetCNN(cfg, classes=[str(d) for d in self._classes()])
            self._model = model
            self._traits_from_model()
            self.index = self._check_index(index)
        self._image = self._digits.images[self.index].copy()
        self._image_label = self._sample_label()
        if image is not None:
            self._image = as_digit_image(image)
            self._image_label = "your image"
        self._meta = self._model.stages_meta()
        self._build()
        if fit and not self._model.dense_fitted:
            self._fit()
        self._after_config()
        self.follow_model(self.sync_with_model)

    # --- public API ------------------------------------------------------------------------------
    @property
    def model(self) -> SpreadsheetCNN:
        """The live torch module; change it in a cell and the lab follows after the cell runs."""
        return self._model

    @model.setter
    @api_call
    def model(self, m: SpreadsheetCNN) -> None:
        if not isinstance(m, SpreadsheetCNN):
            raise TypeError(f"lab.model must be a SpreadsheetCNN, got {type(m).__name__}")
        self._model = m
        self.refresh()

    @property
    def config(self) -> ConvConfig:
        """The settings the traits hold (what the controls show)."""
        return ConvConfig(**{n: getattr(self, n) for n in FIELDS})

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

        With dropout on, 'dropout' (act2 after the mask and scaling) follows 'act2'.
        """
        return OrderedDict((k, v.copy()) for k, v in self._activations.items())

    @property
    def dropout_mask(self) -> np.ndarray | None:
        """The 0/1 mask on act2, shaped like it (C, H, W); all ones in eval mode, None when off."""
        mask = self._model.dropout_mask()
        return None if mask is None else mask.numpy().astype(np.float32)

    @property
    def selection(self) -> tuple[str, int, int, int] | None:
        """The clicked cell as (stage, channel, row, col), or None."""
        return self._selection

    @property
    def digits(self):
        """The MNIST sample the digit picker walks through (images, labels, source)."""
        return self._digits

    @api_call
    def set_image(self, x: Any, label: str = "your image") -> None:
        """Show a 2-D array, tensor or PIL image (resized to 28×28 grayscale in [0, 1]) as the input."""
        self._image = as_digit_image(x)
        self._image_label = label
        self._render()

    @api_call
    def show_digit(self, index: int | None = None) -> None:
        """Show sample digit ``index`` (0 … len(lab.digits.images) − 1; default: the current one)."""
        index = self.index if index is None else self._check_index(index)
        if index == self.index:
            self._show_sample()
        else:
            self.index = index  # the observer shows it

    @api_call
    def set_kernel(self, i: int, values: Any) -> None:
        """Layer-1 filter ``i`` becomes the k×k ``values``; bad values raise and keep the old kernel."""
        try:
            self._model.set_kernel(i, values)
        except ValueError as e:
            raise LabInputError(f"Kernel not changed: {e}") from None
        self._render()

    @api_call
    def apply_preset(self, i: int | str, name: str) -> None:
        """Filter ``i`` (or ``"all"``) becomes preset ``name``: one of ``KERNEL_PRESETS``."""
        if name not in KERNEL_PRESETS:
            raise LabInputError(
                f"unknown preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}"
            )
        for t in range(self._model.n_filters) if i == "all" else [i]:
            try:
                self._model.apply_preset(t, name)
            except ValueError as e:
                raise LabInputError(str(e)) from None
        self._render()

    @api_call
    def configure(self, **changes: Any) -> None:
        """Change several settings at once (e.g. ``pool="none", stride=2``); raises if a stage vanishes."""
        cfg = self.config.replace(**changes)  # checks every value before changing any
        with self._batch():
            for name in changes:
                setattr(self, name, getattr(cfg, name))
        self._apply(raise_errors=True)

    @api_call
    def new_mask(self, seed: int | None = None) -> int:
        """Draw a new dropout mask (``seed`` reproduces one, as ``torch.manual_seed``); returns the seed."""
        seed = self._model.new_mask(seed)
        self._render()
        return seed

    @api_call
    def fit_dense(self) -> tuple[float, float]:
        """Refit the dense layer on the sample for the current kernels; (train, held-out) accuracy."""
        fit = self._fit()
        self._render()
        return fit.train_accuracy, fit.valid_accuracy

    @api_call
    def select(self, stage: str, row: int, col: int, channel: int = 0) -> OrderedDict:
        """Select cell (row, col) of ``stage`` (channel ``channel``) as a click does; returns its windows."""
        try:
            return self._select(stage, channel, row, col)
        except (ValueError, KeyError) as e:
            raise LabInputError(e.args[0] if e.args else str(e)) from None

    def refresh(self) -> None:
        """Re-read ``lab.model`` (layers, weights, mode) and redraw; runs by itself after each cell."""
        self._traits_from_model()
        try:
            self._model.stages_meta()
        except ValueError as e:
            self.fail(f"{e} (the lab shows the last network that had an output)")
            return
        with self.guard():
            if self._model.configure():  # the dense layer no longer fits the new shapes
                self._fit()
            self._after_config()

    def sync_with_model(self) -> None:
        """Redraw if ``lab.model`` changed since the last render (what runs after every cell)."""
        if self._model.signature() != self._sig:
            self.refresh()

    # --- traits ------------------------------------------------------------------------------------
    @traitlets.validate("index")
    def _valid_index(self, proposal):
        n = len(self._digits.images) if hasattr(self, "_digits") else 1 << 30
        v = proposal["value"]
        if not 0 <= v < n:
            msg = f"index must be between 0 and {n - 1}, got {v!r}"
            self.fail(msg)
            raise traitlets.TraitError(msg)
        return v

    @traitlets.observe(*FIELDS, "training")
    def _on_config(self, _change) -> None:
        if self._batching:
            return
        with self.guard(clear=False):
            self._apply(raise_errors=False)

    @traitlets.observe("index")
    def _on_index(self, _change) -> None:
        if not self._batching:
            with self.guard():
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
            raise LabInputError(f"index must be between 0 and {n - 1}, got {index!r}")
        return int(index)

    def _classes(self) -> list[int]:
        return sorted(int(d) for d in np.unique(self._digits.labels))

    def _sample_label(self) -> str:
        return f"MNIST sample #{self.index}, a {int(self._digits.labels[self.index])}"

    def _traits_from_model(self) -> None:
        """The lab's traits follow the model's layers (after a change made in a cell)."""
        m = self._model
        now = {**m.config(), "activation": m.activation, "dropout": m.dropout}
        with self._batch():
            for name, v in now.items():
                try:
                    v = ConvConfig.check(name, v)
                except ValueError:
                    continue  # the model may go beyond the controls; the traits keep their range
                if getattr(self, name) != v:
                    setattr(self, name, v)
            if self.training != m.training:
                self.training = m.training

    def _apply(self, raise_errors: bool) -> None:
        """Make the model what the traits say, or say why not (the last valid network stays)."""
        cfg = self.config
        m = self._model
        try:
            rebuilt = m.configure(**{k: getattr(cfg, k) for k in ARCH_FIELDS})
        except VanishedStageError as e:
            shown = m.config()
            asked = [f"{k} {shown[k]}" for k in ARCH_FIELDS if shown[k] != getattr(cfg, k)]
            msg = (
                f"{e} The picture still shows the last network that had an output"
                f"{' (' + ', '.join(asked) + ')' if asked else ''}; the controls show what you asked for."
            )
            self.fail(msg)
            self._sync_controls()
            if raise_errors:
                raise VanishedStageError(e.stage, msg) from None
            return
        new_act = m.activation != cfg.activation
        if new_act:
            m.activation = cfg.activation
        m.dropout = cfg.dropout
        m.train(self.training)
        if rebuilt or new_act:
            self._fit()
        self.clear_error()
        self._after_config()

    def _after_config(self) -> None:
        self._meta = self._model.stages_meta()
        if self._selection is not None:
            stage, ch, r, c = self._selection
            shp = self._meta[stage].shape if stage in self._meta else ()
            ok = (len(shp) == 3 and ch < shp[0] and r < shp[1] and c < shp[2]) or (
                len(shp) == 1 and c < shp[0]
            )
            if not ok:
                self._selection = None
        self._render()
        self._sync_controls()

    def _show_sample(self) -> None:
        self._image = self._digits.images[self.index].copy()
        self._image_label = self._sample_label()
        self._render()

    def _fit(self):
        """Fit the dense layer on the sample (memoised in models: same weights, same fit)."""
        fit = fit_dense_cached(
            self._model, self._digits.images, self._digits.labels, self._digits.source
        )
        self._fit_info = (
            f"dense layer fitted (logistic regression, conv layers frozen) on {fit.n_train} sample "
            f"digits; held-out accuracy {fit.valid_accuracy:.0%}"
        )
        self._fit_sig = self._model.features_signature()
        return fit

    # --- the page --------------------------------------------------------------------------------
    def _build(self) -> None:
        """Every panel, once, each given the callbacks it calls; shapes live in the chain's layout."""
        self.controls = ConvControls(
            self,
            len(self._digits.images),
            on_error=self.fail,
            on_stride2=self._on_stride2,
            on_preset=lambda target, name: self._click(self.apply_preset, target, name),
            on_new_mask=lambda: self._click(self.new_mask),
        )
        self.inputs = InputPanel(
            on_click=lambda r, c: self._on_click(("input", 0), r, c),
            on_draw=self._on_draw,
            on_clear=self._show_sample,
            on_digit=lambda: self._click(self.show_digit),
            guard=self.guard,
        )
        # the chain: one widget, one message per change, scrolling inside its own box
        self.chain = HeatmapStack(css_prefix="lab8-conv-")
        self.chain.add_class("lab8-conv-chain")
        self.chain.layout = W.Layout(flex="1 1 auto", min_width="0", max_width="100%")
        self.chain.on_edit(self._on_chain_edit)
        self.chain.on_click(self._on_click)
        self.predictions = PredictionPanel(on_fit=lambda: self._click(self.fit_dense))
        self.summary = W.HTML()
        self.summary.add_class("lab8-conv-summary")
        self.rf_note = W.HTML(
            "<span class='lab8-conv-note'>click any cell to see its receptive field</span>"
        )
        self.rf_note.add_class("lab8-conv-rf")
        row = W.HBox(
            [self.inputs, self.chain, self.predictions],
            layout=W.Layout(align_items="flex-start", gap="4px", width="100%"),
        )
        row.add_class("lab8-conv-row")
        self.network = W.VBox([self.summary, row, self.rf_note])
        self.matmul = MatmulPanel(self.guard, on_error=self.fail)
        self.activation_panel = ActivationPanel()
        self.tabs = W.Tab(
            children=[self.network, self.matmul, self.activation_panel],
            titles=["Network", "Convolution as matrix multiplication", "Activation function"],
        )
        self.tabs.add_class("lab8-conv-tabs")
        self.tabs.observe(lambda _c: self._on_tab(), "selected_index")
        self.body.children = [self.controls, self.tabs]
        for i, name in enumerate(("network", "matmul", "activation")):
            self.add_section(name, self.tabs.children[i], lambda i=i: self._open_tab(i))
        # the widgets notebooks and tests reach for, by their names on the lab
        c, i = self.controls, self.inputs
        self.index_slider, self.kernel_slider = c.index_slider, c.kernel_slider
        self.filters_slider, self.stride_slider = c.filters_slider, c.stride_slider
        self.padding_slider, self.pool_buttons = c.padding_slider, c.pool_buttons
        self.pool_size_slider, self.stride2_toggle = c.pool_size_slider, c.stride2_toggle
        self.filter_pick, self.preset_pick = c.filter_pick, c.preset_pick
        self.preset_button, self.activation_pick = c.preset_button, c.activation_pick
        self.dropout_slider, self.mode_buttons = c.dropout_slider, c.mode_buttons
        self.mask_button, self.scaling_note = c.mask_button, c.scaling_note
        self.input_grid, self.pad, self.clear_button = i.grid, i.pad, i.clear_button
        self.index_label, self.digit_button = i.index_label, i.digit_button
        self.prediction, self.fit_button = self.predictions.text, self.predictions.fit_button

    def _sync_controls(self) -> None:
        if hasattr(self, "controls"):
            self.controls.sync(self.config, self.training)

    def _click(self, fn, *args) -> None:
        with self.guard():
            fn(*args)

    def _open_tab(self, index: int) -> None:
        """Select a tab (the lesson map opens the matmul and activation tabs by name)."""
        self.tabs.selected_index = index

    def _on_tab(self) -> None:
        self.matmul.active = self.tabs.selected_index == 1
        with self.guard():
            self._show_around(self._activations)

    # --- gestures -------------------------------------------------------------------------------
    def _on_stride2(self, on: bool) -> None:
        with self.guard():
            if on:
                self._pool_before_stride2 = (self.pool, self.pool_size, self.stride)
                self.configure(pool="none", stride=2)
            else:
                pool, size, stride = self._pool_before_stride2 or ("max", 2, 1)
                self.configure(
                    pool="max" if pool == "none" else pool, pool_size=size, stride=stride
                )

    def _on_chain_edit(self, key: tuple, r: int, c: int, value: Any, done: bool) -> None:
        """A drag step or a typed value in a kernel: checked, written into conv1, the chain redrawn."""
        if key[0] != "kernel":
            return
        with self.guard():
            try:
                self._model.set_kernel_value(key[1], r, c, value)
            except ValueError as e:
                raise LabInputError(f"Kernel not changed: {e}") from None
            self._render()

    def _on_draw(self, image: np.ndarray) -> None:
        self._image = image
        self._image_label = "your drawing"
        self._render()

    def _on_click(self, key: tuple, r: int, c: int) -> None:
        stage = key[0]
        if stage in ("kernel", "conv2w"):
            return
        with self.guard():
            ch = key[1] if len(key) > 1 else 0
            self._select("dropout" if stage == "mask" else stage, ch, r, c)

    def _select(self, stage: str, ch: int, r: int, c: int) -> OrderedDict:
        if stage not in self._meta:
            raise KeyError(f"unknown stage {stage!r}; stages are {', '.join(self._meta)}")
        shp = self._meta[stage].shape
        if len(shp) == 3 and not 0 <= ch < shp[0]:
            raise ValueError(f"{stage} has channels 0..{shp[0] - 1}, got {ch}")
        windows = self._receptive((stage, ch, r, c))  # validates the cell
        self._selection = (stage, ch, r, c)
        with self.chain.batch():
            self._show_selection(windows)
        return windows

    def _receptive(self, sel: tuple[str, int, int, int] | None = None) -> OrderedDict:
        """The windows of ``sel`` (default: the current selection) in every earlier stage."""
        sel = sel or self._selection
        if sel is None:
            return OrderedDict()
        stage, ch, r, c = sel
        return receptive_field(
            self._meta, stage, r, c, ch if len(self._meta[stage].shape) == 3 else None
        )

    # --- rendering ----------------------------------------------------------------------------
    def _render(self) -> None:
        """Run the model on the input and show every stage (the only place arrays reach the views)."""
        m = self._model
        try:
            st = m.forward_stages(self._image)
            acts: OrderedDict[str, np.ndarray] = OrderedDict()
            for k, t in st.items():
                a = t.detach().cpu().numpy()
                acts[k] = a[0, 0] if k == "input" else a if k in ("dense", "output") else a[0]
        except (RuntimeError, ValueError, NotImplementedError) as e:
            self.fail(
                f"the model could not run: {e} (the lab shows the last network that had an output)"
            )
            return
        self._activations = acts
        self._sig = m.signature()
        layout_sig = (tuple(self._meta.items()), m.activation, m.dropout, m.drop.seed, m.training)
        with self.chain.batch():
            if layout_sig != self._layout_sig:
                self.chain.set_layout(chain_layout(self._meta, m))
                self._layout_sig = layout_sig
            paint_chain(self.chain, m, acts, self.dropout_mask)
            self._show_selection(self._receptive())
        self._show_around(acts)

    def _show_around(self, acts: OrderedDict[str, np.ndarray]) -> None:
        """Everything beside the chain that follows a render: the input, texts, pickers, open tabs."""
        self.inputs.show(acts["input"], self._image_label)
        summary = summary_html(self._meta, self._model)
        if self.summary.value != summary:
            self.summary.value = summary
        self.predictions.text.value = prediction_html(
            acts["output"][0], self._model.classes, self._fit_text()
        )
        self.controls.set_filters(self._model.n_filters)
        self.matmul.show(self._image, self._model)
        if self.tabs.selected_index == 2:
            self.activation_panel.show(self._model.activation, acts)

    def _show_selection(self, windows: OrderedDict) -> None:
        sel = self._selection
        highlight_chain(self.chain, self._meta, sel, windows)
        w = windows.get("input")
        self.inputs.mark(
            [[w.r0, w.c0, w.r1, w.c1]] if w is not None and sel[0] != "input" else [],
            [sel[2], sel[3]] if sel is not None and sel[0] == "input" else [],
        )
        if sel is None:
            return
        stage, ch, r, c = sel
        shp = self._meta[stage].shape
        where = f"{stage}[{ch}]" if len(shp) == 3 and stage != "input" else stage
        if w is None or stage == "input":
            text = f"{where} ({r}, {c}) is an input pixel: value {self._activations['input'][r, c]:.2f}"
        else:
            a = self._activations[stage]
            v = float(a[ch, r, c] if a.ndim == 3 else a[r, c])
            text = (
                f"{where} ({r}, {c}) = {v:.3g} reads input rows {w.r0}–{w.r1}, columns {w.c0}–{w.c1}: "
                f"a {w.r1 - w.r0 + 1}×{w.c1 - w.c0 + 1} receptive field (orange)"
            )
        self.rf_note.value = f"<span class='lab8-conv-note'>{html.escape(text)}</span>"

    def _fit_text(self) -> str:
        """How the dense layer was fitted, and whether the kernels changed since."""
        if not self._model.dense_fitted:
            return "dense layer not fitted yet"
        stale = self._fit_sig != self._model.features_signature()
        return self._fit_info + (
            " — kernels changed since: refit to see how well these features do" if stale else ""
        )
