"""The course's conv-example spreadsheet as a torch module, plus the arithmetic the lab shows.

Pure torch (no widgets), so every number the ConvLab displays can be checked against
``F.conv2d``, ``F.max_pool2d`` and ``F.avg_pool2d`` on its own:

* ``top_edge`` and ``left_edge``: the lesson's 3×3 kernels (fastbook ch. 13);
* ``KERNEL_PRESETS``: those kernels and friends as functions of the kernel size ``k``;
* ``SpreadsheetCNN``: conv1 (the kernels the learner edits) → ReLU → conv2 (whose filters combine
  conv1's channels) → ReLU → pool → dense → softmax, as in the spreadsheet;
* ``forward_stages`` (a method), ``stages_meta`` and ``receptive_field``: every stage's activations and
  the window of each earlier stage that a cell depends on;
* ``conv_as_matmul``: one convolution unrolled into a matrix with tied weights.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._threads import one_thread

__all__ = [
    "DEFAULT_FILTERS",
    "KERNEL_PRESETS",
    "MAX_ABS_WEIGHT",
    "MatmulDemo",
    "POOL_TYPES",
    "STAGES",
    "SpreadsheetCNN",
    "StageMeta",
    "VanishedStageError",
    "Window",
    "as_digit_image",
    "check_kernel",
    "check_value",
    "conv_as_matmul",
    "conv_matrix_index",
    "fit_dense",
    "left_edge",
    "matmul_demo",
    "out_size",
    "preset",
    "receptive_field",
    "top_edge",
]

# The lesson's kernels, exactly as fastbook ch. 13 writes them.
top_edge = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
left_edge = torch.tensor([[-1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])

MAX_ABS_WEIGHT = 1e6  # a kernel value beyond this is a typo, not an experiment
POOL_TYPES = ("max", "avg", "none")
STAGES = ("input", "conv1", "relu1", "conv2", "relu2", "pool", "dense", "output")
INPUT_SIZE = 28


# --- kernel presets ----------------------------------------------------------------------------
def _signs(k: int) -> torch.Tensor:
    """-1 before the centre, 0 at an odd kernel's centre, +1 after: the step an edge kernel looks for."""
    pos = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    return torch.sign(pos)


def _top_edge(k: int) -> torch.Tensor:
    """Dark above, bright below: fires on the top edge of a stroke (``top_edge`` at k=3)."""
    return _signs(k)[:, None].expand(k, k).clone()


def _bottom_edge(k: int) -> torch.Tensor:
    return _top_edge(k).flip(0)


def _left_edge(k: int) -> torch.Tensor:
    """-1 then +1 in the two columns left of centre: the lesson's ``left_edge`` at k=3; 0 at k=1."""
    w = torch.zeros(k, k)
    c = k // 2
    if c >= 1:
        w[:, c - 1] = -1.0
        w[:, c] = 1.0
    return w


def _right_edge(k: int) -> torch.Tensor:
    return _left_edge(k).flip(1)


def _blur(k: int) -> torch.Tensor:
    return torch.full((k, k), 1.0 / (k * k))


