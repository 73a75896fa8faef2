"""The course's conv-example spreadsheet as a torch module.

Pure torch (no widgets), so every number ConvLab displays can be checked against ``F.conv2d``,
``F.max_pool2d`` and ``F.avg_pool2d`` on its own. ``SpreadsheetCNN``: conv1 (the kernels the
learner edits) → activation → conv2 (whose filters combine conv1's channels) → activation →
[dropout] → pool → dense → softmax. Its settings are a ``ConvConfig``; the arithmetic the lab shows
(presets, receptive fields, convolution as matrix multiplication) lives in ``ops``.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._threads import one_thread
from ..layers import SeededDropout, activation_name, make_activation
from .config import ARCH_FIELDS, POOL_TYPES, ConvConfig
from .ops import (
    DEFAULT_FILTERS,
    INPUT_SIZE,
    StageMeta,
    VanishedStageError,
    _as_int,
    check_kernel,
    check_value,
    out_size,
    preset,
    resize_kernel,
)

__all__ = ["STAGES", "SpreadsheetCNN"]

STAGES = ("input", "conv1", "act1", "conv2", "act2", "pool", "dense", "output")


class SpreadsheetCNN(nn.Module):
    """The conv-example spreadsheet: conv1 → act → conv2 → act → [dropout] → pool → dense → softmax.

    conv1 has ``n_filters`` single-channel k×k filters (``top_edge`` and ``left_edge`` first); conv2's
    ``conv2_filters`` filters are k×k×``n_filters``, so each combines every conv1 channel. Neither conv
    has a bias, so a filter is exactly the numbers in its editor. ``stride`` and ``padding`` belong to
    conv1 (the layer you edit); conv2 uses the same kernel size and padding with stride 1, so
    "stride-2 conv1, no pooling" and "stride-1 conv1, 2×2 pooling" end at the same size.
    The layers are the truth: the configuration is read back from them, so changing
    ``model.conv1.stride`` in a notebook cell is a real change. Settings come as a ``ConvConfig``
    or as its field names (``SpreadsheetCNN(kernel_size=5)``); new layers are made on the model's
    device, so ``model.cuda()`` keeps working.
    """

    def __init__(
        self,
        config: ConvConfig | None = None,
        *,
        conv2_filters: int = 2,
        classes: Sequence[str] = ("3", "7"),
        input_size: int = INPUT_SIZE,
        **settings: Any,
    ):
        super().__init__()
        cfg = (config if config is not None else ConvConfig()).replace(**settings)
        self.input_size = int(input_size)
        self.classes = tuple(str(c) for c in classes)
        self.conv2_filters = int(conv2_filters)
        # filter_presets[i]: the preset filter i came from (None once edited); _preset_values keeps the
        # preset's numbers so a kernel-size change regenerates untouched presets at the new size, and
        # _origins the kernel as the learner last set it, so growing 3→4→5 keeps an edit centred.
        self.filter_presets: list[str | None] = []
        self._preset_values: list[torch.Tensor | None] = []
        self._origins: list[torch.Tensor | None] = []
        self.dense_fitted = False  # True after fit_dense, False when the dense layer is rebuilt
        self.conv1 = nn.Conv2d(1, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(1, 1, 1, bias=False)
        self.act: nn.Module = make_activation(cfg.activation)
        self.drop = SeededDropout(cfg.dropout, seed=0)
        self.pool: nn.Module = nn.Identity()
        self.dense = nn.Linear(1, len(self.classes))
        self._built = False
        self.configure(**{k: getattr(cfg, k) for k in ARCH_FIELDS})

    # --- configuration, read from the layers ----------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.conv1.weight.device

    @property
    def n_filters(self) -> int:
        return int(self.conv1.out_channels)

    @property
    def kernel_size(self) -> int:
        return int(self.conv1.kernel_size[0])

    @property
    def stride(self) -> int:
        return int(self.conv1.stride[0])

    @property
    def padding(self) -> int:
        return int(self.conv1.padding[0])

    @property
    def pool_type(self) -> str:
        if isinstance(self.pool, nn.MaxPool2d):
            return "max"
        if isinstance(self.pool, nn.AvgPool2d):
            return "avg"
        return "none"

    @property
    def pool_size(self) -> int:
        if isinstance(self.pool, nn.MaxPool2d | nn.AvgPool2d):
            ks = self.pool.kernel_size
            return int(ks[0] if isinstance(ks, tuple) else ks)
        return self._pool_size_when_none

    _pool_size_when_none = 2

    @property
    def activation(self) -> str:
        """The non-linearity's name (``"relu"``, ``"mish"`` …; the class name for a foreign module)."""
        return activation_name(self.act) or type(self.act).__name__

    @activation.setter
    def activation(self, name: str) -> None:
        self.act = make_activation(ConvConfig.check("activation", name))

    @property
    def dropout(self) -> float:
        """Dropout's p after the second activation (0: off)."""
        return float(self.drop.p)

    @dropout.setter
    def dropout(self, p: float) -> None:
        self.drop.p = ConvConfig.check("dropout", p)

    def config(self) -> dict[str, Any]:
        """The current layer sizes, as ``configure`` takes them."""
        return {
            "n_filters": self.n_filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "pool": self.pool_type,
            "pool_size": self.pool_size,
        }

    def settings(self) -> ConvConfig:
        """Everything as a validated ``ConvConfig`` (ValueError if a cell took a layer past its range)."""
        return ConvConfig(**self.config(), activation=self.activation, dropout=self.dropout)

    @staticmethod
    def plan(
        n_filters: int,
        kernel_size: int,
        stride: int,
        padding: int,
        pool: str,
        pool_size: int,
        conv2_filters: int = 2,
        n_classes: int = 2,
        input_size: int = INPUT_SIZE,
        dropout: float = 0.0,
    ) -> OrderedDict[str, StageMeta]:
        """Every stage's shape and parameter count for a configuration, without building anything.

        Raises ``VanishedStageError`` naming the first stage left with no output. A 'dropout' stage
        follows 'act2' when ``dropout`` > 0.
        """
        for name, v, lo in (
            ("n_filters", n_filters, 1),
            ("kernel_size", kernel_size, 1),
            ("stride", stride, 1),
            ("padding", padding, 0),
            ("pool_size", pool_size, 1),
        ):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise ValueError(f"{name} must be an integer ≥ {lo}, got {v!r}")
        if pool not in POOL_TYPES:
            raise ValueError(f"pool must be one of {', '.join(POOL_TYPES)}, got {pool!r}")
        k, s, p, n = int(kernel_size), int(stride), int(padding), int(n_filters)
        meta: OrderedDict[str, StageMeta] = OrderedDict()
        meta["input"] = StageMeta("input", (1, input_size, input_size))
        h1 = out_size(input_size, k, s, p)
        if h1 < 1:
            raise VanishedStageError(
                "conv1",
                f"conv1 has no output: a {k}×{k} kernel does not fit the {input_size}×{input_size} "
                f"input with padding {p}. Use a smaller kernel or more padding.",
            )
        meta["conv1"] = StageMeta("conv", (n, h1, h1), k, s, p, True, n * k * k)
        meta["act1"] = StageMeta("act", (n, h1, h1))
        h2 = out_size(h1, k, 1, p)
        if h2 < 1:
            raise VanishedStageError(
                "conv2",
                f"conv2 has no output: its {k}×{k} kernel does not fit conv1's {h1}×{h1} output "
                f"with padding {p}. Use a smaller kernel, more padding or a lower stride.",
            )
        c2 = int(conv2_filters)
        meta["conv2"] = StageMeta("conv", (c2, h2, h2), k, 1, p, True, c2 * n * k * k)
        meta["act2"] = StageMeta("act", (c2, h2, h2))
        if dropout > 0:
            meta["dropout"] = StageMeta("dropout", (c2, h2, h2))
        if pool == "none":
            meta["pool"] = StageMeta("pool", (c2, h2, h2))
            h3 = h2
        else:
            h3 = out_size(h2, pool_size, pool_size, 0)
            if h3 < 1:
                raise VanishedStageError(
                    "pool",
                    f"pooling has no output: a {pool_size}×{pool_size} {pool} pool does not fit "
                    f"conv2's {h2}×{h2} output. Use a smaller pool, more padding or a lower stride.",
                )
            meta["pool"] = StageMeta("pool", (c2, h3, h3), pool_size, pool_size)
        features = c2 * h3 * h3
        meta["dense"] = StageMeta(
            "dense", (n_classes,), mixes=True, params=features * n_classes + n_classes
        )
        meta["output"] = StageMeta("softmax", (n_classes,))
        return meta

    def stages_meta(self) -> OrderedDict[str, StageMeta]:
        """Shapes, kernels, strides and parameter counts of the current layers."""
        return self.plan(
            **self.config(),
            conv2_filters=self.conv2_filters,
            n_classes=len(self.classes),
            input_size=self.input_size,
            dropout=self.dropout,
        )

    def configure(self, **changes: Any) -> bool:
        """Change sizes (``ARCH_FIELDS`` of ``ConvConfig``) keeping what still fits.

        Each value is checked by ``ConvConfig`` and the combination is planned first, so a
        combination that leaves a stage with no output raises ``VanishedStageError`` and changes
        nothing. Kernels that are still untouched presets are regenerated at a new size, edited
        ones are centre-cropped or zero-padded from the kernel as last edited; conv2 keeps the
        channels it had. Returns True when the dense layer had to be rebuilt (it then needs fitting).
        """
        unknown = sorted(set(changes) - set(ARCH_FIELDS))
        if unknown:
            raise TypeError(
                f"configure() got unexpected keyword argument(s) {unknown}; expected {sorted(ARCH_FIELDS)}"
            )
        changes = {k: ConvConfig.check(k, v) for k, v in changes.items()}
        cfg = self.config() if self._built else {}
        cfg.update(changes)
        cfg = {k: (v if k == "pool" else _as_int(k, v)) for k, v in cfg.items()}
        meta = self.plan(
            **cfg,
            conv2_filters=self.conv2_filters,
            n_classes=len(self.classes),
            input_size=self.input_size,
        )
        k, n, s, p = cfg["kernel_size"], cfg["n_filters"], cfg["stride"], cfg["padding"]
        if len(self.filter_presets) != self.n_filters:  # conv1 replaced from outside: names unknown
            self.filter_presets = [None] * self.n_filters
            self._preset_values = [None] * self.n_filters
            self._origins = [None] * self.n_filters
        dev = self.device
        with torch.no_grad():
            if not self._built or (self.kernel_size, self.n_filters) != (k, n):
                self._rebuild_conv1(n, k)
            self.conv1.stride, self.conv1.padding = (s, s), (p, p)
            if not self._built or tuple(self.conv2.weight.shape) != (self.conv2_filters, n, k, k):
                self._rebuild_conv2(n, k)
            self.conv2.stride, self.conv2.padding = (1, 1), (p, p)
            if cfg["pool"] != self.pool_type or cfg["pool_size"] != self.pool_size:
                self.pool = {
                    "max": lambda: nn.MaxPool2d(cfg["pool_size"]),
                    "avg": lambda: nn.AvgPool2d(cfg["pool_size"]),
                    "none": nn.Identity,
                }[cfg["pool"]]()
            self._pool_size_when_none = cfg["pool_size"]
            features = math.prod(meta["pool"].shape)
            rebuilt = not self._built or self.dense.in_features != features
            if rebuilt:
                dense = nn.Linear(features, len(self.classes))
                g = torch.Generator().manual_seed(features)
                bound = 1 / math.sqrt(features)
                dense.weight.uniform_(-bound, bound, generator=g)
                dense.bias.zero_()
                self.dense = dense.to(dev)
                self.dense_fitted = False
        self._built = True
        return rebuilt

    def _rebuild_conv1(self, n: int, k: int) -> None:
        old = self.conv1.weight.detach().cpu().clone() if self._built else None
        old_k = self.kernel_size if self._built else k
        dev = self.device
        conv = nn.Conv2d(1, n, k, bias=False)
        names: list[str | None] = []
        snaps: list[torch.Tensor | None] = []
        origins: list[torch.Tensor | None] = []
        for i in range(n):
            origin = None
            if old is not None and i < old.shape[0]:
                name = self.filter_presets[i]
                untouched = (
                    name is not None
                    and self._preset_values[i] is not None
                    and torch.equal(old[i, 0], self._preset_values[i])
                )
                origin = self._origins[i] if i < len(self._origins) else None
                if origin is None or not torch.equal(resize_kernel(origin, old_k), old[i, 0]):
                    origin = old[i, 0]  # changed since (a cell wrote it): start from what it is
                if old_k == k:
                    w, name = old[i, 0], (name if untouched else None)
                elif untouched:
                    w = preset(name, k, torch.Generator().manual_seed(1000 + i))
                    origin = w
                else:
                    w, name = resize_kernel(origin, k), None
            else:
                name = DEFAULT_FILTERS[i % len(DEFAULT_FILTERS)]
                w = preset(name, k, torch.Generator().manual_seed(1000 + i))
            conv.weight[i, 0] = w
            names.append(name)
            snaps.append(w.clone() if name is not None else None)
            origins.append(origin.clone() if origin is not None else w.clone())
        self.conv1 = conv.to(dev)
        self.filter_presets, self._preset_values, self._origins = names, snaps, origins

    def _rebuild_conv2(self, n: int, k: int) -> None:
        """Seeded weights in [-0.5, 0.5] (two decimals, readable); channels that survive keep theirs."""
        g = torch.Generator().manual_seed(8 * 100 + n * 10 + k)
        w = torch.round((torch.rand(self.conv2_filters, n, k, k, generator=g) - 0.5) * 100) / 100
        if self._built and self.conv2.weight.shape[2:] == (k, k):
            m = min(n, self.conv2.weight.shape[1])
            w[:, :m] = self.conv2.weight.detach().cpu()[:, :m]
        conv = nn.Conv2d(n, self.conv2_filters, k, bias=False)
        conv.weight.copy_(w)
        self.conv2 = conv.to(self.device)

    # --- editing layer-1 kernels ------------------------------------------------------------------
    def set_kernel(self, i: int, values: Any) -> None:
        """Replace layer-1 filter ``i`` with k×k ``values`` (checked: finite, |v| ≤ 1e6)."""
        i = self._filter_index(i)
        w = check_kernel(values, self.kernel_size)
        with torch.no_grad():
            self.conv1.weight[i, 0] = w.to(self.device)
        self.filter_presets[i] = None
        self._preset_values[i] = None
        self._origins[i] = w.clone()

    def set_kernel_value(self, i: int, row: int, col: int, value: Any) -> float:
        """Change one cell of filter ``i`` (a drag or a typed value); returns the value stored."""
        i = self._filter_index(i)
        k = self.kernel_size
        if not (0 <= int(row) < k and 0 <= int(col) < k):
            raise ValueError(f"cell ({row}, {col}) is outside the {k}×{k} kernel")
        v = check_value(value)
        with torch.no_grad():
            self.conv1.weight[i, 0, int(row), int(col)] = v
        now = self.conv1.weight.detach()[i, 0].cpu()
        if self.filter_presets[i] is not None and not torch.equal(now, self._preset_values[i]):
            self.filter_presets[i] = None
            self._preset_values[i] = None
        self._origins[i] = now.clone()
        return float(now[int(row), int(col)])

    def apply_preset(self, i: int, name: str, generator: torch.Generator | None = None) -> None:
        """Filter ``i`` becomes preset ``name`` at the current kernel size."""
        i = self._filter_index(i)
        w = preset(name, self.kernel_size, generator)
        with torch.no_grad():
            self.conv1.weight[i, 0] = w.to(self.device)
        self.filter_presets[i] = name
        self._preset_values[i] = w.clone()
        self._origins[i] = w.clone()

    def kernel(self, i: int) -> torch.Tensor:
        """Layer-1 filter ``i`` (k×k, detached copy on the CPU)."""
        return self.conv1.weight[self._filter_index(i), 0].detach().cpu().clone()

    def _filter_index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise ValueError(f"filter index must be an integer, got {i!r}")
        if not 0 <= int(i) < self.n_filters:
            raise ValueError(f"filter index must be between 0 and {self.n_filters - 1}, got {i}")
        return int(i)

    # --- dropout ------------------------------------------------------------------------------------
    def new_mask(self, seed: int | None = None) -> int:
        """Draw a new dropout mask (``seed`` reproduces one); returns the seed used."""
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
        self.drop.seed = int(seed)
        return int(seed)

    def dropout_mask(self) -> torch.Tensor | None:
        """The 0/1 mask dropout applies to one image's act2 (C, H, W); None when dropout is off."""
        if self.dropout == 0:
            return None
        shape = self.stages_meta()["act2"].shape
        return self.drop.mask((1, *shape))[0]

    # --- forward -------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled conv2 activations (after dropout), flattened: what the dense layer reads."""
        x = _as_batch(x).to(self.device)
        a = self.act
        return self.pool(self.drop(a(self.conv2(a(self.conv1(x)))))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, one per class."""
        return self.dense(self.features(x))

    def forward_stages(self, x: Any) -> OrderedDict[str, torch.Tensor]:
        """Every stage of the spreadsheet for a batch (N, 1, H, W) or one (H, W) image, in order.

        'conv1' and 'conv2' are before their activation ('act1', 'act2', whatever the function);
        'dropout' (only while p > 0) is 'act2' after the mask; 'pool' equals its input when pooling is
        off; 'dense' holds the logits and 'output' their softmax. Tensors are on the model's device.
        """
        x = _as_batch(x).to(self.device)
        with torch.inference_mode(), one_thread(x.shape[0] <= 8):
            out: OrderedDict[str, torch.Tensor] = OrderedDict(input=x)
            out["conv1"] = c1 = self.conv1(x)
            out["act1"] = r1 = self.act(c1)
            out["conv2"] = c2 = self.conv2(r1)
            out["act2"] = r2 = self.act(c2)
            if self.dropout > 0:
                out["dropout"] = r2 = self.drop(r2)
            out["pool"] = p = self.pool(r2)
            out["dense"] = d = self.dense(p.flatten(1))
            out["output"] = d.softmax(1)
        return out

    def features_signature(self) -> tuple:
        """Changes when what the dense layer reads changes: either convolution's weights (tensor
        version counters) or the activation. A dense fit made under another one is stale."""
        w1, w2 = self.conv1.weight, self.conv2.weight
        return (id(w1), w1._version, id(w2), w2._version, self.activation)

    def signature(self) -> tuple:
        """Changes whenever a parameter is written or a layer replaced (tensor version counters)."""
        return (
            tuple((id(p), p._version, tuple(p.shape)) for p in self.parameters()),
            self.conv1.stride,
            self.conv1.padding,
            self.conv2.stride,
            self.conv2.padding,
            id(self.pool),
            self.pool_type,
            self.pool_size,
            id(self.act),
            self.activation,
            self.drop.p,
            self.drop.seed,
            self.training,
            str(self.device),
        )


def _as_batch(x: Any) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.ndim == 2:
        return t[None, None]
    if t.ndim == 3:
        return t[:, None] if t.shape[0] != 1 else t[None]
    if t.ndim == 4:
        return t
    raise ValueError(
        f"expected an image (H, W) or a batch (N, 1, H, W), got shape {tuple(t.shape)}"
    )
