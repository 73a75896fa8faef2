"""ConvLab: the course's conv-example spreadsheet as a live, draggable torch model.

A thin view over ``lab8widgets.models.conv.SpreadsheetCNN``: every heatmap shows an array that
``lab.model`` computed (read through ``.cpu()``, wherever the model lives), the settings are a
``ConvConfig`` whose fields make the traits and controls, and a change made to ``lab.model`` in a
notebook cell is picked up after the cell runs. The chain (kernels → … → softmax) is one
``HeatmapStack``: a gesture that changes it goes to the page as one message, painted in one frame.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import traitlets

from ..models.conv import (
    ARCH_FIELDS,
    KERNEL_PRESETS,
    ConvConfig,
    SpreadsheetCNN,
    VanishedStageError,
    as_digit_image,
    fit_dense_cached,
    receptive_field,
)
from ..views.controls import SettingTrait
from ..views.heatmap import nice_limit
from ._base import LabBase, LabInputError, api_call, reject_unknown
from .conv_panels import chain_layout, shape_text, stage_title
from .conv_view import build_view, show_around

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
        from ..data import mnist_sample

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

        With dropout on, 'dropout' (relu2 after the mask and scaling) follows 'relu2'.
        """
        return OrderedDict((k, v.copy()) for k, v in self._activations.items())

    @property
    def dropout_mask(self) -> np.ndarray | None:
        """The 0/1 mask on relu2, shaped like it (C, H, W); all ones in eval mode, None when off."""
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
        self._fit_sig = self._kernel_sig()
        return fit

    def _kernel_sig(self) -> tuple:
        m = self._model
        w1, w2 = m.conv1.weight, m.conv2.weight
        return (w1._version, id(w1), w2._version, id(w2), m.activation)

    # --- controls ----------------------------------------------------------------------------------
    def _build(self) -> None:
        build_view(self)

    def _sync_controls(self) -> None:
        """Controls that depend on other settings: the stride-2 toggle and the pool-size slider."""
        if not hasattr(self, "stride2_toggle"):
            return
        with self._batch():
            self.stride2_toggle.value = self.pool == "none" and self.stride == 2
        self.pool_size_slider.disabled = self.pool == "none"
        self.mask_button.disabled = self.dropout == 0 or not self.training
        p = self.dropout
        self.scaling_note.value = (
            "<span class='lab8-conv-note'>dropout off (p = 0)</span>"
            if p == 0
            else "<span class='lab8-conv-note'>eval: no mask, no scaling</span>"
            if not self.training
            else f"<span class='lab8-conv-note'>train: kept activations × 1/(1−p) = "
            f"1/(1−{p:g}) = <b>×{1 / (1 - p):.3g}</b>, dropped ones are 0</span>"
        )

    # --- gestures -------------------------------------------------------------------------------
    def _on_stride2(self, change) -> None:
        if self._batching:
            return
        with self.guard():
            if change["new"]:
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

    def _on_draw(self, cells: list[tuple[int, int, float]], done: bool) -> None:
        with self.guard():
            arr = self.pad.values
            for r, c, v in cells:
                if 0 <= r < arr.shape[0] and 0 <= c < arr.shape[1] and math.isfinite(v):
                    arr[r, c] = max(arr[r, c], min(max(v, 0.0), 1.0))
            self.pad.values = arr
            self._image = arr.copy()
            self._image_label = "your drawing"
            self._render()

    def _on_clear(self) -> None:
        """Clear the pad and go back to the sample digit the slider points at."""
        with self.guard():
            self.pad.values = np.zeros((28, 28), np.float32)
            self._show_sample()

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
            self._paint_chain(acts)
            self._show_selection(self._receptive())
        show_around(self, acts)

    def _paint_chain(self, acts: OrderedDict[str, np.ndarray]) -> None:
        m, chain = self._model, self.chain
        kernels = m.conv1.weight.detach().cpu()[:, 0].numpy()
        kmax = nice_limit(float(np.abs(kernels).max(initial=0.0)), floor=1.0)
        chain.set_scale("kernels", 0, vmin=-kmax, vmax=kmax)
        for i in range(m.n_filters):
            chain.set(("kernel", i), kernels[i], subtitle=m.filter_presets[i] or "edited")
        for stage in ("conv1", "relu1", "conv2", "relu2", "dropout", "pool"):
            if stage not in acts:
                continue
            a = acts[stage]
            vmax = nice_limit(float(np.abs(a).max(initial=0.0)))  # one colour scale per stage
            chain.set_scale(stage, 1 if stage == "conv2" else 0, vmin=-vmax, vmax=vmax)
            for ch in range(a.shape[0]):
                chain.set((stage, ch), a[ch])
        mask = self.dropout_mask
        if mask is not None and "dropout" in acts:
            for ch in range(mask.shape[0]):
                chain.set(("mask", ch), mask[ch])
        w2 = m.conv2.weight.detach().cpu().numpy()  # (c2, n, k, k) shown as k × (n·k)
        w2max = nice_limit(float(np.abs(w2).max(initial=0.0)))
        chain.set_scale("conv2", 0, vmin=-w2max, vmax=w2max)
        for j in range(w2.shape[0]):
            chain.set(("conv2w", j), np.concatenate(list(w2[j]), axis=1))
        dmax = nice_limit(float(np.abs(acts["dense"]).max(initial=0.0)))
        chain.set_scale("dense", 0, vmin=-dmax, vmax=dmax)
        chain.set(("dense",), acts["dense"])
        chain.set(("output",), acts["output"])

    def _show_selection(self, windows: OrderedDict) -> None:
        sel = self._selection
        for key in self.chain.grid_keys:
            stage = "dropout" if key[0] == "mask" else key[0]
            if stage not in self._meta:  # kernels and conv2 weights
                continue
            ch = key[1] if len(key) > 1 else 0
            hl: list[list[int]] = []
            if sel is not None and stage in windows and stage != sel[0]:
                w = windows[stage]
                if w.channels is None or ch in w.channels:
                    hl = [[w.r0, w.c0, w.r1, w.c1]]
            picked = sel is not None and sel[0] == stage and sel[1] == ch and key[0] != "mask"
            self.chain.set(key, highlight=hl, selected=[sel[2], sel[3]] if picked else [])
        w = windows.get("input")
        hl = [[w.r0, w.c0, w.r1, w.c1]] if w is not None and sel[0] != "input" else []
        if self.input_grid.highlight != hl:
            self.input_grid.highlight = hl
        pick = [sel[2], sel[3]] if sel is not None and sel[0] == "input" else []
        if self.input_grid.selected != pick:
            self.input_grid.selected = pick
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

    def _summary_html(self) -> str:
        meta, m = self._meta, self._model
        total = sum(s.params for s in meta.values())
        parts = []
        for name, s in meta.items():
            label = {"output": "softmax", "dropout": f"dropout p={m.dropout:g}"}.get(name, name)
            if name in ("relu1", "relu2"):
                label = stage_title(name, m)
            elif name == "pool":
                label = "no pool" if m.pool_type == "none" else f"{m.pool_type} pool {s.kernel}"
            params = f" ({s.params:,})" if s.params else ""
            parts.append(f"<b>{html.escape(label)}</b> {shape_text(s.shape)}{params}")
        return (
            f"<div class='lab8-conv-summary'>{' → '.join(parts)} · <b>{total:,}</b> parameters "
            f"(no conv bias)</div>"
        )

    def _prediction_html(self) -> str:
        probs = self._activations["output"][0]
        cls = self._model.classes
        best = int(np.argmax(probs))
        if not self._model.dense_fitted:
            fit = "dense layer not fitted yet"
        else:
            stale = self._fit_sig != self._kernel_sig()
            fit = self._fit_info + (
                " — kernels changed since: refit to see how well these features do" if stale else ""
            )
        ps = " · ".join(f"P({html.escape(c)})={p:.2f}" for c, p in zip(cls, probs, strict=False))
        return (
            f"<div class='lab8-conv-note'><b>predicts {html.escape(cls[best])}</b> ({ps})<br>"
            f"<span style='color:#666'>{html.escape(fit)}</span></div>"
        )