def _identity(k: int) -> torch.Tensor:
    w = torch.zeros(k, k)
    w[k // 2, k // 2] = 1.0
    return w


def _sharpen(k: int) -> torch.Tensor:
    """The classic 3×3 sharpen (centre 5, four neighbours -1), centred in any k."""
    w = _identity(k)
    c = k // 2
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, cc = c + dr, c + dc
        if 0 <= r < k and 0 <= cc < k:
            w[r, cc] = -1.0
            w[c, c] += 1.0
    return w


def _random(k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform in [-1, 1], rounded to 0.1 so the editor shows the exact values."""
    w = torch.rand(k, k, generator=generator) * 2 - 1
    return torch.round(w * 10) / 10


KERNEL_PRESETS: dict[str, Callable[..., torch.Tensor]] = {
    "top_edge": _top_edge,
    "bottom_edge": _bottom_edge,
    "left_edge": _left_edge,
    "right_edge": _right_edge,
    "blur": _blur,
    "sharpen": _sharpen,
    "identity": _identity,
    "random": _random,
}
# Filter i of a fresh network starts as preset DEFAULT_FILTERS[i % 8]: the lesson's two first.
DEFAULT_FILTERS = (
    "top_edge",
    "left_edge",
    "bottom_edge",
    "right_edge",
    "blur",
    "sharpen",
    "identity",
    "random",
)


def preset(name: str, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A k×k preset kernel by name (``KeyError`` text lists the names)."""
    if name not in KERNEL_PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}")
    if name == "random":
        return _random(k, generator)
    return KERNEL_PRESETS[name](k)


# --- input checking ------------------------------------------------------------------------------
def check_kernel(values: Any, k: int) -> torch.Tensor:
    """``values`` as a k×k float32 tensor, or a ``ValueError`` saying what is wrong with it.

    Refuses text, NaN, infinities and |v| > 1e6 so one typo cannot wipe out every activation.
    """
    if isinstance(values, torch.Tensor):
        arr = values.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(values)
        except (ValueError, TypeError) as e:  # ragged lists
            raise ValueError(f"kernel values must be a {k}×{k} array of numbers ({e})") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"kernel values must be numbers, got {values!r}") from None
    if arr.shape != (k, k):
        raise ValueError(
            f"kernel must be {k}×{k} (the current kernel size), got shape {tuple(arr.shape)}"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("kernel values must be finite numbers (no NaN or infinity)")
    if np.abs(arr).max(initial=0.0) > MAX_ABS_WEIGHT:
        raise ValueError(
            f"kernel values must be between -{MAX_ABS_WEIGHT:g} and {MAX_ABS_WEIGHT:g}"
        )
    return torch.as_tensor(arr, dtype=torch.float32)


def check_value(value: Any) -> float:
    """One kernel value typed or dragged by the learner (text allowed), checked like ``check_kernel``."""
    if isinstance(value, bool):
        raise ValueError(f"a kernel value must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().replace("−", "-")
        try:
            v = float(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a number: type a value such as -1, 0.5 or 2"
            ) from None
    elif isinstance(value, numbers.Real):
        v = float(value)
    else:
        raise ValueError(f"a kernel value must be a number, got {value!r}")
    if not math.isfinite(v):
        raise ValueError(f"a kernel value must be a finite number, got {value!r}")
    if abs(v) > MAX_ABS_WEIGHT:
        raise ValueError(
            f"a kernel value must be between -{MAX_ABS_WEIGHT:g} and {MAX_ABS_WEIGHT:g}, got {value!r}"
        )
    return v


def as_digit_image(x: Any, size: int = INPUT_SIZE) -> np.ndarray:
    """A 2-D array, tensor or PIL image as a ``size``×``size`` float32 image in [0, 1].

    Any H×W is resized (antialiased bilinear); uint8 and 0..255 integers are divided by 255; other
    values outside [0, 1] are rescaled min→0, max→1. Colour PIL images become grayscale.
    """
    if (
        hasattr(x, "convert")
        and hasattr(x, "size")
        and not isinstance(x, np.ndarray | torch.Tensor)
    ):
        arr = np.asarray(x.convert("L"), dtype=np.uint8)  # a PIL image
    elif isinstance(x, torch.Tensor):
        arr = x.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"image must be a 2-D array of numbers ({e})") from None
    expected = f"expected a 2-D grayscale image of shape ({size}, {size}) (any H×W is resized to {size}×{size})"
    if arr.ndim > 2 and all(d == 1 for d in arr.shape[:-2]):
        arr = arr.reshape(arr.shape[-2:])  # (1, H, W) or (1, 1, H, W)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{expected}; got shape {tuple(arr.shape)}")
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.number):
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"image values must be numbers, got dtype {arr.dtype}") from None
    integer = np.issubdtype(arr.dtype, np.integer)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("image values must be finite numbers (no NaN or infinity)")
    lo, hi = float(arr.min()), float(arr.max())
    if integer and lo >= 0 and hi <= 255 and hi > 1:
        arr = arr / 255.0
    elif lo < 0 or hi > 1:
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    t = torch.as_tensor(arr, dtype=torch.float32)
    if t.shape != (size, size):
        t = F.interpolate(
            t[None, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0, 0]
    return t.clamp_(0.0, 1.0).numpy().astype(np.float32)


# --- shapes ---------------------------------------------------------------------------------------
def out_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis: ⌊(n + 2p − k) / s⌋ + 1 (≤ 0: none)."""
    if n + 2 * padding < k:
        return 0
    return (n + 2 * padding - k) // stride + 1


class VanishedStageError(ValueError):
    """A combination of sizes that leaves a stage with no output; the text names the stage."""

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


class StageMeta(NamedTuple):
    """How one stage is computed from the stage before it, for shapes and receptive fields.

    ``kind`` is input, conv, relu, pool, dense or softmax; ``mixes`` says whether each output cell
    reads every channel of the stage before (conv, dense) or only its own (relu, pool).
    """

    kind: str
    shape: tuple[int, ...]  # (C, H, W) for maps, (n,) for dense/output
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    mixes: bool = False
    params: int = 0


class Window(NamedTuple):
    """Cells of one stage a clicked cell depends on: rows r0..r1 and columns c0..c1, inclusive.

    ``channels`` lists the channels involved (``None``: all of them).
    """

    r0: int
    c0: int
    r1: int
    c1: int
    channels: tuple[int, ...] | None = None


# --- the network ------------------------------------------------------------------------------------
class SpreadsheetCNN(nn.Module):
    """The conv-example spreadsheet: conv1 → ReLU → conv2 → ReLU → pool → dense → softmax.

    conv1 has ``n_filters`` single-channel k×k filters (``top_edge`` and ``left_edge`` first); conv2's
    ``conv2_filters`` filters are k×k×``n_filters``, so each combines every conv1 channel. Neither conv
    has a bias, so a filter is exactly the numbers in its editor. ``stride`` and ``padding`` belong to
    conv1 (the layer you edit); conv2 uses the same kernel size and padding with stride 1, so
    "stride-2 conv1, no pooling" and "stride-1 conv1, 2×2 pooling" end at the same size.
    The layers are the truth: the configuration is read back from them, so changing
    ``model.conv1.stride`` in a notebook cell is a real change.
    """

    def __init__(
        self,
        n_filters: int = 2,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 0,
        pool: str = "max",
        pool_size: int = 2,
        conv2_filters: int = 2,
        classes: Sequence[str] = ("3", "7"),
        input_size: int = INPUT_SIZE,
    ):
        super().__init__()
        self.input_size = int(input_size)
        self.classes = tuple(str(c) for c in classes)
        self.conv2_filters = int(conv2_filters)
        # filter_presets[i]: the preset filter i came from (None once edited); _preset_values keeps the
        # preset's numbers so a kernel-size change regenerates untouched presets at the new size.
        self.filter_presets: list[str | None] = []
        self._preset_values: list[torch.Tensor | None] = []
        self.dense_fitted = False  # True after fit_dense, False when the dense layer is rebuilt
        self.conv1 = nn.Conv2d(1, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(1, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.pool: nn.Module = nn.Identity()
        self.dense = nn.Linear(1, len(self.classes))
        self._built = False
        self.configure(
            n_filters=n_filters,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            pool=pool,
            pool_size=pool_size,
        )

    # --- configuration, read from the layers ----------------------------------------------------
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

    def config(self) -> dict[str, Any]:
        """The current settings, as ``configure`` takes them."""
        return {
            "n_filters": self.n_filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "pool": self.pool_type,
            "pool_size": self.pool_size,
        }

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
    ) -> OrderedDict[str, StageMeta]:
        """Every stage's shape and parameter count for a configuration, without building anything.

        Raises ``VanishedStageError`` naming the first stage left with no output.
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
        meta["relu1"] = StageMeta("relu", (n, h1, h1))
        h2 = out_size(h1, k, 1, p)
        if h2 < 1:
            raise VanishedStageError(
                "conv2",
                f"conv2 has no output: its {k}×{k} kernel does not fit conv1's {h1}×{h1} output "
                f"with padding {p}. Use a smaller kernel, more padding or a lower stride.",
            )
        c2 = int(conv2_filters)
        meta["conv2"] = StageMeta("conv", (c2, h2, h2), k, 1, p, True, c2 * n * k * k)
        meta["relu2"] = StageMeta("relu", (c2, h2, h2))
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
        )

    def configure(self, **changes: Any) -> bool:
        """Change sizes (n_filters, kernel_size, stride, padding, pool, pool_size) keeping what still fits.

        Validates first, so a combination that leaves a stage with no output raises
        ``VanishedStageError`` and changes nothing. Kernels that are still untouched presets are
        regenerated at a new size, edited ones are centre-cropped or zero-padded; conv2 keeps the
        channels it had. Returns True when the dense layer had to be rebuilt (it then needs fitting).
        """
        allowed = {"n_filters", "kernel_size", "stride", "padding", "pool", "pool_size"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise TypeError(
                f"configure() got unexpected keyword argument(s) {unknown}; expected {sorted(allowed)}"
            )
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
                self.dense = nn.Linear(features, len(self.classes))
                g = torch.Generator().manual_seed(features)
                bound = 1 / math.sqrt(features)
                self.dense.weight.uniform_(-bound, bound, generator=g)
                self.dense.bias.zero_()
                self.dense_fitted = False
        self._built = True
        return rebuilt

    def _rebuild_conv1(self, n: int, k: int) -> None:
        old = self.conv1.weight.detach().clone() if self._built else None
        old_k = self.kernel_size if self._built else k
        conv = nn.Conv2d(1, n, k, bias=False)
        names: list[str | None] = []
        snaps: list[torch.Tensor | None] = []
        for i in range(n):
            if old is not None and i < old.shape[0]:
                name = self.filter_presets[i]
                untouched = (
                    name is not None
                    and self._preset_values[i] is not None
                    and torch.equal(old[i, 0], self._preset_values[i])
                )
                if old_k == k:
                    w, name = old[i, 0], (name if untouched else None)
                elif untouched:
                    w = preset(name, k, torch.Generator().manual_seed(1000 + i))
                else:
                    w, name = _resize_kernel(old[i, 0], k), None
            else:
                name = DEFAULT_FILTERS[i % len(DEFAULT_FILTERS)]
                w = preset(name, k, torch.Generator().manual_seed(1000 + i))
            conv.weight[i, 0] = w
            names.append(name)
            snaps.append(w.clone() if name is not None else None)
        self.conv1 = conv
        self.filter_presets, self._preset_values = names, snaps

    def _rebuild_conv2(self, n: int, k: int) -> None:
        """Seeded weights in [-0.5, 0.5] (two decimals, readable); channels that survive keep theirs."""
        g = torch.Generator().manual_seed(8 * 100 + n * 10 + k)
        w = torch.round((torch.rand(self.conv2_filters, n, k, k, generator=g) - 0.5) * 100) / 100
        if self._built and self.conv2.weight.shape[2:] == (k, k):
            m = min(n, self.conv2.weight.shape[1])
            w[:, :m] = self.conv2.weight.detach()[:, :m]
        conv = nn.Conv2d(n, self.conv2_filters, k, bias=False)
        conv.weight.copy_(w)
        self.conv2 = conv

    # --- editing layer-1 kernels ------------------------------------------------------------------
    def set_kernel(self, i: int, values: Any) -> None:
        """Replace layer-1 filter ``i`` with k×k ``values`` (checked: finite, |v| ≤ 1e6)."""
        i = self._filter_index(i)
        w = check_kernel(values, self.kernel_size)
        with torch.no_grad():
            self.conv1.weight[i, 0] = w
        self.filter_presets[i] = None
        self._preset_values[i] = None

    def set_kernel_value(self, i: int, row: int, col: int, value: Any) -> float:
        """Change one cell of filter ``i`` (a drag or a typed value); returns the value stored."""
        i = self._filter_index(i)
        k = self.kernel_size
        if not (0 <= int(row) < k and 0 <= int(col) < k):
            raise ValueError(f"cell ({row}, {col}) is outside the {k}×{k} kernel")
        v = check_value(value)
        with torch.no_grad():
            self.conv1.weight[i, 0, int(row), int(col)] = v
        if self.filter_presets[i] is not None and not torch.equal(
            self.conv1.weight[i, 0], self._preset_values[i]
        ):
            self.filter_presets[i] = None
            self._preset_values[i] = None
        return float(self.conv1.weight.detach()[i, 0, int(row), int(col)])

    def apply_preset(self, i: int, name: str, generator: torch.Generator | None = None) -> None:
        """Filter ``i`` becomes preset ``name`` at the current kernel size."""
        i = self._filter_index(i)
        w = preset(name, self.kernel_size, generator)
        with torch.no_grad():
            self.conv1.weight[i, 0] = w
        self.filter_presets[i] = name
        self._preset_values[i] = w.clone()

    def kernel(self, i: int) -> torch.Tensor:
        """Layer-1 filter ``i`` (k×k, detached copy)."""
        return self.conv1.weight[self._filter_index(i), 0].detach().clone()

    def _filter_index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise ValueError(f"filter index must be an integer, got {i!r}")
        if not 0 <= int(i) < self.n_filters:
            raise ValueError(f"filter index must be between 0 and {self.n_filters - 1}, got {i}")
        return int(i)

    # --- forward -------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled conv2 activations, flattened: what the dense layer reads."""
        return self.pool(self.relu(self.conv2(self.relu(self.conv1(_as_batch(x)))))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, one per class."""
        return self.dense(self.features(x))

    def forward_stages(self, x: Any) -> OrderedDict[str, torch.Tensor]:
        """Every stage of the spreadsheet for a batch (N, 1, H, W) or one (H, W) image, in order.

        'conv1' and 'conv2' are before their ReLU; 'pool' equals 'relu2' when pooling is off; 'dense'
        holds the logits and 'output' their softmax.
        """
        x = _as_batch(x)
        with torch.inference_mode(), one_thread(x.shape[0] <= 8):
            out: OrderedDict[str, torch.Tensor] = OrderedDict(input=x)
            out["conv1"] = c1 = self.conv1(x)
            out["relu1"] = r1 = self.relu(c1)
            out["conv2"] = c2 = self.conv2(r1)
            out["relu2"] = r2 = self.relu(c2)
            out["pool"] = p = self.pool(r2)
            out["dense"] = d = self.dense(p.flatten(1))
            out["output"] = d.softmax(1)
        return out

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
        )


def _as_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {v!r}")
    return int(v)


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


def _resize_kernel(w: torch.Tensor, k: int) -> torch.Tensor:
    """Centre-crop or zero-pad an edited kernel to k×k, so a size change keeps what the learner made."""
    old = w.shape[0]
    out = torch.zeros(k, k)
    if k <= old:
        a = (old - k) // 2
        out[:] = w[a : a + k, a : a + k]
    else:
        a = (k - old) // 2
        out[a : a + old, a : a + old] = w
    return out


# --- receptive fields --------------------------------------------------------------------------------
def receptive_field(
    stages_meta: OrderedDict[str, StageMeta], stage: str, r: int, c: int, channel: int | None = None
) -> OrderedDict[str, Window]:
    """The window of every stage, from ``stage`` back to 'input', that cell (r, c) of ``stage`` reads.

    A window in stage s maps to the one before as rows r0·stride − padding … r1·stride − padding + k − 1,
    clipped to the stage (padding cells read nothing). Dense and output cells read everything.
    """
    names = list(stages_meta)
    if stage not in stages_meta:
        raise KeyError(f"unknown stage {stage!r}; stages are {', '.join(names)}")
    meta = stages_meta[stage]
    out: OrderedDict[str, Window] = OrderedDict()
    if len(meta.shape) == 1:  # dense / output: the whole picture
        if not 0 <= c < meta.shape[0] or r != 0:
            raise ValueError(f"{stage} has cells (0, 0..{meta.shape[0] - 1}), got ({r}, {c})")
        out[stage] = Window(0, c, 0, c, None)
        for name in reversed(names[: names.index(stage)]):
            shp = stages_meta[name].shape
            out[name] = (
                Window(0, 0, 0, shp[0] - 1, None)
                if len(shp) == 1
                else Window(0, 0, shp[1] - 1, shp[2] - 1, None)
            )
        return out
    C, H, W = meta.shape
    if not (0 <= r < H and 0 <= c < W):
        raise ValueError(f"{stage} is {H}×{W}; cell ({r}, {c}) is outside it")
    chans: tuple[int, ...] | None = None if channel is None else (int(channel),)
    r0 = r1 = r
    c0 = c1 = c
    out[stage] = Window(r0, c0, r1, c1, chans)
    idx = names.index(stage)
    while idx > 0:
        m = stages_meta[names[idx]]
        prev = names[idx - 1]
        _, ph, pw = stages_meta[prev].shape
        if m.kind in ("conv", "pool") and m.kernel >= 1:
            r0, r1 = r0 * m.stride - m.padding, r1 * m.stride - m.padding + m.kernel - 1
            c0, c1 = c0 * m.stride - m.padding, c1 * m.stride - m.padding + m.kernel - 1
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, ph - 1), min(c1, pw - 1)
        if m.mixes:
            chans = None
        out[prev] = Window(r0, c0, r1, c1, chans)
        idx -= 1
    return out


# --- convolution as matrix multiplication --------------------------------------------------------------
def _as_tensor(a: Any) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"expected numbers, got dtype {arr.dtype}")
    return torch.as_tensor(arr)


def conv_matrix_index(
    h: int, w: int, k: int | tuple[int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Which kernel weight (row-major index a·kw + b) sits at each entry of the unrolled matrix; -1: zero.

    Row i·ow + j of the matrix computes output (i, j); column r·w + c multiplies input pixel (r, c).
    Cells that fall on padding simply have no column, so the matrix acts on the unpadded input.
    """
    kh, kw = (k, k) if isinstance(k, numbers.Integral) else (int(k[0]), int(k[1]))
    oh, ow = out_size(h, kh, stride, padding), out_size(w, kw, stride, padding)
    if oh < 1 or ow < 1:
        raise VanishedStageError(
            "conv", f"a {kh}×{kw} kernel does not fit a {h}×{w} input with padding {padding}"
        )
    i, j, a, b = np.meshgrid(
        np.arange(oh), np.arange(ow), np.arange(kh), np.arange(kw), indexing="ij"
    )
    rr = i * stride - padding + a
    cc = j * stride - padding + b
    ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    idx = np.full((oh * ow, h * w), -1, dtype=np.int64)
    rows = (i * ow + j)[ok]
    idx[rows, (rr * w + cc)[ok]] = (a * kw + b)[ok]
    return idx


def conv_as_matmul(
    x: Any, kernel: Any, stride: int = 1, padding: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One convolution as ``matrix @ flat_input``: returns (matrix, flat_input, output).

    ``matrix`` is (oh·ow, h·w) with each kernel weight tied across rows and zeros elsewhere;
    ``output`` is the product reshaped to (oh, ow) and equals ``F.conv2d(x[None, None], kernel[None, None],
    stride=stride, padding=padding)[0, 0]``.
    """
    return _unroll(x, kernel, stride, padding)[3:]


def _unroll(
    x: Any, kernel: Any, stride: int, padding: int
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``conv_as_matmul``'s work, keeping its by-products: (index, x, kernel, matrix, flat_input, output)."""
    xt, kt = _as_tensor(x), _as_tensor(kernel)
    if xt.ndim != 2 or kt.ndim != 2:
        raise ValueError(
            f"conv_as_matmul needs a 2-D input and a 2-D kernel, got {tuple(xt.shape)} and {tuple(kt.shape)}"
        )
    dtype = torch.float64 if torch.float64 in (xt.dtype, kt.dtype) else torch.float32
    xt, kt = xt.to(dtype), kt.to(dtype)
    s, p = _as_int("stride", stride), _as_int("padding", padding)
    if s < 1 or p < 0:
        raise ValueError(f"stride must be ≥ 1 and padding ≥ 0, got {s} and {p}")
    h, w = xt.shape
    kh, kw = kt.shape
    index = conv_matrix_index(h, w, (kh, kw), s, p)
    flat_k = torch.cat([kt.reshape(-1), torch.zeros(1, dtype=dtype)])
    matrix = flat_k[torch.from_numpy(index)]  # index -1 picks the appended zero
    flat = xt.reshape(-1)
    oh, ow = out_size(h, kh, s, p), out_size(w, kw, s, p)
    return index, xt, kt, matrix, flat, (matrix @ flat).reshape(oh, ow)


class MatmulDemo(NamedTuple):
    """What the lab's "convolution as matrix multiplication" view shows, with torch's answer beside it."""

    index: np.ndarray  # (oh·ow, h·w) kernel-weight index per entry, -1 for a structural zero
    matrix: torch.Tensor  # (oh·ow, h·w)
    flat_input: torch.Tensor  # (h·w,)
    product: torch.Tensor  # (oh·ow,) = matrix @ flat_input
    output: torch.Tensor  # (oh, ow): the product reshaped
    reference: torch.Tensor  # (oh, ow): F.conv2d on the same crop
    max_abs_error: float


def matmul_demo(x: Any, kernel: Any, stride: int = 1, padding: int = 0) -> MatmulDemo:
    """``conv_as_matmul`` plus the ``F.conv2d`` result it must equal, for the lab's check line."""
    index, xt, kt, matrix, flat, output = _unroll(x, kernel, stride, padding)
    ref = F.conv2d(xt[None, None], kt[None, None], stride=stride, padding=padding)[0, 0]
    err = float((output - ref).abs().max()) if output.numel() else 0.0
    return MatmulDemo(index, matrix, flat, output.reshape(-1), output, ref, err)


# --- fitting the dense layer ----------------------------------------------------------------------------
def fit_dense(
    model: SpreadsheetCNN,
    images: Any,
    labels: Any,
    steps: int = 25,
    valid_frac: float = 0.2,
    seed: int = 0,
) -> tuple[float, float]:
    """Fit only the dense layer (logistic regression on the pooled features), conv layers untouched.

    The features are standardised while fitting and the scaling is folded back into the weights, so
    the fit works whatever the kernels' scale. ``labels`` are class names or digits matching
    ``model.classes``. Returns (train accuracy, validation accuracy) on a seeded split.
    """
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if len(x) != len(labels):
        raise ValueError(f"got {len(x)} images but {len(labels)} labels")
    lab = [
        str(int(v)) if isinstance(v, numbers.Integral | np.integer) else str(v)
        for v in np.asarray(labels).tolist()
    ]
    keep = [i for i, v in enumerate(lab) if v in model.classes]
    if len(keep) < 2:
        raise ValueError(f"need images of classes {model.classes} to fit the dense layer")
    y = torch.tensor([model.classes.index(lab[i]) for i in keep])
    x = x[keep]
    with torch.no_grad():
        feats = model.features(x)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    n_valid = int(len(y) * valid_frac)
    tr, va = perm[n_valid:], perm[:n_valid]
    mu = feats[tr].mean(0)
    sd = feats[tr].std(0).clamp_min(1e-6)
    z = (feats - mu) / sd
    lin = nn.Linear(z.shape[1], len(model.classes))
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=steps, line_search_fn="strong_wolfe")
    wd = 1e-2

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lin(z[tr]), y[tr]) + wd * lin.weight.pow(2).sum() / 2
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        w = lin.weight / sd
        model.dense.weight.copy_(w)
        model.dense.bias.copy_(lin.bias - (w * mu).sum(1))
        pred = model.dense(feats).argmax(1)
        train_acc = float((pred[tr] == y[tr]).float().mean())
        valid_acc = float((pred[va] == y[va]).float().mean()) if n_valid else float("nan")
    model.dense_fitted = True
    return train_acc, valid_acc
